/**
 * Which cgroup layout the host runs, detected once at start without configuration:
 * a cgroup2 mount at the hierarchy root with the memory controller means v2; otherwise
 * the v1 controllers (memory, cpu, cpuacct, pids) are used, as on hybrid hosts.
 */
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { readMounts, type MountEntry } from '../../util/mountinfo.js';
import { SystemFailure } from '../../errors.js';
import { V1Cgroup, V2Cgroup, type Cgroup } from './files.js';

export type CgroupHost =
  | { version: 2; root: string }
  | { version: 1; memory: string; cpu: string; cpuacct: string; pids: string; freezer?: string };

function v1Mount(mounts: MountEntry[], controller: string): string | undefined {
  return mounts.find((m) => m.fsType === 'cgroup' && path.basename(m.mountPoint).split(',').includes(controller))?.mountPoint
    ?? mounts.find((m) => m.fsType === 'cgroup' && m.mountPoint.endsWith(`/${controller}`))?.mountPoint;
}

export async function detectCgroupHost(): Promise<CgroupHost> {
  const mounts = await readMounts();
  const memory = v1Mount(mounts, 'memory');
  if (!memory) {
    const v2 = mounts.find((m) => m.fsType === 'cgroup2');
    if (!v2) throw new SystemFailure('no cgroup hierarchy with a memory controller found');
    // Unreadable: no controllers, which the next line reports.
    const controllers = await fs.readFile(path.join(v2.mountPoint, 'cgroup.controllers'), 'utf8').catch(() => '');
    if (!controllers.split(/\s+/).includes('memory')) throw new SystemFailure('the cgroup2 hierarchy has no memory controller');
    return { version: 2, root: v2.mountPoint };
  }
  const need = (c: string): string => {
    const m = v1Mount(mounts, c);
    if (!m) throw new SystemFailure(`the cgroup v1 controller ${c} is not mounted`);
    return m;
  };
  const freezer = v1Mount(mounts, 'freezer');
  return { version: 1, memory, cpu: need('cpu'), cpuacct: need('cpuacct'), pids: need('pids'), ...(freezer ? { freezer } : {}) };
}

/** The cgroup of one container (its explicit cgroups path) on this host. */
export function cgroupOf(host: CgroupHost, cgroupsPath: string): Cgroup {
  if (host.version === 2) return new V2Cgroup(path.join(host.root, cgroupsPath));
  return new V1Cgroup({
    memory: path.join(host.memory, cgroupsPath),
    cpu: path.join(host.cpu, cgroupsPath),
    cpuacct: path.join(host.cpuacct, cgroupsPath),
    pids: path.join(host.pids, cgroupsPath),
    ...(host.freezer ? { freezer: path.join(host.freezer, cgroupsPath) } : {}),
  });
}
