/**
 * An append-only log kept in a host file of the state dir (events). Size and mtime are
 * the file's, so `tail -f` sees it grow; reads at the end return EOF at once (the log
 * has no end to wait for).
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
      const fh = await fs.open(file, READ_NOFOLLOW);
      return {
        async read(buf, len, pos) {
          return (await fh.read(buf, 0, len, pos)).bytesRead;
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
