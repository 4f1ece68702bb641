/**
 * The metrics of containers (docs/interface.md §5.12): `metrics` at the top of the tree and
 * `containers/NAME/metrics`, in the Prometheus text exposition format (version 0.0.4), which
 * node_exporter's textfile collector and any scraper read.
 *
 * A read is cheap enough for a thousand containers (under 200 ms, docs/performance.md): no
 * process is spawned; each container's cgroup gives five small kernel files read
 * synchronously (drivers/cgroups/files.ts, usage()), and the traffic of every container
 * comes from one read of /proc/net/dev (core/network.ts, countersOf()).
 *
 * Disk use of the writable layer is reported for containers with a `disk.max` (their layer is
 * a file system of its own: one statfs). A container without one has no disk samples: the
 * only source would be a walk of its upper directory, a `du` per container per read.
 */
import type { CgroupUsage } from '../drivers/cgroups/files.js';
import type { LinkCounters } from '../drivers/network/host.js';
import { logger } from '../util/log.js';

const log = logger('metrics');

/** What one container contributes: its name, its cgroup's usage, its traffic (absent: no network). */
export interface ContainerSample {
  name: string;
  usage: CgroupUsage;
  net?: LinkCounters;
  /** Its own layer's use and size (absent: no disk.max). */
  disk?: DiskSample;
}

/** A layer's use: bytes and inodes in use, and its size (`disk.max`). */
export interface DiskSample { bytes: number; inodes: number; limit: number }

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  value: (s: ContainerSample) => number | undefined;
}

/**
 * The families, in the order of the output. Names follow the Prometheus conventions (base
 * units, `_total` on counters, `_seconds_total` for time), as cAdvisor's container_* ones
 * under the prefix `wardenfs_`.
 */
export const FAMILIES: readonly Family[] = [
  {
    name: 'wardenfs_container_cpu_usage_seconds_total', type: 'counter',
    help: 'CPU time consumed by every process of the container (cgroup cpu usage), in seconds.',
    value: (s) => (s.usage.cpuUsec === undefined ? undefined : s.usage.cpuUsec / 1e6),
  },
  {
    name: 'wardenfs_container_memory_usage_bytes', type: 'gauge',
    help: 'Memory in use by the container now (cgroup memory.current), in bytes.',
    value: (s) => s.usage.memoryBytes,
  },
  {
    name: 'wardenfs_container_memory_peak_bytes', type: 'gauge',
    help: 'Highest memory use of the container since it was created (cgroup memory.peak), in bytes.',
    value: (s) => s.usage.memoryPeakBytes,
  },
  {
    name: 'wardenfs_container_pids', type: 'gauge',
    help: 'Tasks (processes and threads) in the container now, its init included (cgroup pids.current).',
    value: (s) => s.usage.pids,
  },
  {
    name: 'wardenfs_container_oom_kills_total', type: 'counter',
    help: 'Processes of the container killed by the OOM killer (cgroup memory.events oom_kill).',
    value: (s) => s.usage.oomKills,
  },
  {
    name: 'wardenfs_container_network_receive_bytes_total', type: 'counter',
    help: 'Bytes received by the container on its network interface.',
    value: (s) => s.net?.rxBytes,
  },
  {
    name: 'wardenfs_container_network_transmit_bytes_total', type: 'counter',
    help: 'Bytes sent by the container on its network interface.',
    value: (s) => s.net?.txBytes,
  },
  {
    name: 'wardenfs_container_network_receive_packets_total', type: 'counter',
    help: 'Packets received by the container on its network interface.',
    value: (s) => s.net?.rxPackets,
  },
  {
    name: 'wardenfs_container_network_transmit_packets_total', type: 'counter',
    help: 'Packets sent by the container on its network interface.',
    value: (s) => s.net?.txPackets,
  },
  {
    name: 'wardenfs_container_fs_usage_bytes', type: 'gauge',
    help: 'Bytes in use on the container\'s own writable layer (containers with a disk.max only).',
    value: (s) => s.disk?.bytes,
  },
  {
    name: 'wardenfs_container_fs_inodes', type: 'gauge',
    help: 'Inodes in use on the container\'s own writable layer (containers with a disk.max only).',
    value: (s) => s.disk?.inodes,
  },
  {
    name: 'wardenfs_container_fs_limit_bytes', type: 'gauge',
    help: 'The size of the container\'s own writable layer (its disk.max), in bytes.',
    value: (s) => s.disk?.limit,
  },
];

/** A label value as the text format writes it: backslash, double quote and newline escaped. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The text of the samples: per family its HELP and TYPE lines, then one line per container
 * that has the value (`NAME{container="web"} VALUE`), families never interleaved, as the
 * format requires. A family with no sample at all still has its HELP and TYPE lines, so that
 * the set of names does not depend on what runs.
 */
export function renderMetrics(samples: readonly ContainerSample[]): string {
  const out: string[] = [];
  for (const f of FAMILIES) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of samples) {
      const v = f.value(s);
      if (v !== undefined && Number.isFinite(v)) out.push(`${f.name}{container="${escapeLabel(s.name)}"} ${v}`);
    }
  }
  return out.join('\n') + '\n';
}

/** What the metrics read of a container (Container; a fake in unit tests). */
export interface Measured {
  readonly name: string;
  readonly record: { readonly name: string; readonly net: 'bridge' | 'none' };
  readonly cgroup: { usage(): CgroupUsage };
}

/** The samples of these containers now: their cgroups one by one, their traffic in one read. */
export function sample<C extends Measured>(
  containers: readonly C[],
  traffic: (records: Array<C['record']>) => Map<string, LinkCounters>,
  disk: (c: C) => DiskSample | undefined = () => undefined,
): ContainerSample[] {
  const net = traffic(containers.map((c) => c.record));
  return containers.map((c) => {
    const s: ContainerSample = { name: c.name, usage: usageOf(c) };
    const n = net.get(c.name);
    if (n) s.net = n;
    const d = diskOf(c, disk);
    if (d) s.disk = d;
    return s;
  });
}

/** A layer that cannot be read now (being destroyed) has no disk values, as a cgroup. */
function diskOf<C extends Measured>(c: C, disk: (c: C) => DiskSample | undefined): DiskSample | undefined {
  try {
    return disk(c);
  } catch (e) {
    log('disk use of %s: %s', c.name, e);
    return undefined;
  }
}

/** A container whose cgroup cannot be read (being destroyed; removed under the daemon) has no values: never a failed read of the whole file. */
function usageOf(c: Measured): CgroupUsage {
  try {
    return c.cgroup.usage();
  } catch (e) {
    log('usage of %s: %s', c.name, e);
    return {};
  }
}
