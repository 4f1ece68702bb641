/**
 * A change of a running container's settings (a limit, its forwards, egress rules, rate) is
 * two writes: the kernel's, then container.json. A daemon killed between them leaves the
 * kernel and the record disagreeing: the tree would show the record's ports while the
 * kernel forwards others (whose host ports nobody holds), or the kernel's limit while a
 * reboot brings back the record's. So a marker file `changing` is on disk while any such
 * change is under way; a daemon that finds it at start applies the record again
 * (Lifecycle.adoptAll): the change the caller never heard of is undone, and the tree, the
 * kernel and the record agree (docs/reliability.md).
 */
import { promises as fs } from 'node:fs';
import { WardenError, SystemFailure } from '../errors.js';
import type { ContainerPaths } from './paths.js';

interface Pending { count: number; failed: boolean }

const pending = new Map<string, Pending>();
/** Per container directory, the marker's writes and removals in order (never a removal overtaking a later write). */
const io = new Map<string, Promise<void>>();

function queue(dir: string, fn: () => Promise<void>): Promise<void> {
  const next = (io.get(dir) ?? Promise.resolve()).then(fn, fn);
  const settled = next.catch(() => undefined);
  io.set(dir, settled);
  void settled.then(() => {
    if (io.get(dir) === settled) io.delete(dir);
  });
  return next;
}

/**
 * Run a change of a running container's settings with the marker on disk. The marker is
 * removed once no change is under way, unless one failed on the host (a failure part-way is applied
 * again from the record at the next start: cheap, and never wrong).
 */
export async function markedChange<T>(cp: Pick<ContainerPaths, 'dir' | 'changing'>, fn: () => Promise<T>): Promise<T> {
  let p = pending.get(cp.dir);
  if (!p) {
    p = { count: 0, failed: false };
    pending.set(cp.dir, p);
  }
  p.count++;
  const entry = p;
  try {
    await queue(cp.dir, () => fs.writeFile(cp.changing, ''));
    return await fn();
  } catch (e) {
    // A refusal changed nothing (the contract of every change); a host failure may have changed part.
    if (!(e instanceof WardenError) || e instanceof SystemFailure) entry.failed = true;
    throw e;
  } finally {
    if (--entry.count === 0) {
      pending.delete(cp.dir);
      if (!entry.failed) await queue(cp.dir, () => fs.rm(cp.changing, { force: true })).catch(() => undefined);
    }
  }
}
