/** The metrics text (core/metrics.ts) and its sources: cgroup usage (drivers/cgroups/files.ts), /proc/net/dev (drivers/network/host.ts). */
import test from 'ava';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderMetrics, sample, escapeLabel, FAMILIES, type Measured } from '../../src/core/metrics.js';
import { V1Cgroup, V2Cgroup } from '../../src/drivers/cgroups/files.js';
import { parseNetDev, type LinkCounters } from '../../src/drivers/network/host.js';

test('the text: HELP and TYPE per family, then one sample per container that has the value', (t) => {
  const text = renderMetrics([
    { name: 'a', usage: { cpuUsec: 1500000, memoryBytes: 4096, memoryPeakBytes: 8192, pids: 3, oomKills: 1 }, net: { rxBytes: 10, txBytes: 20, rxPackets: 1, txPackets: 2 } },
    { name: 'b', usage: { cpuUsec: 7, memoryBytes: 1 } },
  ]);
  const lines = text.split('\n');
  t.is(lines[0], '# HELP wardenfs_container_cpu_usage_seconds_total CPU time consumed by every process of the container (cgroup cpu usage), in seconds.');
  t.is(lines[1], '# TYPE wardenfs_container_cpu_usage_seconds_total counter');
  t.is(lines[2], 'wardenfs_container_cpu_usage_seconds_total{container="a"} 1.5');
  t.is(lines[3], 'wardenfs_container_cpu_usage_seconds_total{container="b"} 0.000007');
  t.true(text.includes('\nwardenfs_container_memory_peak_bytes{container="a"} 8192\n# HELP wardenfs_container_pids '));
  t.true(text.includes('\nwardenfs_container_network_transmit_packets_total{container="a"} 2\n'));
  t.false(text.includes('wardenfs_container_fs_usage_bytes{'), 'no disk samples without a disk.max');
  t.false(text.includes('network_receive_bytes_total{container="b"}'));
  t.is(text.match(/^# TYPE /gm)!.length, FAMILIES.length);
  t.true(text.endsWith('# TYPE wardenfs_container_fs_limit_bytes gauge\n'));
  // Counters end in _total, as the conventions and promtool want.
  for (const f of FAMILIES) t.is(f.type === 'counter', f.name.endsWith('_total'), f.name);
});

test('no containers: the families alone', (t) => {
  const text = renderMetrics([]);
  t.is(text.split('\n').filter(Boolean).length, 2 * FAMILIES.length);
});

test('label values are escaped', (t) => {
  t.is(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
});

test('sample: one traffic read for all, a container whose cgroup fails has no values', (t) => {
  let reads = 0;
  const c = (name: string, net: 'bridge' | 'none', usage: () => object): Measured => ({ name, record: { name, net }, cgroup: { usage: usage as () => never } });
  const s = sample([c('a', 'bridge', () => ({ pids: 1 })), c('b', 'none', () => { throw new Error('gone'); })], (records) => {
    reads++;
    t.deepEqual(records.map((r) => r.name), ['a', 'b']);
    return new Map<string, LinkCounters>([['a', { rxBytes: 1, txBytes: 2, rxPackets: 3, txPackets: 4 }]]);
  });
  t.is(reads, 1);
  t.deepEqual(s, [
    { name: 'a', usage: { pids: 1 }, net: { rxBytes: 1, txBytes: 2, rxPackets: 3, txPackets: 4 } },
    { name: 'b', usage: {} },
  ]);
});

function dirWith(files: Record<string, string>): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'wfs-metrics-'));
  for (const [f, text] of Object.entries(files)) writeFileSync(path.join(d, f), text);
  return d;
}

test('cgroup v2 usage: the kernel files, a missing one is a missing field', (t) => {
  const d = dirWith({
    'cpu.stat': 'usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n',
    'memory.current': '4096\n',
    'pids.current': '2\n',
    'memory.events': 'low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\n',
  });
  try {
    t.deepEqual(new V2Cgroup(d).usage(), { cpuUsec: 123456, memoryBytes: 4096, memoryPeakBytes: undefined, pids: 2, oomKills: 1 });
  } finally {
    rmSync(d, { recursive: true });
  }
});

test('cgroup v1 usage: cpuacct in ns, the memory controller\'s names', (t) => {
  const d = dirWith({
    'cpuacct.usage': '2500000999\n',
    'memory.usage_in_bytes': '8192\n',
    'memory.max_usage_in_bytes': '16384\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n',
    'pids.current': '5\n',
  });
  try {
    t.deepEqual(new V1Cgroup({ memory: d, cpu: d, cpuacct: d, pids: d }).usage(), { cpuUsec: 2500000, memoryBytes: 8192, memoryPeakBytes: 16384, pids: 5, oomKills: 3 });
  } finally {
    rmSync(d, { recursive: true });
  }
});

test('/proc/net/dev: receive and transmit bytes and packets by interface', (t) => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   39906     696    0    0    0     0          0         0    39906     696    0    0    0     0       0          0
wfv0123456789: 1234 12 0 0 0 0 0 0 5678 34 0 0 0 0 0 0
`;
  const m = parseNetDev(text);
  t.deepEqual(m.get('wfv0123456789'), { rxBytes: 1234, rxPackets: 12, txBytes: 5678, txPackets: 34 });
  t.deepEqual(m.get('lo'), { rxBytes: 39906, rxPackets: 696, txBytes: 39906, txPackets: 696 });
  t.is(m.size, 2);
});
