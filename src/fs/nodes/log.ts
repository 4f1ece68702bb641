/**
 * An append-only log kept in a host file of the state dir (events). Size and mtime are
 * the file's, so `tail -f` sees it grow; reads at the end return EOF at once (the log
 * has no end to wait for).
 *
 * The log is trimmed by replacing the file (core/events.ts): each read checks that the
 * open file is still the one of that name and opens the new one if not, so a reader that
 * saw the size shrink (`tail -f`: "file truncated") reads the new content, never the old.
 */
import { promises as fs } from 'node:fs';
import { NotPermitted } from '../../errors.js';
import { isErrno, APPEND_NOFOLLOW, READ_NOFOLLOW } from '../../util/files.js';
import { S_IFREG, wantsWrite, type FileNode, type Handle } from './types.js';

export function logFile(file: string): FileNode {
  return {
    kind: 'file',
    async getattr() {
      try {
        const st = await fs.stat(file);
        return { mode: S_IFREG | 0o444, size: st.size, mtime: st.mtime, ctime: st.ctime, atime: st.atime };
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
        const now = new Date();
        return { mode: S_IFREG | 0o444, size: 0, mtime: now, ctime: now, atime: now };
      }
    },
    async open(flags): Promise<Handle> {
      if (wantsWrite(flags)) throw new NotPermitted('read-only file');
      await fs.appendFile(file, '', { flag: APPEND_NOFOLLOW }); // exists from now on
      let fh = await fs.open(file, READ_NOFOLLOW);
      let ino = (await fh.stat()).ino;
      /** Files replaced under this open file: closed at release, as a concurrent read may still use one. */
      const retired: fs.FileHandle[] = [];
      return {
        async read(buf, len, pos) {
          const now = await fs.stat(file).catch(() => undefined); // not there this instant: read on from the open file
          if (now && now.ino !== ino) {
            const next = await fs.open(file, READ_NOFOLLOW);
            const nextIno = (await next.stat()).ino;
            retired.push(fh);
            fh = next;
            ino = nextIno;
          }
          return (await fh.read(buf, 0, len, pos)).bytesRead;
        },
        async write() {
          throw new NotPermitted('read-only file');
        },
        async release() {
          await Promise.all([fh, ...retired].map((h) => h.close().catch(() => undefined))); // a failed close of a read-only fd loses nothing
        },
      };
    },
  };
}
