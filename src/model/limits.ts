/**
 * A container's limits as typed values, in the cgroup v2 vocabulary (docs/cgroups.md):
 * parsed by ctl/, applied by drivers/cgroups and drivers/runtime, listed by fs/. Types and
 * the key lists only: no I/O, no imports.
 */

/** No limit. */
export type Max = 'max';

/** cpu.max: a quota per period, in microseconds. */
export interface CpuMax { quota: number | Max; period: number }

/** The files of a container's cgroup/ directory. */
export type CgroupKey =
  | 'memory.max' | 'memory.current' | 'memory.peak' | 'memory.events' | 'memory.stat'
  | 'cpu.max' | 'cpu.weight' | 'cpu.stat' | 'pids.max' | 'pids.current';

export const CGROUP_KEYS: readonly CgroupKey[] = [
  'memory.max', 'memory.current', 'memory.peak', 'memory.events', 'memory.stat',
  'cpu.max', 'cpu.weight', 'cpu.stat', 'pids.max', 'pids.current',
];
export const WRITABLE_KEYS: readonly CgroupKey[] = ['memory.max', 'cpu.max', 'cpu.weight', 'pids.max'];

/** One limit, already parsed (ctl/values.ts). */
export type Limit =
  | { key: 'memory.max'; value: number | Max }
  | { key: 'cpu.max'; value: CpuMax }
  | { key: 'cpu.weight'; value: number }
  | { key: 'pids.max'; value: number | Max };

/** A container's limits by key (absent: the default); what the bundle's resources are made of. */
export type Limits = { [L in Limit as L['key']]?: L['value'] };

/** The key of a limit: a writable file of cgroup/. */
export type LimitKey = Limit['key'];

/** Whether a cgroup/ file is a limit (writable). */
export function isLimitKey(k: CgroupKey): k is LimitKey {
  return WRITABLE_KEYS.includes(k);
}

/** Put one limit into a container's limits. */
export function putLimit(limits: Limits, l: Limit): void {
  switch (l.key) {
    case 'memory.max': limits['memory.max'] = l.value; break;
    case 'cpu.max': limits['cpu.max'] = l.value; break;
    case 'cpu.weight': limits['cpu.weight'] = l.value; break;
    case 'pids.max': limits['pids.max'] = l.value; break;
  }
}
