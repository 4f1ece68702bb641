/**
 * A container's root filesystem: overlayfs with the image as the read-only lower layer
 * and the container's own upper and work directories in the state dir. What a container
 * writes lands in its upper dir; the image never changes and no other container sees it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BadRequest, q } from '../../errors.js';
import { isErrno } from '../../util/files.js';
import { mountOverlayFs, umount, idmapMount } from './addon.js';
import type { IdRange } from './idrange.js';
import { logger } from '../../util/log.js';

const log = logger('rootfs');

export interface OverlayLayout {
  lower: string;
  upper: string;
  work: string;
  merged: string;
  /**
   * A container in a user namespace: the lower layer is an idmapped mount of the image
   * (its id N shows as idmap.base+N), attached at `idmapAt` for the overlay mount only;
   * the upper's root belongs to the container's root.
   */
  idmap?: IdRange;
  idmapAt?: string;
}

/** overlayfs splits its options on ',' and its lower dirs on ':'; such paths cannot be passed. */
export function checkOverlayPath(p: string): void {
  if (/[,:\s\\]/.test(p)) throw new BadRequest(`path ${q(p)} cannot be used by overlayfs: no ',', ':', '\\' or blanks`);
}

/**
 * Whether `dir` is the root of a mount: its device differs from its parent's. O(1), where
 * reading /proc/self/mountinfo grows with the number of containers (one overlay each).
 * (A bind mount of the same filesystem would not be seen; wardenfs makes none here.)
 */
async function isOverlayMounted(dir: string): Promise<boolean> {
  const [a, b] = await Promise.all([fs.lstat(dir), fs.lstat(path.dirname(dir))]);
  return a.dev !== b.dev;
}

export async function mountOverlay(l: OverlayLayout): Promise<void> {
  for (const p of [l.lower, l.upper, l.work, l.merged]) checkOverlayPath(p);
  if (l.idmapAt) checkOverlayPath(l.idmapAt);
  const made = await fs.mkdir(l.upper, { recursive: true, mode: 0o755 });
  // The container's / is the upper's root: its root owns it (once: the container may change it).
  if (made !== undefined && l.idmap) await fs.chown(l.upper, l.idmap.base, l.idmap.base);
  await fs.mkdir(l.work, { recursive: true, mode: 0o700 });
  await fs.mkdir(l.merged, { recursive: true, mode: 0o755 });
  if (await isOverlayMounted(l.merged)) return; // taken up again after a restart
  let lower = l.lower;
  if (l.idmap && l.idmapAt) {
    await fs.mkdir(l.idmapAt, { recursive: true, mode: 0o700 });
    await umount(l.idmapAt, true).catch(() => undefined); // a leftover of an interrupted start
    idmapMount(l.lower, l.idmapAt, l.idmap.base, l.idmap.size);
    lower = l.idmapAt;
  }
  try {
    // mount(2) directly: mount(8) is a process and reads the whole mount table.
    await mountOverlayFs(l.merged, `lowerdir=${lower},upperdir=${l.upper},workdir=${l.work}`);
  } finally {
    // overlayfs keeps its own private clone of each layer: the idmapped mount is not needed after.
    if (lower !== l.lower) await umount(lower, true).catch((e: unknown) => log('unmounting the idmapped layer %s failed: %s', lower, e));
  }
}

/** Unmount if mounted; a busy mount is detached lazily so that destroy always completes. */
export async function unmountOverlay(merged: string): Promise<void> {
  try {
    await umount(merged);
  } catch (e) {
    if (isErrno(e, 'EINVAL', 'ENOENT')) return; // not mounted, or gone
    if (!isErrno(e, 'EBUSY')) throw e;
    await umount(merged, true);
  }
}
