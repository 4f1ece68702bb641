/**
 * Where a daemon's containers live in the cgroup hierarchies. Every container gets the
 * explicit cgroups path `/wardenfs/INSTANCE/NAME` (INSTANCE is derived from the state
 * dir), so it is never placed under another program's cgroup by accident, and daemons
 * with different state dirs never share one. The runtime makes and removes the leaf;
 * reset removes the instance directories.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { cgroupMounts } from '../../util/mountinfo.js';
import { isErrno } from '../../util/files.js';
import { logger } from '../../util/log.js';

const log = logger('cgroups');

export const CGROUP_TOP = 'wardenfs';

export function instanceId(stateDir: string): string {
  return createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 12);
}

export function cgroupsPathFor(instance: string, name: string): string {
  return `/${CGROUP_TOP}/${instance}/${name}`;
}

/** Every existing directory of this path across the hierarchies (v1 controllers and v2). */
export async function existingCgroupDirs(cgroupsPath: string): Promise<string[]> {
  const out: string[] = [];
  for (const m of await cgroupMounts()) {
    const p = path.join(m.mountPoint, cgroupsPath);
    try {
      if ((await fs.stat(p)).isDirectory()) out.push(p);
    } catch { /* absent in this hierarchy */ }
  }
  return out;
}

/** rmdir a cgroup tree bottom-up (cgroup directories are removed with rmdir, never rm). */
async function rmdirTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  for (const e of entries) if (e.isDirectory()) await rmdirTree(path.join(dir, e.name));
  await fs.rmdir(dir).catch((e: unknown) => {
    if (!isErrno(e, 'ENOENT')) throw e;
  });
}

/** Remove an instance's cgroups in every hierarchy, and the shared top directory if it is empty. */
export async function removeInstanceCgroups(instance: string): Promise<void> {
  for (const m of await cgroupMounts()) {
    const dir = path.join(m.mountPoint, CGROUP_TOP, instance);
    await rmdirTree(dir).catch((e: unknown) => log('removing %s failed: %s', dir, e));
    // Other instances may still use the shared top directory (ENOTEMPTY/EBUSY): then it stays.
    await fs.rmdir(path.join(m.mountPoint, CGROUP_TOP)).catch(() => undefined);
  }
}

/** Remove one container's cgroup directories left behind (the runtime normally does it). */
export async function removeCgroupDirs(cgroupsPath: string): Promise<void> {
  for (const d of await existingCgroupDirs(cgroupsPath)) await rmdirTree(d).catch((e: unknown) => log('removing %s failed: %s', d, e));
}
