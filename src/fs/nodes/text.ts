/**
 * Generated text files (status, cmdline …). getattr reports the exact size of the
 * content as it is now: the kernel and readers such as Node's readFile and `cp` trust
 * it. open takes a snapshot, and every read of that open file is served from it, so a
 * reader never sees two versions mixed.
 */
import { NotPermitted } from '../../errors.js';
import { S_IFREG, wantsWrite, type FileNode, type Handle } from './types.js';

export function snapshotHandle(content: Buffer): Handle {
  return {
    content,
    async read(buf, len, pos) {
      if (pos >= content.length) return 0;
      return content.copy(buf, 0, pos, Math.min(content.length, pos + len));
    },
    async write() {
      throw new NotPermitted('read-only file');
    },
    async release() {},
  };
}

/**
 * `sizeAtStat: false`: getattr reports size 0 without generating (as /proc files do), for a
 * text that is costly to make (`metrics`): every reader reads to EOF (direct I/O), and a
 * `cat` would otherwise make it twice, at its stat and at its open.
 */
export function textFile(generate: () => string | Promise<string>, opts: { sizeAtStat?: boolean } = {}): FileNode {
  return {
    kind: 'file',
    async getattr() {
      const size = opts.sizeAtStat === false ? 0 : Buffer.byteLength(await generate());
      const now = new Date();
      return { mode: S_IFREG | 0o444, size, mtime: now, ctime: now, atime: now };
    },
    async open(flags) {
      if (wantsWrite(flags)) throw new NotPermitted('read-only file');
      return snapshotHandle(Buffer.from(await generate()));
    },
  };
}
