/**
 * A host directory served as a subtree: a container's rootfs/ (read-write) or an
 * image's rootfs/ (read-only). Paths are relative to the directory.
 *
 * Confinement (first version; the rootfs issue replaces the resolver with one based on
 * openat2(RESOLVE_IN_ROOT)): the daemon never follows a symlink on the host side — every
 * component before the last is checked not to be a symlink, and the last is opened with
 * O_NOFOLLOW or handled with the l* calls. Symlinks are shown to the kernel rewritten as
 * relative links that stay inside the container's root (see confine.ts), so the kernel,
 * which follows them itself on the mount, never leaves the container's view.
 */
import { promises as fs, constants as C } from 'node:fs';
import path from 'node:path';
import { ReadOnly, CrossDevice } from '../../errors.js';
import { wantsWrite, type Handle, type Stat, type StatFs, type Subtree } from './types.js';
import { containedLinkTarget, splitRel } from './confine.js';

function toStat(st: import('node:fs').BigIntStats | import('node:fs').Stats): Stat {
  return {
    mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size),
    nlink: Number(st.nlink), ino: Number(st.ino), rdev: Number(st.rdev), blksize: Number(st.blksize),
    blocks: Number(st.blocks), atime: st.atime, mtime: st.mtime, ctime: st.ctime,
  };
}

function fdHandle(fh: fs.FileHandle): Handle {
  return {
    async read(buf, len, pos) {
      return (await fh.read(buf, 0, len, pos)).bytesRead;
    },
    async write(buf, len, pos) {
      return (await fh.write(buf, 0, len, pos)).bytesWritten;
    },
    async truncate(size) {
      await fh.truncate(size);
    },
    async fsync() {
      await fh.sync();
    },
    async release() {
      await fh.close();
    },
  };
}

export class HostDir implements Subtree {
  readonly kind = 'subtree' as const;

  constructor(readonly root: string, readonly readOnly: boolean) {}

  /** The host path of `rel`, after checking that no component before the last is a symlink. */
  private async host(rel: string): Promise<string> {
    const parts = splitRel(rel);
    let p = this.root;
    for (let i = 0; i < parts.length; i++) {
      p = path.join(p, parts[i]!);
      if (i < parts.length - 1) {
        const st = await fs.lstat(p);
        if (st.isSymbolicLink()) throw Object.assign(new Error('symlink in path'), { code: 'ELOOP' });
      }
    }
    return p;
  }

  private writable(): void {
    if (this.readOnly) throw new ReadOnly('read-only image');
  }

  /** Open without following a final symlink, for the f* calls. */
  private async withFd<T>(rel: string, fn: (fh: fs.FileHandle) => Promise<T>): Promise<T> {
    const fh = await fs.open(await this.host(rel), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    try {
      return await fn(fh);
    } finally {
      await fh.close();
    }
  }

  async getattr(rel: string): Promise<Stat> {
    return toStat(await fs.lstat(await this.host(rel)));
  }

  async readdir(rel: string): Promise<string[]> {
    return fs.readdir(await this.host(rel));
  }

  async open(rel: string, flags: number): Promise<Handle> {
    if (wantsWrite(flags) || flags & C.O_TRUNC) this.writable();
    return fdHandle(await fs.open(await this.host(rel), flags | C.O_NOFOLLOW));
  }

  async create(rel: string, mode: number): Promise<Handle> {
    this.writable();
    return fdHandle(await fs.open(await this.host(rel), C.O_CREAT | C.O_RDWR | C.O_NOFOLLOW, mode & 0o7777));
  }

  async truncate(rel: string, size: number): Promise<void> {
    this.writable();
    const fh = await fs.open(await this.host(rel), C.O_WRONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    try {
      await fh.truncate(size);
    } finally {
      await fh.close();
    }
  }

  async unlink(rel: string): Promise<void> {
    this.writable();
    await fs.unlink(await this.host(rel));
  }

  async mkdir(rel: string, mode: number): Promise<void> {
    this.writable();
    await fs.mkdir(await this.host(rel), { mode: mode & 0o7777 });
  }

  async rmdir(rel: string): Promise<void> {
    this.writable();
    await fs.rmdir(await this.host(rel));
  }

  async rename(from: string, to: string): Promise<void> {
    this.writable();
    await fs.rename(await this.host(from), await this.host(to));
  }

  async link(from: string, to: string): Promise<void> {
    this.writable();
    await fs.link(await this.host(from), await this.host(to));
  }

  async symlink(target: string, rel: string): Promise<void> {
    this.writable();
    // Stored as given: inside the container it means what the user wrote.
    await fs.symlink(target, await this.host(rel));
  }

  async readlink(rel: string): Promise<string> {
    const target = await fs.readlink(await this.host(rel));
    return containedLinkTarget(rel, target);
  }

  async chmod(rel: string, mode: number): Promise<void> {
    this.writable();
    await this.withFd(rel, (fh) => fh.chmod(mode & 0o7777));
  }

  async chown(rel: string, uid: number, gid: number): Promise<void> {
    this.writable();
    await fs.lchown(await this.host(rel), uid, gid);
  }

  async utimens(rel: string, atimeMs: number, mtimeMs: number): Promise<void> {
    this.writable();
    await fs.lutimes(await this.host(rel), atimeMs / 1000, mtimeMs / 1000);
  }

  async statfs(rel: string): Promise<StatFs> {
    const s = await fs.statfs(await this.host(rel));
    return {
      bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
      files: s.files, ffree: s.ffree, favail: s.ffree, fsid: 0, flag: this.readOnly ? 1 : 0, namemax: 255,
    };
  }

  /** rename and link work within one tree only. */
  same(other: Subtree): void {
    if (!(other instanceof HostDir) || other.root !== this.root) throw new CrossDevice('cannot move across containers or images');
  }
}
