/**
 * A process's stdout or stderr: everything it wrote, from byte 0, for every reader.
 * Size and mtime are the output file's, exact, so `tail -f` sees growth. A read at the
 * end of the output of a running process waits — as a promise, not a thread — until
 * more comes or the process ends; at the end of a finished process it returns 0 (EOF).
 * Waiting readers are bounded (EAGAIN past the bound).
 */
import { promises as fs } from 'node:fs';
import { NotPermitted, interruptible } from '../../errors.js';
import type { Proc, Stream } from '../../core/process.js';
import type { ReaderBudget } from '../../core/budget.js';
import { READ_NOFOLLOW } from '../../util/files.js';
import { S_IFREG, wantsWrite, type FileNode, type Handle } from './types.js';

export function streamFile(proc: Proc, stream: Stream, budget: ReaderBudget): FileNode {
  const file = proc.paths[stream];
  return {
    kind: 'file',
    async getattr() {
      const st = await fs.stat(file);
      return { mode: S_IFREG | 0o444, size: st.size, mtime: st.mtime, ctime: st.ctime, atime: st.atime };
    },
    async open(flags): Promise<Handle> {
      if (wantsWrite(flags)) throw new NotPermitted('read-only file');
      const fh = await fs.open(file, READ_NOFOLLOW);
      return {
        async read(buf, len, pos, abort) {
          for (;;) {
            const wasRunning = proc.running;
            const { changed, cancel } = proc.nextChange(stream);
            const n = (await fh.read(buf, 0, len, pos)).bytesRead;
            if (n > 0 || !wasRunning) {
              cancel();
              return n;
            }
            try {
              await budget.hold(interruptible(changed, abort));
            } finally {
              cancel();
            }
          }
        },
        async write() {
          throw new NotPermitted('read-only file');
        },
        async release() {
          await fh.close();
        },
      };
    },
  };
}
