/**
 * One-value control files (cgroup/*): the content is read from the kernel at getattr
 * (exact size) and at open (snapshot); each write() is one whole value, like sysfs.
 * Without a writer the file is read-only.
 */
import { NotPermitted } from '../../errors.js';
import { snapshotHandle } from './text.js';
import { S_IFREG, wantsWrite, type FileNode, type Handle } from './types.js';

export function valueFile(read: () => Promise<string>, write?: (text: string) => Promise<void>): FileNode {
  const mode = write ? 0o644 : 0o444;
  return {
    kind: 'file',
    async getattr() {
      const size = Buffer.byteLength(await read());
      const now = new Date();
      return { mode: S_IFREG | mode, size, mtime: now, ctime: now, atime: now };
    },
    async open(flags): Promise<Handle> {
      if (wantsWrite(flags) && !write) throw new NotPermitted('read-only file');
      // A write-only open (echo > file) does not read the kernel's value at all; a
      // read-only one is a plain snapshot (served by the binding).
      if ((flags & 3) === 0) return snapshotHandle(Buffer.from(await read()));
      const snapshot = (flags & 3) === 1 ? undefined : snapshotHandle(Buffer.from(await read()));
      return {
        read: async (buf, len, pos) => (snapshot ? snapshot.read(buf, len, pos) : 0),
        async write(buf, len) {
          if (!write) throw new NotPermitted('read-only file');
          await write(buf.subarray(0, len).toString('utf8'));
          return len;
        },
        async truncate() {},
        async release() {},
      };
    },
    truncate: write ? async () => undefined : undefined,
  };
}
