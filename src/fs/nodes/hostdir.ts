/**
 * A host directory served as a subtree: a container's rootfs/ (read-write) or an
 * image's rootfs/ (read-only). Paths are relative to the directory.
 *
 * Confinement: every operation goes through the root's ConfinedRoot (src/model/rootfs.ts),
 * which the driver src/drivers/rootfs/resolver.ts does: it resolves paths with openat2(RESOLVE_IN_ROOT)
 * relative to an fd of the root: a symlink anywhere in a path — absolute, climbing, or
 * swapped in during an operation — stays inside the container's root, and a final
 * symlink is never followed. Symlinks are shown to the kernel rewritten so that the
 * kernel, which follows them itself on the mount, stays in the container's view
 * (confine.ts). Each open file is a real fd, handed to the FUSE binding, which does
 * its reads and writes itself (docs/fuse.md, "passthrough handles").
 */
import { constants as C, fstat, fchown } from 'node:fs';
import { promisify } from 'node:util';
import { ReadOnly, CrossDevice } from '../../errors.js';
import type { ConfinedRoot, RootStat, TimeSpec } from '../../model/rootfs.js';
import { wantsWrite, type NativeRoot, type Stat, type StatFs, type Subtree } from './types.js';
import { containedLinkTarget } from './confine.js';
import type { IdShift } from './idshift.js';
import { treeIno } from '../ino.js';

/**
 * The group a file made by host root should get in a container: the container root's, unless
 * the kernel gave it the group of a setgid directory (any gid but host root's 0 comes from
 * there), which stays, as when the container's root makes it inside (-1: unchanged).
 */
function newGroup(gid: number, root: number): number {
  return gid === 0 ? root : -1;
}

/**
 * A file the create made (host root owns it: nothing of the container's does) goes to the
 * container's root; an existing file the open raced into stays as it is. On the fd: no path.
 */
async function ownNew(fd: number, root: number): Promise<void> {
  const st = await promisify(fstat)(fd);
  if (st.uid === 0) await promisify(fchown)(fd, root, newGroup(st.gid, root));
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** A stat as the tree shows it: the real inode number tagged with its device (src/fs/ino.ts),
 *  times to the nanosecond. */
function toStat(st: RootStat): Stat {
  return {
    mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink, ino: treeIno(st.dev, st.inoBig),
    rdev: st.rdev, blksize: st.blksize, blocks: st.blocks, atime: st.atime, mtime: st.mtime, ctime: st.ctime,
    atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs,
  };
}

export class HostDir implements Subtree {
  readonly kind = 'subtree' as const;

  /**
   * `resolver` gives the (cached) resolver of the root; `key` names the tree for same-tree
   * checks; `ids`: the container's user namespace, whose view of owners is shown (idshift.ts).
   */
  constructor(private readonly resolver: () => Promise<ConfinedRoot>, readonly key: string, readonly readOnly: boolean, readonly ids?: IdShift) {}

  /** What the host made through the tree belongs to the container's root (its group kept when a setgid directory gave it one). */
  private async own(rel: string): Promise<void> {
    if (!this.ids) return;
    const r = await this.resolver();
    const st = await r.lstat(rel);
    await r.chown(rel, this.ids.root, newGroup(st.gid, this.ids.root));
  }

  private writable(): void {
    if (this.readOnly) throw new ReadOnly('read-only image');
  }

  async getattr(rel: string): Promise<Stat> {
    const st = await (await this.resolver()).lstat(rel);
    const out = toStat(st);
    // A symlink's size is the length of the text readlink presents (issue 20.8).
    // (When it cannot be presented, readlink fails and the stored length stays.)
    if ((st.mode & S_IFMT) === S_IFLNK) out.size = await this.readlink(rel).then((t) => Buffer.byteLength(t), () => st.size);
    if (this.ids) {
      out.uid = this.ids.toContainer(out.uid ?? 0);
      out.gid = this.ids.toContainer(out.gid ?? 0);
    }
    return out;
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
    const fd = await (await this.resolver()).open(rel, C.O_CREAT | C.O_RDWR, mode & 0o7777);
    if (this.ids) await ownNew(fd, this.ids.root);
    return fd;
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
    await this.own(rel);
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
    await this.own(rel);
  }

  /** The link's target as the host kernel must see it: it leads inside the root or nowhere (confine.ts). */
  async readlink(rel: string): Promise<string> {
    const r = await this.resolver();
    return containedLinkTarget(rel, await r.readlink(rel), (parts) => r.resolve(parts));
  }

  async chmod(rel: string, mode: number): Promise<void> {
    this.writable();
    await (await this.resolver()).chmod(rel, mode & 0o7777);
  }

  /** The kernel's answer, as for the overlay (as root: X_OK needs an exec bit on a file). */
  async access(rel: string, mode: number): Promise<void> {
    if (mode & C.W_OK) this.writable();
    await (await this.resolver()).access(rel, mode);
  }

  async chown(rel: string, uid: number, gid: number): Promise<void> {
    this.writable();
    // libfuse passes "unchanged" as (uid_t)-1, 4294967295 (chown -1 4, chgrp): the addon takes -1
    const keep = (id: number) => (id === 0xffffffff ? -1 : id);
    [uid, gid] = [keep(uid), keep(gid)];
    if (this.ids) [uid, gid] = [this.ids.toHost(uid), this.ids.toHost(gid)];
    await (await this.resolver()).chown(rel, uid, gid);
  }

  async utimens(rel: string, atime: TimeSpec, mtime: TimeSpec): Promise<void> {
    this.writable();
    await (await this.resolver()).utimens(rel, atime, mtime);
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
    await this.own(rel);
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
