/**
 * A host directory served as a subtree: a container's rootfs/ (read-write) or an
 * image's rootfs/ (read-only). Paths are relative to the directory.
 *
 * Confinement: every operation goes through the root's RootfsResolver
 * (src/drivers/rootfs/resolver.ts), which resolves paths with openat2(RESOLVE_IN_ROOT)
 * relative to an fd of the root: a symlink anywhere in a path — absolute, climbing, or
 * swapped in during an operation — stays inside the container's root, and a final
 * symlink is never followed. Symlinks are shown to the kernel rewritten so that the
 * kernel, which follows them itself on the mount, stays in the container's view
 * (confine.ts). Each open file is a real fd, handed to the FUSE binding, which does
 * its reads and writes itself (docs/fuse.md, "passthrough handles").
 */
import { constants as C } from 'node:fs';
import { ReadOnly, CrossDevice } from '../../errors.js';
import type { RootfsResolver, RootStat } from '../../drivers/rootfs/resolver.js';
import { wantsWrite, type NativeRoot, type Stat, type StatFs, type Subtree } from './types.js';
import { containedLinkTarget } from './confine.js';

function toStat(st: RootStat): Stat {
  return {
    mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink, ino: st.ino,
    rdev: st.rdev, blksize: st.blksize, blocks: st.blocks, atime: st.atime, mtime: st.mtime, ctime: st.ctime,
  };
}

export class HostDir implements Subtree {
  readonly kind = 'subtree' as const;

  /** `resolver` gives the (cached) resolver of the root; `key` names the tree for same-tree checks. */
  constructor(private readonly resolver: () => Promise<RootfsResolver>, readonly key: string, readonly readOnly: boolean) {}

  private writable(): void {
    if (this.readOnly) throw new ReadOnly('read-only image');
  }

  async getattr(rel: string): Promise<Stat> {
    return toStat(await (await this.resolver()).lstat(rel));
  }

  /** A final symlink is followed inside the root, as opendir(3) does; O_DIRECTORY opens nothing else. */
  async opendir(rel: string): Promise<number> {
    return (await this.resolver()).open(rel, C.O_RDONLY | C.O_DIRECTORY, 0, { follow: true });
  }

  nativeRoot(): Promise<NativeRoot> {
    return this.resolver();
  }

  async open(rel: string, flags: number): Promise<number> {
    if (wantsWrite(flags) || flags & C.O_TRUNC) this.writable();
    // O_NONBLOCK: opening a FIFO must never hold a thread waiting for a peer.
    return (await this.resolver()).open(rel, flags | C.O_NONBLOCK);
  }

  async create(rel: string, mode: number): Promise<number> {
    this.writable();
    return (await this.resolver()).open(rel, C.O_CREAT | C.O_RDWR, mode & 0o7777);
  }

  async truncate(rel: string, size: number): Promise<void> {
    this.writable();
    await (await this.resolver()).truncate(rel, size);
  }

  async unlink(rel: string): Promise<void> {
    this.writable();
    await (await this.resolver()).unlink(rel);
  }

  async mkdir(rel: string, mode: number): Promise<void> {
    this.writable();
    await (await this.resolver()).mkdir(rel, mode & 0o7777);
  }

  async rmdir(rel: string): Promise<void> {
    this.writable();
    await (await this.resolver()).rmdir(rel);
  }

  async rename(from: string, to: string): Promise<void> {
    this.writable();
    await (await this.resolver()).rename(from, to);
  }

  async link(from: string, to: string): Promise<void> {
    this.writable();
    await (await this.resolver()).link(from, to);
  }

  async symlink(target: string, rel: string): Promise<void> {
    this.writable();
    // Stored as given: inside the container it means what the user wrote.
    await (await this.resolver()).symlink(target, rel);
  }

  async readlink(rel: string): Promise<string> {
    return containedLinkTarget(rel, await (await this.resolver()).readlink(rel));
  }

  async chmod(rel: string, mode: number): Promise<void> {
    this.writable();
    await (await this.resolver()).chmod(rel, mode & 0o7777);
  }

  async chown(rel: string, uid: number, gid: number): Promise<void> {
    this.writable();
    await (await this.resolver()).chown(rel, uid, gid);
  }

  async utimens(rel: string, atimeMs: number, mtimeMs: number): Promise<void> {
    this.writable();
    await (await this.resolver()).utimens(rel, atimeMs, mtimeMs);
  }

  async statfs(rel: string): Promise<StatFs> {
    const s = await (await this.resolver()).statfs(rel);
    return {
      bsize: s.bsize, frsize: s.frsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
      files: s.files, ffree: s.ffree, favail: s.ffree, fsid: 0, flag: this.readOnly ? 1 : 0, namemax: s.namemax,
    };
  }

  async mknod(rel: string, mode: number, dev: number): Promise<void> {
    this.writable();
    await (await this.resolver()).mknod(rel, mode, dev);
  }

  async getxattr(rel: string, name: string): Promise<Buffer> {
    return (await this.resolver()).getxattr(rel, name);
  }

  async listxattr(rel: string): Promise<string[]> {
    return (await this.resolver()).listxattr(rel);
  }

  async setxattr(rel: string, name: string, value: Buffer, flags: number): Promise<void> {
    this.writable();
    // The addon copies the value before leaving the JS thread: the binding's buffer is
    // libfuse's, valid only until this request is answered.
    await (await this.resolver()).setxattr(rel, name, value, flags);
  }

  async removexattr(rel: string, name: string): Promise<void> {
    this.writable();
    await (await this.resolver()).removexattr(rel, name);
  }

  /** rename and link work within one tree only. */
  same(other: Subtree): void {
    if (!(other instanceof HostDir) || other.key !== this.key) throw new CrossDevice('cannot move across containers or images');
  }
}
