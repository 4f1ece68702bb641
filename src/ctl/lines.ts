/**
 * A ctl message is a line, not a write(). The kernel splits one write() at max_write
 * (128 KiB) and shells flush a long line in pieces (bash: 8 KiB), so the bytes of one
 * open file are gathered here and only whole lines come out. A line longer than the
 * bound is refused whole: nothing of it ever comes out, up to and including its newline.
 * Pure: imports nothing of the project.
 */

/** The longest message, in bytes, without its newline. */
export const MAX_MESSAGE = 1024 * 1024;

export class MessageTooLong extends Error {}

export interface Pushed {
  /** The lines completed by this piece, in order, without their newline (blank ones too). */
  lines: string[];
  /** Set when this piece belongs to a refused (too long) line; `lines` then holds what completed before it. */
  refused?: MessageTooLong;
}

const NL = 0x0a;

export class LineBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Inside a refused (or abandoned) line: everything up to the next newline is dropped. */
  private skipping: false | 'refused' | 'abandoned' = false;

  constructor(readonly max = MAX_MESSAGE) {}

  /** Bytes of an unterminated line are waiting (the message a flush would carry out). */
  get pending(): boolean {
    return this.size > 0 && !this.skipping;
  }

  /** A line has begun and its newline has not come: bytes pending, or a refused or abandoned line being dropped. */
  get open(): boolean {
    return this.size > 0 || this.skipping !== false;
  }

  /** Inside a refused line (its newline has not come yet). */
  get refusing(): boolean {
    return this.skipping === 'refused';
  }

  private tooLong(): MessageTooLong {
    return new MessageTooLong(`message too long: more than ${this.max} bytes in one line`);
  }

  push(piece: Buffer): Pushed {
    const lines: string[] = [];
    let refused: MessageTooLong | undefined;
    let start = 0;
    while (start < piece.length) {
      const nl = piece.indexOf(NL, start);
      const end = nl < 0 ? piece.length : nl;
      const part = piece.subarray(start, end);
      if (this.skipping === 'refused') {
        refused ??= this.tooLong();
      } else if (this.skipping) {
        // the rest of an abandoned line: dropped without a word
      } else if (this.size + part.length > this.max) {
        refused ??= this.tooLong();
        this.drop();
        this.skipping = 'refused';
      } else if (part.length > 0) {
        this.chunks.push(Buffer.from(part)); // the caller's buffer is reused by the binding
        this.size += part.length;
      }
      if (nl < 0) break;
      if (this.skipping) this.skipping = false; // the refused line ends here
      else lines.push(this.take());
      start = nl + 1;
    }
    return refused ? { lines, refused } : { lines };
  }

  /** The unterminated line, taken out (at flush or close), or undefined when there is none. */
  end(): string | undefined {
    if (this.skipping) {
      this.skipping = false;
      this.drop();
      return undefined;
    }
    if (this.size === 0) return undefined;
    return this.take();
  }

  /**
   * Forget the rest of the current line: after a failed message the rest of that write
   * is dropped, and when it ended inside a line, so is that line up to its newline (its
   * tail must never be read as a message of its own).
   */
  abandon(endsInsideLine: boolean): void {
    this.drop();
    this.skipping = endsInsideLine ? 'abandoned' : false;
  }

  private take(): string {
    const text = Buffer.concat(this.chunks, this.size).toString('utf8');
    this.drop();
    return text;
  }

  private drop(): void {
    this.chunks = [];
    this.size = 0;
  }
}
