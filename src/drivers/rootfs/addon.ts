/**
 * The native addon (native/rootfs/rootfs.c), loaded once. Its confined calls (a rootFd and
 * a relative path) are used through RootfsResolver only; the few calls on trusted host
 * paths of the daemon's own state dir (mkfifo, the overlay mount) are exported here.
 * Each call runs on the libuv thread pool and returns a promise with Node-style errors.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Native } from './native.js';

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

/**
 * sd_notify(3): `message` (READY=1, STATUS=…, STOPPING=1) to the service manager's socket
 * (native/rootfs/notify.c), from this very process so that systemd can tell whose it is.
 */
export function sdNotify(socketPath: string, message: string): void {
  addon().sdNotify(socketPath, message);
}

/**
 * A file made whole from another, both open already (each through its own confined root: no
 * path is resolved): its data (in the kernel: copy_file_range or sendfile), owner, mode, the
 * extended attributes an image keeps (`user.*`, `security.capability`) and its atime and
 * mtime (`mtimeNs`, exact). One pool job for what is otherwise six (image commit). With
 * `capBase` (the host id of a user namespace's root), a v3 file capability of that root
 * becomes v2 (as in an imported image) and one of another root is left out. Resolves to the
 * bytes copied.
 */
export function copyFd(fromFd: number, toFd: number, uid: number, gid: number, mode: number, mtimeNs: bigint, capBase?: number): Promise<number> {
  const NS = 1_000_000_000n;
  let sec = mtimeNs / NS;
  let nsec = mtimeNs % NS;
  if (nsec < 0n) { sec -= 1n; nsec += NS; } // BigInt division truncates toward zero
  return addon().copyFd(fromFd, toFd, uid, gid, mode & 0o7777, Number(sec), Number(nsec), capBase ?? -1);
}

/**
 * A connection to the SOCK_SEQPACKET socket `dir/name` (conmon's attach socket, in the
 * daemon's own state dir): non-blocking, its read side shut (native/rootfs/seqpacket.c).
 */
export function attachConnect(dir: string, name: string): number {
  return addon().attachConnect(dir, name);
}
