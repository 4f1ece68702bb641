/**
 * ctl files. One write() is one message (or several lines, done in order). The write
 * returns when the message has been carried out; a failure fails the write with the
 * error's errno. Reading the same open file afterwards returns the result of the last
 * message (`NAME`, an id, `ok`, or `error: MESSAGE`) — both for a reader that seeks to 0
 * and for one that reads on from where its write ended. Reading an open file that was
 * never written returns a usage text.
 *
 * The size is reported as 0: with direct_io every reader reads to EOF.
 */
import { S_IFREG, type FileNode, type Handle } from './types.js';

export type Executor = (text: string) => Promise<string>;

class CtlHandle implements Handle {
  private reply: Buffer | undefined;
  /** File offset just past the last write: a read from there starts at the reply's byte 0. */
  private writeEnd = 0;

  constructor(private readonly exec: Executor, private readonly usage: string) {}

  async read(buf: Buffer, len: number, pos: number): Promise<number> {
    const content = this.reply ?? Buffer.from(this.usage);
    const base = this.reply && pos >= this.writeEnd ? this.writeEnd : 0;
    const start = pos - base;
    if (start >= content.length) return 0;
    return content.copy(buf, 0, start, Math.min(content.length, start + len));
  }

  async write(buf: Buffer, len: number, pos: number): Promise<number> {
    const text = buf.subarray(0, len).toString('utf8');
    this.writeEnd = pos + len;
    try {
      this.reply = Buffer.from((await this.exec(text)) + '\n');
      return len;
    } catch (e) {
      this.reply = Buffer.from(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      throw e;
    }
  }

  async truncate(): Promise<void> {}
  async release(): Promise<void> {}
}

export function ctlFile(exec: Executor, usage: string): FileNode {
  return {
    kind: 'file',
    async getattr() {
      const now = new Date();
      return { mode: S_IFREG | 0o600, size: 0, mtime: now, ctime: now, atime: now };
    },
    async open() {
      return new CtlHandle(exec, usage);
    },
    async truncate() {},
  };
}
