/**
 * A process's stdout or stderr: everything it wrote, from byte 0, for every reader.
 * Size and mtime are the output file's, exact, so `tail -f` sees growth. A read at the
 * end of the output of a running process waits — as a promise, not a thread — until
 * more comes or the process ends; at the end of a finished process it returns 0 (EOF).
 * Waiting readers are bounded (EAGAIN past the bound).
 *
 * Opened with O_NONBLOCK, a read at the end of a running process fails with EAGAIN at
 * once instead (`dd iflag=nonblock`). The flags are those of the open: fuse-native does
 * not pass a read its file's current flags, so an fcntl(F_SETFL) after open is not seen.
 *
 * `stdout.now` / `stderr.now` (streamNowFile): the output up to where it was at open,
 * then EOF, whether the process runs or not (`docker logs` without -f).
 */
import { promises as fs, constants as C } from 'node:fs';
import { NotPermitted, TryAgain, interruptible } from '../../errors.js';
import type { Proc, Stream } from '../../core/process.js';
import type { ReaderBudget } from '../../core/budget.js';
import { READ_NOFOLLOW } from '../../util/files.js';
import { S_IFREG, wantsWrite, type FileNode, type Handle } from './types.js';

/** A stream's output file, read-only: its own size and times; `open` gets it opened. */
function outputFile(file: string, open: (fh: fs.FileHandle, flags: number) => Promise<Handle>): FileNode {
  return {
    kind: 'file',
    async getattr() {
      const st = await fs.stat(file);
      return { mode: S_IFREG | 0o444, size: st.size, mtime: st.mtime, ctime: st.ctime, atime: st.atime };
    },
    async open(flags): Promise<Handle> {
      if (wantsWrite(flags)) throw new NotPermitted('read-only file');
      return open(await fs.open(file, READ_NOFOLLOW), flags);
    },
  };
}

export function streamFile(proc: Proc, stream: Stream, budget: ReaderBudget): FileNode {
  return outputFile(proc.paths[stream], async (fh, flags) => {
    const nonblock = (flags & C.O_NONBLOCK) !== 0;
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
          if (nonblock) {
            cancel();
            throw new TryAgain(`no output yet: process ${proc.id} runs`);
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
  });
}

/** `stdout.now`, `stderr.now`: the output as far as it went at open, then EOF; never waits. */
export function streamNowFile(proc: Proc, stream: Stream): FileNode {
  return outputFile(proc.paths[stream], async (fh) => {
    let end: number;
    try {
      end = (await fh.stat()).size;
    } catch (e) {
      await fh.close();
      throw e;
    }
    return {
      async read(buf, len, pos) {
        if (pos >= end) return 0;
        return (await fh.read(buf, 0, Math.min(len, end - pos), pos)).bytesRead;
      },
      async write() {
        throw new NotPermitted('read-only file');
      },
      async release() {
        await fh.close();
      },
    };
  });
}
