/**
 * A confined root as the tree uses it (fs/nodes/hostdir.ts): every operation on a path
 * relative to a container's or an image's root, resolved inside it. The driver that does
 * it is src/drivers/rootfs/resolver.ts (openat2 RESOLVE_IN_ROOT through the native addon);
 * fs/ knows only this interface, so that it never imports a driver. Types only.
 */
import type { Caller } from './caller.js';

/** What lstat() returns: numbers as node:fs gives them, times exact in nanoseconds too. */
export interface RootStat {
  /** `ino` as a number is exact below 2^53 only; `inoBig` always is. */
  dev: number; ino: number; inoBig: bigint; mode: number; nlink: number; uid: number; gid: number;
  rdev: number; size: number; blksize: number; blocks: number;
  atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint;
  atimeMs: number; mtimeMs: number; ctimeMs: number;
  atime: Date; mtime: Date; ctime: Date;
}

/** What statfs() returns. */
export interface RootStatFs {
  type: number; bsize: number; frsize: number; blocks: number; bfree: number; bavail: number;
  files: number; ffree: number; namemax: number; flags: number;
}

/** A time for utimens: nanoseconds (bigint, exact), milliseconds (number), a Date, or the
 *  current time / leave unchanged (UTIME_NOW / UTIME_OMIT). */
export type TimeSpec = bigint | number | Date | 'now' | 'omit';

/** The in-root path of the longest existing prefix of `parts` ('' for the root), and how many parts it took. */
export interface InRoot {
  path: string;
  consumed: number;
}

/**
 * The operations on a confined root. Paths are relative to the root; a symlink met on the
 * way is resolved inside it; the last name is never followed unless said (docs/rootfs.md).
 * Errors carry node:fs's `.code`.
 */
export interface ConfinedRoot {
  lstat(rel: string): Promise<RootStat>;
  open(rel: string, flags: number, mode?: number, opts?: { follow?: boolean }): Promise<number>;
  readdir(rel: string): Promise<string[]>;
  mkdir(rel: string, mode?: number): Promise<void>;
  rmdir(rel: string): Promise<void>;
  unlink(rel: string): Promise<void>;
  rename(from: string, to: string, flags?: number): Promise<void>;
  link(from: string, to: string): Promise<void>;
  symlink(target: string, rel: string): Promise<void>;
  readlink(rel: string): Promise<string>;
  resolve(parts: string[]): Promise<InRoot>;
  chmod(rel: string, mode: number): Promise<void>;
  /** access(2) of `rel` itself (F_OK, R_OK, W_OK, X_OK bits), with the daemon's effective ids. */
  access(rel: string, mode: number): Promise<void>;
  chown(rel: string, uid: number, gid: number): Promise<void>;
  utimens(rel: string, atime: TimeSpec, mtime: TimeSpec): Promise<void>;
  truncate(rel: string, size: number): Promise<void>;
  statfs(rel: string): Promise<RootStatFs>;
  mknod(rel: string, mode: number, dev?: number): Promise<void>;
  getxattr(rel: string, name: string): Promise<Buffer>;
  listxattr(rel: string): Promise<string[]>;
  setxattr(rel: string, name: string, value: Buffer, flags?: number): Promise<void>;
  removexattr(rel: string, name: string): Promise<void>;
  /** The same root with every call done with `caller`'s credentials (fsuid, fsgid, groups); a root caller or none: this one. */
  as(caller: Caller | undefined): ConfinedRoot;
  /** The root's fd (-1 once closing), which the FUSE binding may duplicate, and the signal to forget it. */
  readonly fd: number;
  onClose(fn: () => void): void;
}
