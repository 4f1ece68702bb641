/**
 * A container's root filesystem: overlayfs with the image as the read-only lower layer
 * and the container's own upper and work directories in the state dir. What a container
 * writes lands in its upper dir; the image never changes and no other container sees it.
 */
import { promises as fs } from 'node:fs';
import { run } from '../../util/exec.js';
import { isMountPoint } from '../../util/mountinfo.js';
import { BadRequest, q } from '../../errors.js';

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

export async function mountOverlay(l: OverlayLayout): Promise<void> {
  for (const p of [l.lower, l.upper, l.work, l.merged]) checkOverlayPath(p);
  await fs.mkdir(l.upper, { recursive: true, mode: 0o755 });
  await fs.mkdir(l.work, { recursive: true, mode: 0o700 });
  await fs.mkdir(l.merged, { recursive: true, mode: 0o755 });
  if (await isMountPoint(l.merged)) return;
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${l.lower},upperdir=${l.upper},workdir=${l.work}`, l.merged]);
}

/** Unmount if mounted; a busy mount is detached lazily so that destroy always completes. */
export async function unmountOverlay(merged: string): Promise<void> {
  if (!(await isMountPoint(merged))) return;
  try {
    await run('umount', [merged]);
  } catch {
    await run('umount', ['-l', merged]);
  }
}
