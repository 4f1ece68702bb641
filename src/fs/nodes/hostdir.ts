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
import { wantsWrite, type NativeRoot, type Stat, type StatFs, type Subtree, type Used } from './types.js';
import { containedLinkTarget } from './confine.js';
import type { IdShift } from './idshift.js';
import { actsAsDaemon, needsView, type Caller } from '../../model/caller.js';
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

export interface HostDirOptions {
  /** The container's user namespace, whose view of owners is shown and taken (idshift.ts). */
  ids?: IdShift;
  /** The host id that owns what root makes through the tree (the container's root); none: root keeps it. */
  owner?: number;
}

export class HostDir implements Subtree {
  readonly kind = 'subtree' as const;
  /** A container's root: requests below it are uses of the container (its grace clock). */
  use?: Used;
  readonly ids?: IdShift;
  readonly owner?: number;

  /**
   * `resolver` gives the (cached) resolver of the root; `key` names the tree for same-tree
   * checks; `caller`: a view of the tree whose every operation is that caller's (as()).
   */
  constructor(private readonly resolver: () => Promise<ConfinedRoot>, readonly key: string, readonly readOnly: boolean, private readonly opts: HostDirOptions = {}, private readonly caller?: Caller) {
    this.ids = opts.ids;
    this.owner = opts.owner ?? opts.ids?.root;
  }

  /**
   * The same tree for one request's caller: a non-root caller's operations are done with its
   * credentials (docs/rootfs.md, "Callers"), and what it makes is its own, as on the overlay.
   */
  as(caller: Caller | undefined): Subtree {
    if (!needsView(caller)) return this;
    return new HostDir(this.resolver, this.key, this.readOnly, this.opts, caller);
  }

  /** The root, acting as this view's caller. */
  private async root(): Promise<ConfinedRoot> {
    return (await this.resolver()).as(this.caller);
  }

  /** What root made through the tree belongs to the container's root; a caller's own is its own. */
  private async own(rel: string): Promise<void> {
    if (this.owner === undefined || !actsAsDaemon(this.caller)) return;
    const r = await this.resolver();
    const st = await r.lstat(rel);
    await r.chown(rel, this.owner, newGroup(st.gid, this.owner)); // a setgid directory's group stays
  }

  private writable(): void {
    if (this.readOnly) throw new ReadOnly('read-only image');
  }

  async getattr(rel: string): Promise<Stat> {
    const st = await (await this.root()).lstat(rel);
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
    return (await this.root()).open(rel, C.O_RDONLY | C.O_DIRECTORY, 0, { follow: true });
  }

  nativeRoot(): Promise<NativeRoot> {
    return this.resolver();
  }

  async open(rel: string, flags: number): Promise<number> {
    if (wantsWrite(flags) || flags & C.O_TRUNC) this.writable();
    // O_NONBLOCK: opening a FIFO must never hold a thread waiting for a peer.
    return (await this.root()).open(rel, flags | C.O_NONBLOCK);
  }

  async create(rel: string, mode: number): Promise<number> {
    this.writable();
    const fd = await (await this.root()).open(rel, C.O_CREAT | C.O_RDWR, mode & 0o7777);
    if (this.owner !== undefined && actsAsDaemon(this.caller)) await ownNew(fd, this.owner);
    return fd;
  }

  async truncate(rel: string, size: number): Promise<void> {
    this.writable();
    await (await this.root()).truncate(rel, size);
  }

  async unlink(rel: string): Promise<void> {
    this.writable();
    await (await this.root()).unlink(rel);
  }

  async mkdir(rel: string, mode: number): Promise<void> {
    this.writable();
    await (await this.root()).mkdir(rel, mode & 0o7777);
    await this.own(rel);
  }

  async rmdir(rel: string): Promise<void> {
    this.writable();
    await (await this.root()).rmdir(rel);
  }

  async rename(from: string, to: string): Promise<void> {
    this.writable();
    await (await this.root()).rename(from, to);
  }

  async link(from: string, to: string): Promise<void> {
    this.writable();
    await (await this.root()).link(from, to);
  }

  async symlink(target: string, rel: string): Promise<void> {
    this.writable();
    // Stored as given: inside the container it means what the user wrote.
    await (await this.root()).symlink(target, rel);
    await this.own(rel);
  }

  /** The link's target as the host kernel must see it: it leads inside the root or nowhere (confine.ts). */
  async readlink(rel: string): Promise<string> {
    const r = await this.root();
    return containedLinkTarget(rel, await r.readlink(rel), (parts) => r.resolve(parts));
  }

  async chmod(rel: string, mode: number): Promise<void> {
    this.writable();
    await (await this.root()).chmod(rel, mode & 0o7777);
  }

  /** The kernel's answer, as for the overlay (as root: X_OK needs an exec bit on a file). */
  async access(rel: string, mode: number): Promise<void> {
    if (mode & C.W_OK) this.writable();
    await (await this.root()).access(rel, mode);
  }

  async chown(rel: string, uid: number, gid: number): Promise<void> {
    this.writable();
    // libfuse passes an id left unchanged (chgrp, chown USER:) as (uid_t)-1
    const keep = (id: number): number => (id === 0xffffffff ? -1 : id);
    [uid, gid] = this.ids ? [this.ids.toHost(uid), this.ids.toHost(gid)] : [keep(uid), keep(gid)];
    await (await this.root()).chown(rel, uid, gid);
  }

  async utimens(rel: string, atime: TimeSpec, mtime: TimeSpec): Promise<void> {
    this.writable();
    await (await this.root()).utimens(rel, atime, mtime);
  }

  async statfs(rel: string): Promise<StatFs> {
    const s = await (await this.root()).statfs(rel);
    return {
      bsize: s.bsize, frsize: s.frsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
      files: s.files, ffree: s.ffree, favail: s.ffree, fsid: 0, flag: this.readOnly ? 1 : 0, namemax: s.namemax,
    };
  }

  async mknod(rel: string, mode: number, dev: number): Promise<void> {
    this.writable();
    await (await this.root()).mknod(rel, mode, dev);
    await this.own(rel);
  }

  async getxattr(rel: string, name: string): Promise<Buffer> {
    return (await this.root()).getxattr(rel, name);
  }

  async listxattr(rel: string): Promise<string[]> {
    return (await this.root()).listxattr(rel);
  }

  async setxattr(rel: string, name: string, value: Buffer, flags: number): Promise<void> {
    this.writable();
    // The addon copies the value before leaving the JS thread: the binding's buffer is
    // libfuse's, valid only until this request is answered.
    await (await this.root()).setxattr(rel, name, value, flags);
  }

  async removexattr(rel: string, name: string): Promise<void> {
    this.writable();
    await (await this.root()).removexattr(rel, name);
  }

  /** rename and link work within one tree only. */
  same(other: Subtree): void {
    if (!(other instanceof HostDir) || other.key !== this.key) throw new CrossDevice('cannot move across containers or images');
  }
}
