/**
 * A container's own layer on a file system of its own, for `disk.max` (docs/decisions.md,
 * "Disk limits"): a sparse image file formatted as XFS and mounted through a loop device,
 * whose size is the limit. Writes past it fail with ENOSPC whoever writes (the container, or
 * the daemon through rootfs/: XFS keeps no blocks for root). Growing is live (the image
 * file, the loop device's size, then XFS_IOC_FSGROWFSDATA on the mounted file system);
 * XFS cannot shrink. XFS rather than ext4: ext4's online resize needs CAP_SYS_RESOURCE,
 * which the daemon may not have (this project's CI machines do not give it to root).
 */
import { promises as fs, statfsSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../util/exec.js';
import { isErrno } from '../../util/files.js';
import { SystemFailure } from '../../errors.js';
import { umount, addon } from './addon.js';

/** Make the image: `bytes` long (sparse), XFS (at least 300 MiB: mkfs.xfs refuses less). */
export async function makeLayerFs(image: string, bytes: number): Promise<void> {
  const fh = await fs.open(image, 'wx', 0o600);
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
  // -K: no discard (the file is new and sparse). mkfs.xfs gives imaxpct 25 below 1 TiB (growLayerFs).
  await run('mkfs.xfs', ['-q', '-f', '-K', image]);
}

async function isMounted(dir: string): Promise<boolean> {
  const [a, b] = await Promise.all([fs.lstat(dir), fs.lstat(path.dirname(dir))]);
  return a.dev !== b.dev;
}

/** Mount the image on `dir` through a loop device (freed when unmounted: autoclear). */
export async function mountLayerFs(image: string, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  if (await isMounted(dir)) return; // taken up again after a restart
  await run('mount', ['-t', 'xfs', '-o', 'loop', image, dir]);
}

/** Unmount if mounted (lazily when busy); the loop device goes with the last reference. */
export async function unmountLayerFs(dir: string): Promise<void> {
  try {
    await umount(dir);
  } catch (e) {
    if (isErrno(e, 'EINVAL', 'ENOENT')) return;
    if (!isErrno(e, 'EBUSY')) throw e;
    await umount(dir, true);
  }
}

/** Grow the file system mounted on `dir` to `bytes`: the file, the loop device's size, then XFS online. */
export async function growLayerFs(image: string, dir: string, bytes: number): Promise<void> {
  const { stdout } = await run('losetup', ['-n', '-O', 'NAME', '-j', image]);
  const dev = stdout.trim().split('\n')[0]?.trim();
  if (!dev) throw new SystemFailure(`no loop device for ${image}`);
  await fs.truncate(image, bytes);
  await run('losetup', ['-c', dev]);
  await addon().xfsGrow(dir, bytes);
}

/** Bytes and inodes in use on the layer's file system (its own journal and tables included). */
export async function layerFsUse(dir: string): Promise<{ bytes: number; inodes: number }> {
  const s = await fs.statfs(dir);
  return { bytes: (s.blocks - s.bfree) * s.bsize, inodes: s.files - s.ffree };
}

/**
 * The same, synchronously, for the metrics (one statfs(2) of a local XFS mount, never of the
 * tree's own mount: it cannot wait on the daemon).
 */
export function layerFsUseSync(dir: string): { bytes: number; inodes: number } {
  const s = statfsSync(dir);
  return { bytes: (s.blocks - s.bfree) * s.bsize, inodes: s.files - s.ffree };
}

/** Bytes (allocated) and inodes under a directory, for a layer without a file system of its own. */
export async function treeUse(dir: string): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await fs.readdir(d);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return;
      throw e;
    }
    for (const n of names) {
      const p = path.join(d, n);
      const st = await fs.lstat(p).catch(() => undefined); // removed meanwhile
      if (!st) continue;
      bytes += st.blocks * 512;
      inodes++;
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return { bytes, inodes };
}
