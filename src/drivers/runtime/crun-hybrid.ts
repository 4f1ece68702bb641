/**
 * crun refuses to run on a hybrid cgroup host whose v2 hierarchy has controllers
 * ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"), which is
 * how this kind of machine is set up. The workaround: run crun in a private mount
 * namespace without the v2 mount, so it sees a plain v1 host. The container's own mount
 * namespace is made from that one; nothing changes on the host.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readMounts } from '../../util/mountinfo.js';

export async function hybridWithV2Controllers(): Promise<string | undefined> {
  const mounts = await readMounts();
  const v1 = mounts.some((m) => m.fsType === 'cgroup');
  const v2 = mounts.find((m) => m.fsType === 'cgroup2');
  if (!v1 || !v2) return undefined;
  const controllers = await fs.readFile(path.join(v2.mountPoint, 'cgroup.controllers'), 'utf8').catch(() => ''); // unreadable: no controllers there
  return controllers.trim() ? v2.mountPoint : undefined;
}

/** The runtime binary to use: crun itself, or a wrapper (written into `dir`) that hides the v2 mount from it. */
export async function crunForHost(crun: string, dir: string): Promise<string> {
  const v2 = await hybridWithV2Controllers();
  if (!v2) return crun;
  const wrapper = path.join(dir, 'crun-v1-view');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  await fs.writeFile(wrapper, [
    '#!/bin/sh',
    '# Written by wardenfs: crun in a mount namespace without the cgroup v2 mount (see src/drivers/runtime/crun-hybrid.ts).',
    `exec unshare --mount --propagation private sh -c 'umount -l ${v2} 2>/dev/null; exec "$0" "$@"' ${q(crun)} "$@"`,
    '',
  ].join('\n'), { mode: 0o755 });
  return wrapper;
}
