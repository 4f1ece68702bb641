/**
 * A container's root filesystem: overlayfs with the image as the read-only lower layer
 * and the container's own upper and work directories in the state dir. What a container
 * writes lands in its upper dir; the image never changes and no other container sees it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BadRequest, q } from '../../errors.js';
import { isErrno } from '../../util/files.js';
import { mountOverlayFs, umount } from './addon.js';

export interface OverlayLayout {
  lower: string;
  upper: string;
  work: string;
  merged: string;
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
  await fs.mkdir(l.upper, { recursive: true, mode: 0o755 });
  await fs.mkdir(l.work, { recursive: true, mode: 0o700 });
  await fs.mkdir(l.merged, { recursive: true, mode: 0o755 });
  if (await isOverlayMounted(l.merged)) return; // taken up again after a restart
  // mount(2) directly: mount(8) is a process and reads the whole mount table.
  await mountOverlayFs(l.merged, `lowerdir=${l.lower},upperdir=${l.upper},workdir=${l.work}`);
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
