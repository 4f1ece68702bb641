/** The files of procs/ID/ that are not plain text: wait (blocks until the end) and stdin (write-only). */
import { constants as C } from 'node:fs';
import { Denied, NotPermitted, TryAgain, interruptible } from '../../errors.js';
import { statusLine, type Proc } from '../../core/process.js';
import type { ReaderBudget } from '../../core/budget.js';
import { snapshotHandle } from './text.js';
import { S_IFREG, wantsWrite, type FileNode, type Handle } from './types.js';

/** `wait`: a read blocks until the process ends, then returns its status line. */
export function waitFile(proc: Proc, budget: ReaderBudget): FileNode {
  const text = () => statusLine(proc.status) + '\n';
  return {
    kind: 'file',
    async getattr() {
      const now = new Date();
      return { mode: S_IFREG | 0o444, size: proc.running ? 0 : Buffer.byteLength(text()), mtime: now, ctime: now, atime: now };
    },
    async open(flags): Promise<Handle> {
      if (wantsWrite(flags)) throw new NotPermitted('read-only file');
      let snapshot: Handle | undefined;
      const nonblock = (flags & C.O_NONBLOCK) !== 0;
      return {
        async read(buf, len, pos, abort) {
          if (proc.running && nonblock) throw new TryAgain(`process ${proc.id} runs`);
          if (proc.running) await budget.hold(interruptible(proc.ended, abort));
          snapshot ??= snapshotHandle(Buffer.from(text()));
          return snapshot.read(buf, len, pos);
        },
        async write() {
          throw new NotPermitted('read-only file');
        },
        async release() {},
      };
    },
  };
}

/** `stdin`: bytes written are delivered to the process's stdin. */
export function stdinFile(write: (data: Buffer, abort?: AbortSignal) => Promise<number>): FileNode {
  return {
    kind: 'file',
    async getattr() {
      const now = new Date();
      return { mode: S_IFREG | 0o200, size: 0, mtime: now, ctime: now, atime: now };
    },
    async open(flags): Promise<Handle> {
      if (!wantsWrite(flags)) throw new Denied('stdin is write-only');
      return {
        async read() {
          throw new Denied('stdin is write-only');
        },
        async write(buf, len, _pos, abort) {
          return write(Buffer.from(buf.subarray(0, len)), abort);
        },
        async truncate() {},
        async release() {},
      };
    },
    async truncate() {},
  };
}
