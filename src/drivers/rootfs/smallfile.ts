/**
 * Reading a small configuration file of a container (its /etc/passwd, /etc/group) as the
 * daemon must: the container owns the file and may have made it anything. The path is
 * resolved inside the container's root (a symlink to /etc/shadow of the host is the
 * container's /etc/shadow); the file is opened O_PATH first, so that a FIFO or a device
 * is never opened for reading, and only a regular file is read, up to a bound.
 */
import { promises as fs, constants as C, close, fstat } from 'node:fs';
import { promisify } from 'node:util';
import { addon } from './addon.js';
import type { RootfsResolver } from './resolver.js';
import { isErrno } from '../../util/files.js';

export class NotRegular extends Error {}
export class TooLarge extends Error {}

/**
 * The content of `rel` (relative to the root; a final symlink is followed inside it), or
 * undefined when there is no such file. Throws NotRegular (FIFO, directory, device …) or
 * TooLarge (more than `max` bytes).
 */
export async function readSmallFile(root: RootfsResolver, rel: string, max: number): Promise<Buffer | undefined> {
  let pathFd: number;
  try {
    pathFd = await root.open(rel.replace(/^\/+/, ''), addon().O_PATH, 0, { follow: true });
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined;
    throw e;
  }
  let fh: fs.FileHandle | undefined;
  try {
    const st = await promisify(fstat)(pathFd);
    if (!st.isFile()) throw new NotRegular('not a regular file');
    if (st.size > max) throw new TooLarge(`larger than ${max} bytes`);
    // Opened through the O_PATH fd: the same inode, with no second path walk to race.
    fh = await fs.open(`/proc/self/fd/${pathFd}`, C.O_RDONLY | C.O_NONBLOCK | C.O_NOCTTY);
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > max) throw new TooLarge(`larger than ${max} bytes`); // it grew meanwhile
    }
    return buf.subarray(0, n);
  } finally {
    await fh?.close();
    await promisify(close)(pathFd).catch(() => undefined); // an O_PATH fd: a failed close loses nothing
  }
}
