/**
 * The native addon's interface (native/rootfs/rootfs.c, init()) as types only: what
 * addon.ts loads and resolver.ts calls, in a module of its own that both import.
 */
import type { RootStatFs } from '../../model/rootfs.js';

/** What lstat() returns; RootfsResolver.lstat makes a RootStat of it. */
export interface RawStat {
  dev: number; ino: number; inoBig: bigint; mode: number; nlink: number; uid: number; gid: number;
  rdev: number; size: number; blksize: number; blocks: number;
  atimeSec: number; atimeNsec: number; mtimeSec: number; mtimeNsec: number;
  ctimeSec: number; ctimeNsec: number;
}

/**
 * The addon's exports (rootfs.c, init()). Paths are relative to rootFd where there is one.
 * `caller` ([uid, gid, ...groups], see model/caller.ts callerIds): the call is done with that
 * caller's credentials on its pool thread (rootfs.c, creds_enter); without it, the daemon's.
 * `umask` (open, mkdir, mknod; after `caller`, which may then be undefined): the umask the
 * call makes the file with (rootfs.c, umask_off); without it, 0.
 */
export interface Native {
  openRoot(hostPath: string): Promise<number>;
  close(fd: number): Promise<void>;
  open(rootFd: number, rel: string, flags: number, mode: number, follow: boolean, caller?: Uint32Array, umask?: number): Promise<number>;
  lstat(rootFd: number, rel: string, caller?: Uint32Array): Promise<RawStat>;
  readdir(rootFd: number, rel: string, caller?: Uint32Array): Promise<string[]>;
  mkdir(rootFd: number, rel: string, mode: number, caller?: Uint32Array, umask?: number): Promise<void>;
  rmdir(rootFd: number, rel: string, caller?: Uint32Array): Promise<void>;
  unlink(rootFd: number, rel: string, caller?: Uint32Array): Promise<void>;
  rename(rootFd: number, from: string, to: string, flags: number, caller?: Uint32Array): Promise<void>;
  link(rootFd: number, from: string, to: string, caller?: Uint32Array): Promise<void>;
  symlink(rootFd: number, target: string, rel: string, caller?: Uint32Array): Promise<void>;
  readlink(rootFd: number, rel: string, caller?: Uint32Array): Promise<string>;
  chmod(rootFd: number, rel: string, mode: number, caller?: Uint32Array): Promise<void>;
  access(rootFd: number, rel: string, mode: number, caller?: Uint32Array): Promise<void>;
  chown(rootFd: number, rel: string, uid: number, gid: number, caller?: Uint32Array): Promise<void>;
  utimens(rootFd: number, rel: string, aSec: number, aNsec: number, mSec: number, mNsec: number, caller?: Uint32Array): Promise<void>;
  truncate(rootFd: number, rel: string, size: number, caller?: Uint32Array): Promise<void>;
  statfs(rootFd: number, rel: string, caller?: Uint32Array): Promise<RootStatFs>;
  mknod(rootFd: number, rel: string, mode: number, dev: number, caller?: Uint32Array, umask?: number): Promise<void>;
  getxattr(rootFd: number, rel: string, name: string, caller?: Uint32Array): Promise<Buffer>;
  listxattr(rootFd: number, rel: string, caller?: Uint32Array): Promise<string[]>;
  setxattr(rootFd: number, rel: string, name: string, value: Buffer, flags: number, caller?: Uint32Array): Promise<void>;
  removexattr(rootFd: number, rel: string, name: string, caller?: Uint32Array): Promise<void>;
  resolve(rootFd: number, rel: string, caller?: Uint32Array): Promise<{ path: string; consumed: number }>;
  /** Data, owner, mode, kept xattrs and times of `toFd` from `fromFd` (rootfs.c do_copyfd); resolves to the bytes copied. */
  copyFd(fromFd: number, toFd: number, uid: number, gid: number, mode: number, mtimeSec: number, mtimeNsec: number, capBase: number): Promise<number>;
  mkfifo(hostPath: string, mode: number): Promise<void>;
  mountOverlay(target: string, options: string): Promise<void>;
  umount(target: string, detach: boolean): Promise<void>;
  /** idmap.c: a read-only bind mount of source on target showing id N as base+N (synchronous). */
  idmapMount(source: string, target: string, base: number, size: number): void;
  /** notify.c: one datagram to $NOTIFY_SOCKET (a path or @abstract), sent by this process (synchronous). */
  sdNotify(socketPath: string, message: string): void;
  /** hostmount.c: a detached recursive clone of hostPath (nosuid, nodev, read-only if asked); `path` its real path. */
  bindOpen(hostPath: string, readonly: boolean): Promise<{ fd: number; path: string; dir: boolean }>;
  /** hostmount.c: attach a detached tree at `rel` in the mount namespace of `pid` (no symlinks in `rel`). */
  bindAttach(treeFd: number, pid: number, rel: string): Promise<void>;
  /** hostmount.c: detach (MNT_DETACH) the mount at `rel` in the mount namespace of `pid`. */
  bindDetach(pid: number, rel: string): Promise<void>;
  /** hostmount.c: grow the XFS mounted on dir to `bytes` (XFS_IOC_FSGROWFSDATA). */
  xfsGrow(dir: string, bytes: number): Promise<void>;
  /** seqpacket.c: a non-blocking connection to the SOCK_SEQPACKET socket dir/name, its read side shut (synchronous). */
  attachConnect(dir: string, name: string): number;
  UTIME_NOW: number; UTIME_OMIT: number; RENAME_NOREPLACE: number; RENAME_EXCHANGE: number; O_PATH: number;
}
