/**
 * ctl files. A message is a line, not a write(): the bytes written on one open file are
 * gathered (ctl/lines.ts) and every whole line is carried out in order as it completes;
 * a last line without its newline is carried out at close() (FLUSH, which close() waits
 * for), or by a read on the same open file. A write returns when the lines it completed
 * have been carried out; a failure fails that write with the error's errno, and the rest
 * of that write is dropped (up to the next newline, if it ended inside a line). A line
 * longer than 1 MiB is refused whole: EINVAL, `error: message too long …` in events,
 * nothing of it runs.
 *
 * Reading the same open file afterwards returns the result of the last message (`NAME`,
 * an id, `ok`, or `error: MESSAGE`) — both for a reader that seeks to 0 and for one that
 * reads on from where its write ended. Reading an open file that was never written
 * returns a usage text. The size is reported as 0: with direct_io every reader reads to EOF.
 *
 * The buffer lives in the handle, which is per open file and outlives every lookup of the
 * node; the adapter keeps it until release.
 */
import { LineBuffer, type Pushed } from '../../ctl/lines.js';
import { BadRequest } from '../../errors.js';
import { S_IFREG, wantsWrite, type FileNode, type Handle } from './types.js';

export type Executor = (text: string) => Promise<string>;
/** Logs the refusal of a message that is too long (the executor logs every other error). */
export type Refuser = (message: string) => Promise<void>;

class CtlHandle implements Handle {
  private reply: Buffer | undefined;
  /** File offset just past the last write: a read from there starts at the reply's byte 0. */
  private writeEnd = 0;
  private readonly lines = new LineBuffer();
  /** Operations on one open file are done one after another (writes, flush, reads). */
  private queue: Promise<unknown> = Promise.resolve();
  flush?: () => Promise<void>;

  constructor(private readonly exec: Executor, private readonly usage: string, private readonly refuse: Refuser, writable: boolean) {
    // Only an open file that can write has a last line to carry out at close(): a read-only
    // open keeps the binding's own answer to FLUSH (docs/fuse.md, "FLUSH only where wanted").
    if (writable) this.flush = () => this.serial(() => this.finish());
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async run(text: string): Promise<void> {
    try {
      this.reply = Buffer.from((await this.exec(text)) + '\n');
    } catch (e) {
      this.reply = Buffer.from(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      throw e;
    }
  }

  /** Carry out the unterminated last line, if any. */
  private async finish(): Promise<void> {
    const last = this.lines.end();
    if (last !== undefined) await this.run(last);
  }

  read(buf: Buffer, len: number, pos: number): Promise<number> {
    return this.serial(async () => {
      // A reader after a write without a newline wants the reply: the line is complete.
      if (this.lines.pending) await this.finish().catch(() => undefined);
      const content = this.reply ?? Buffer.from(this.usage);
      const base = this.reply && pos >= this.writeEnd ? this.writeEnd : 0;
      const start = pos - base;
      if (start >= content.length) return 0;
      return content.copy(buf, 0, start, Math.min(content.length, start + len));
    });
  }

  write(buf: Buffer, len: number, pos: number): Promise<number> {
    return this.serial(async () => {
      this.writeEnd = pos + len;
      const piece = buf.subarray(0, len);
      const wasRefusing = this.lines.refusing;
      const pushed: Pushed = this.lines.push(piece);
      if (pushed.lines.length > 0) {
        try {
          await this.run(pushed.lines.join('\n'));
        } catch (e) {
          this.lines.abandon(len > 0 && piece[len - 1] !== 0x0a);
          throw e;
        }
      }
      if (pushed.refused) {
        const e = new BadRequest(pushed.refused.message);
        this.reply = Buffer.from(`error: ${e.message}\n`);
        // One events line per refused message, not one per piece of it.
        if (!wasRefusing || pushed.lines.length > 0) await this.refuse(e.message);
        throw e;
      }
      return len;
    });
  }

  async truncate(): Promise<void> {}
  async release(): Promise<void> {}
}

export function ctlFile(exec: Executor, usage: string, refuse: Refuser): FileNode {
  return {
    kind: 'file',
    async getattr() {
      const now = new Date();
      return { mode: S_IFREG | 0o600, size: 0, mtime: now, ctime: now, atime: now };
    },
    async open(flags) {
      return new CtlHandle(exec, usage, refuse, wantsWrite(flags));
    },
    async truncate() {},
  };
}
