/**
 * The native addon (native/rootfs/rootfs.c), loaded once. Its confined calls (a rootFd and
 * a relative path) are used through RootfsResolver only; the few calls on trusted host
 * paths of the daemon's own state dir (mkfifo, the overlay mount) are exported here.
 * Each call runs on the libuv thread pool and returns a promise with Node-style errors.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { RootStatFs } from './resolver.js';

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
  UTIME_NOW: number; UTIME_OMIT: number; RENAME_NOREPLACE: number; RENAME_EXCHANGE: number; O_PATH: number;
}

// This file runs as dist/src/drivers/rootfs/addon.js; the addon is built in place by
// scripts/build-native.sh, outside dist/.
const ADDON = fileURLToPath(new URL('../../../../native/rootfs/build/Release/rootfs.node', import.meta.url));

let native: Native | undefined;

/** Loaded at first use, so that importing this module never fails on a machine where the
 *  addon is not built yet; the error then says how to build it. */
export function addon(): Native {
  if (!native) {
    try {
      native = createRequire(import.meta.url)(ADDON) as Native;
    } catch (e) {
      throw new Error(`cannot load ${ADDON} (run scripts/build-native.sh): ${(e as Error).message}`, { cause: e });
    }
  }
  return native;
}

/**
 * mkfifo(3) on a *trusted* host path (the daemon's own state dir, never inside a
 * container's root): Node cannot make FIFOs, and a mkfifo(1) process per started process
 * cost more than the rest of the start. Subject to the daemon's umask.
 */
export function makeFifo(hostPath: string, mode: number): Promise<void> {
  return addon().mkfifo(hostPath, mode);
}

/** mount -t overlay: the overlay's option string (lowerdir=…,upperdir=…,workdir=…) on `target`. */
export function mountOverlayFs(target: string, options: string): Promise<void> {
  return addon().mountOverlay(target, options);
}

/** umount2(target, UMOUNT_NOFOLLOW [| MNT_DETACH]); EINVAL when `target` is not a mount point. */
export function umount(target: string, detach = false): Promise<void> {
  return addon().umount(target, detach);
}

/**
 * An idmapped, read-only bind mount of `source` (trusted: an image of the state dir) on
 * `target`, where id N of `source` shows as base+N (native/rootfs/idmap.c). Synchronous:
 * a clone and a few mount calls, done once per container start.
 */
export function idmapMount(source: string, target: string, base: number, size: number): void {
  addon().idmapMount(source, target, base, size);
}
