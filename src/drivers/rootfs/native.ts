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

/** The addon's exports (rootfs.c, init()). Paths are relative to rootFd where there is one. */
export interface Native {
  openRoot(hostPath: string): Promise<number>;
  close(fd: number): Promise<void>;
  open(rootFd: number, rel: string, flags: number, mode: number, follow: boolean): Promise<number>;
  lstat(rootFd: number, rel: string): Promise<RawStat>;
  readdir(rootFd: number, rel: string): Promise<string[]>;
  mkdir(rootFd: number, rel: string, mode: number): Promise<void>;
  rmdir(rootFd: number, rel: string): Promise<void>;
  unlink(rootFd: number, rel: string): Promise<void>;
  rename(rootFd: number, from: string, to: string, flags: number): Promise<void>;
  link(rootFd: number, from: string, to: string): Promise<void>;
  symlink(rootFd: number, target: string, rel: string): Promise<void>;
  readlink(rootFd: number, rel: string): Promise<string>;
  chmod(rootFd: number, rel: string, mode: number): Promise<void>;
  chown(rootFd: number, rel: string, uid: number, gid: number): Promise<void>;
  utimens(rootFd: number, rel: string, aSec: number, aNsec: number, mSec: number, mNsec: number): Promise<void>;
  truncate(rootFd: number, rel: string, size: number): Promise<void>;
  statfs(rootFd: number, rel: string): Promise<RootStatFs>;
  mknod(rootFd: number, rel: string, mode: number, dev: number): Promise<void>;
  getxattr(rootFd: number, rel: string, name: string): Promise<Buffer>;
  listxattr(rootFd: number, rel: string): Promise<string[]>;
  setxattr(rootFd: number, rel: string, name: string, value: Buffer, flags: number): Promise<void>;
  removexattr(rootFd: number, rel: string, name: string): Promise<void>;
  resolve(rootFd: number, rel: string): Promise<{ path: string; consumed: number }>;
  mkfifo(hostPath: string, mode: number): Promise<void>;
  mountOverlay(target: string, options: string): Promise<void>;
  umount(target: string, detach: boolean): Promise<void>;
  /** idmap.c: a read-only bind mount of source on target showing id N as base+N (synchronous). */
  idmapMount(source: string, target: string, base: number, size: number): void;
  /** seqpacket.c: a non-blocking connection to the SOCK_SEQPACKET socket dir/name, its read side shut (synchronous). */
  attachConnect(dir: string, name: string): number;
  UTIME_NOW: number; UTIME_OMIT: number; RENAME_NOREPLACE: number; RENAME_EXCHANGE: number; O_PATH: number;
}
