/**
 * ctl files. A message is a line, not a write(): the bytes written on one open file are
 * gathered (ctl/lines.ts) and every whole line is carried out in order as it completes;
 * a last line without its newline is carried out at close() (FLUSH, which close() waits
 * for) by a process that wrote some of that line, or by a read on the same open file.
 *
 * The kernel sends FLUSH at every close of a descriptor of the open file, in whichever
 * process holds it: a child forked while a line is being written in several write()s
 * closes its inherited copy at its exec (O_CLOEXEC) or exit, in the middle of the line.
 * Such a FLUSH must not cut the line: each write and each FLUSH carries the FUSE lock
 * owner, the kernel's id of the caller's descriptor table (Owner), and the line is ended
 * only by a FLUSH from a table that wrote some of its bytes (a child that writes is such
 * a writer too; a writer of earlier lines only is not). The set of writers is forgotten
 * whenever the line ends, so an id reused by the kernel for a later process never counts.
 * What is still pending at RELEASE (the last close of the open file) is carried out then;
 * nobody waits for a release, so its errors go to events only. Reads are not asked who
 * reads: a read on the open file completes the line (read-after-write).
 *
 * A write returns when the lines it completed have been carried out; a failure fails
 * that write with the error's errno, and the rest of that write is dropped (up to the
 * next newline, if it ended inside a line). A line longer than 1 MiB is refused whole:
 * EINVAL, `error: message too long …` in events, nothing of it runs; a FLUSH from a
 * table that did not write it leaves it refused up to its newline.
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
import { S_IFREG, wantsWrite, type Caller, type FileNode, type Handle, type Owner } from './types.js';

/** Carries out whole lines; `who` sent them (named in events), when known. */
export type Executor = (text: string, who?: Caller) => Promise<string>;
/** Logs the refusal of a message that is too long (the executor logs every other error). */
export type Refuser = (message: string, who?: Caller) => Promise<void>;

class CtlHandle implements Handle {
  private reply: Buffer | undefined;
  /** File offset just past the last write: a read from there starts at the reply's byte 0. */
  private writeEnd = 0;
  private readonly lines = new LineBuffer();
  /** The descriptor tables that wrote bytes of the open (unterminated) line. */
  private readonly writers = new Set<bigint>();
  /** A writer of the open line came without an owner: any FLUSH ends it (the behaviour without owners). */
  private unknownWriter = false;
  /** Operations on one open file are done one after another (writes, flush, reads). */
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * The last writer (its caller): a line carried out at release, which has no caller of its
   * own (the kernel sends RELEASE without one), or by a read, is named after it.
   */
  private lastWriter: Caller | undefined;
  flush?: (owner?: Owner, caller?: Caller) => Promise<void>;

  constructor(private readonly exec: Executor, private readonly usage: string, private readonly refuse: Refuser, writable: boolean) {
    // Only an open file that can write has a last line to carry out at close(): a read-only
    // open keeps the binding's own answer to FLUSH (docs/fuse.md, "FLUSH only where wanted").
    if (writable) this.flush = (owner, caller) => this.serial(() => (this.wroteOpenLine(owner) ? this.finish(caller) : Promise.resolve()));
  }

  /** A FLUSH from this owner ends the open line: it wrote some of it (or a writer or the FLUSH is unidentified). */
  private wroteOpenLine(owner: Owner): boolean {
    if (!this.lines.open) return false;
    return owner === undefined || this.unknownWriter || this.writers.has(owner);
  }

  /** After a write: the writers of the line still open, if any. */
  private noteWriter(owner: Owner, endedLine: boolean): void {
    if (!this.lines.open || endedLine) this.forgetWriters(); // the line they wrote ended
    if (!this.lines.open) return;
    if (owner === undefined) this.unknownWriter = true;
    else this.writers.add(owner);
  }

  private forgetWriters(): void {
    this.writers.clear();
    this.unknownWriter = false;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined); // the caller gets the failure through `next`; the queue goes on
    return next;
  }

  private async run(text: string, who: Caller | undefined): Promise<void> {
    try {
      this.reply = Buffer.from((await this.exec(text, who)) + '\n');
    } catch (e) {
      this.reply = Buffer.from(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      throw e;
    }
  }

  /** Carry out the unterminated last line, if any; `who` ends it (a closing writer), else its last writer. */
  private async finish(who?: Caller): Promise<void> {
    const last = this.lines.end();
    this.forgetWriters();
    if (last !== undefined) await this.run(last, who?.pid ? who : this.lastWriter);
  }

  read(buf: Buffer, len: number, pos: number): Promise<number> {
    return this.serial(async () => {
      // A reader after a write without a newline wants the reply: the line is complete.
      // Its failure is in events (the executor logs every one) and in the reply read here.
      if (this.lines.pending) await this.finish().catch(() => undefined);
      const content = this.reply ?? Buffer.from(this.usage);
      const base = this.reply && pos >= this.writeEnd ? this.writeEnd : 0;
      const start = pos - base;
      if (start >= content.length) return 0;
      return content.copy(buf, 0, start, Math.min(content.length, start + len));
    });
  }

  write(buf: Buffer, len: number, pos: number, _abort?: AbortSignal, owner?: Owner, caller?: Caller): Promise<number> {
    return this.serial(async () => {
      if (caller) this.lastWriter = caller;
      this.writeEnd = pos + len;
      const piece = buf.subarray(0, len);
      const wasRefusing = this.lines.refusing;
      const endsLine = piece.includes(0x0a);
      const pushed: Pushed = this.lines.push(piece);
      try {
        if (pushed.lines.length > 0) {
          try {
            await this.run(pushed.lines.join('\n'), caller);
          } catch (e) {
            this.lines.abandon(len > 0 && piece[len - 1] !== 0x0a);
            throw e;
          }
        }
        if (pushed.refused) {
          const e = new BadRequest(pushed.refused.message);
          this.reply = Buffer.from(`error: ${e.message}\n`);
          // One events line per refused message, not one per piece of it.
          if (!wasRefusing || pushed.lines.length > 0) await this.refuse(e.message, caller);
          throw e;
        }
        return len;
      } finally {
        this.noteWriter(owner, endsLine);
      }
    });
  }

  async truncate(): Promise<void> {}

  /**
   * The last close of the open file. A line still pending (its writers' FLUSHes never came:
   * a writer whose descriptor table changed at an exec, or a writer without an owner) is
   * carried out now rather than lost. Nobody waits for a release: an error is in events
   * only (the executor logs every failure there).
   */
  release(): Promise<void> {
    return this.serial(() => this.finish().catch(() => undefined)); // in events already (above)
  }
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
