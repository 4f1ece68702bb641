/**
 * Metrics (docs/interface.md §5.9): `metrics` and `containers/NAME/metrics` read through the
 * mounted tree, checked by Debian's promtool, parsed here, and compared with the host's own
 * cgroup files and the container's net/stats.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';
import { cgroupDirsOf, sleep } from '../helpers/host.js';

const tree = new Tree('metrics');
test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create mbusy');
  await tree.ctl(tree.p('ctl'), 'create mquiet net=none');
  await tree.ctl(tree.p('containers', 'mquiet', 'ctl'), 'run sleep 1000');
});
test.after.always(async () => {
  await tree.cleanup();
});

const FAMILIES: Record<string, 'counter' | 'gauge'> = {
  wardenfs_container_cpu_usage_seconds_total: 'counter',
  wardenfs_container_memory_usage_bytes: 'gauge',
  wardenfs_container_memory_peak_bytes: 'gauge',
  wardenfs_container_pids: 'gauge',
  wardenfs_container_oom_kills_total: 'counter',
  wardenfs_container_network_receive_bytes_total: 'counter',
  wardenfs_container_network_transmit_bytes_total: 'counter',
  wardenfs_container_network_receive_packets_total: 'counter',
  wardenfs_container_network_transmit_packets_total: 'counter',
  // containers with a disk.max only (test/tree/disk.test.ts checks their values)
  wardenfs_container_fs_usage_bytes: 'gauge',
  wardenfs_container_fs_inodes: 'gauge',
  wardenfs_container_fs_limit_bytes: 'gauge',
};

interface Parsed {
  help: Map<string, string>;
  type: Map<string, string>;
  /** family → container → value */
  values: Map<string, Map<string, number>>;
}

/** The text format, parsed strictly: HELP and TYPE before a family's samples, families not interleaved. */
function parse(text: string): Parsed {
  const p: Parsed = { help: new Map(), type: new Map(), values: new Map() };
  const done = new Set<string>();
  let current = '';
  if (!text.endsWith('\n')) throw new Error('no final newline');
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) {
      if (m[2] !== current) {
        if (done.has(m[2]!)) throw new Error(`family ${m[2]} interleaved`);
        if (current) done.add(current);
        current = m[2]!;
      }
      (m[1] === 'HELP' ? p.help : p.type).set(m[2]!, m[3]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{container="([^"\\]*)"\} (\S+)$/.exec(line);
    if (!m) throw new Error(`bad line ${JSON.stringify(line)}`);
    if (m[1] !== current || !p.type.has(current)) throw new Error(`sample of ${m[1]} outside its family`);
    const v = Number(m[3]);
    if (!Number.isFinite(v)) throw new Error(`bad value in ${line}`);
    if (!p.values.has(m[1]!)) p.values.set(m[1]!, new Map());
    if (p.values.get(m[1]!)!.has(m[2]!)) throw new Error(`duplicate sample ${line}`);
    p.values.get(m[1]!)!.set(m[2]!, v);
  }
  return p;
}

const value = (p: Parsed, family: string, container: string): number | undefined => p.values.get(family)?.get(container);

async function promtool(text: string): Promise<{ exitCode: number; out: string }> {
  const r = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
  return { exitCode: r.exitCode ?? -1, out: r.stdout + r.stderr };
}

/** A host cgroup file of a container (v1 controller file or the v2 name). */
async function hostFile(name: string, v1: [controller: string, file: string], v2: string): Promise<string> {
  const pid = Number((await tree.status(name)).pid);
  const dirs = await cgroupDirsOf(pid);
  const v1dir = dirs.find((d) => d.includes(`/${v1[0]}/`) && !d.includes('unified'));
  if (v1dir) return (await fs.readFile(path.join(v1dir, v1[1]), 'utf8')).trim();
  const v2dir = dirs.find((d) => !d.includes('/name='))!;
  return (await fs.readFile(path.join(v2dir, v2), 'utf8')).trim();
}

async function hostCpuSeconds(name: string): Promise<number> {
  const pid = Number((await tree.status(name)).pid);
  const dirs = await cgroupDirsOf(pid);
  const v1dir = dirs.find((d) => d.includes('/cpuacct') && !d.includes('unified'));
  if (v1dir) return Number(await fs.readFile(path.join(v1dir, 'cpuacct.usage'), 'utf8')) / 1e9;
  const v2dir = dirs.find((d) => !d.includes('/name='))!;
  return Number(/usage_usec (\d+)/.exec(await fs.readFile(path.join(v2dir, 'cpu.stat'), 'utf8'))![1]) / 1e6;
}

test.serial('metrics: every container, the Prometheus text format, accepted by promtool', async (t) => {
  const st = await fs.stat(tree.p('metrics'));
  t.true(st.isFile());
  t.is(st.mode & 0o777, 0o444);
  const text = await fs.readFile(tree.p('metrics'), 'utf8');
  const check = await promtool(text);
  t.is(check.exitCode, 0, check.out);
  t.is(check.out.trim(), '', 'no lint remarks');
  const p = parse(text);
  for (const [family, type] of Object.entries(FAMILIES)) {
    t.is(p.type.get(family), type, family);
    t.true((p.help.get(family) ?? '').length > 10, family);
  }
  for (const family of Object.keys(FAMILIES).filter((f) => !f.includes('network') && !f.includes('_fs_'))) {
    t.deepEqual([...(p.values.get(family)?.keys() ?? [])].sort(), ['mbusy', 'mquiet'], family);
  }
  // neither has a disk.max: no disk samples, the families' HELP and TYPE lines alone
  for (const family of Object.keys(FAMILIES).filter((f) => f.includes('_fs_'))) t.is(p.values.get(family)?.size ?? 0, 0, family);
  // net=none has no interface of its own: no network samples; the bridge container has all four.
  for (const family of Object.keys(FAMILIES).filter((f) => f.includes('network'))) {
    t.deepEqual([...(p.values.get(family)?.keys() ?? [])], ['mbusy'], family);
  }
  // `cat`, as a scraper would, gives the same families (size 0 at stat, read to EOF).
  const r = await tree.sh('cat "$M/metrics" | grep -c "^# TYPE "');
  t.is(r.stdout.trim(), String(Object.keys(FAMILIES).length));
});

test.serial('values equal the host\'s cgroup files: memory, pids, oom kills; cpu grows after a busy loop', async (t) => {
  let p = parse(await fs.readFile(tree.p('metrics'), 'utf8'));
  // mquiet runs its init and a sleep: two tasks, as the host's pids.current says.
  t.is(value(p, 'wardenfs_container_pids', 'mquiet'), 2);
  t.is(String(value(p, 'wardenfs_container_pids', 'mquiet')), await hostFile('mquiet', ['pids', 'pids.current'], 'pids.current'));
  t.is(value(p, 'wardenfs_container_oom_kills_total', 'mquiet'), 0);
  const hostMem = Number(await hostFile('mquiet', ['memory', 'memory.usage_in_bytes'], 'memory.current'));
  const mem = value(p, 'wardenfs_container_memory_usage_bytes', 'mquiet')!;
  t.true(mem > 0);
  t.true(Math.abs(mem - hostMem) <= Math.max(256 * 1024, hostMem * 0.1), `metrics ${mem}, host ${hostMem}`);
  const peak = value(p, 'wardenfs_container_memory_peak_bytes', 'mquiet')!;
  t.true(peak >= mem, `peak ${peak} < current ${mem}`);

  const cpu0 = value(p, 'wardenfs_container_cpu_usage_seconds_total', 'mbusy')!;
  // A busy loop until the metrics have seen half a second more CPU (however loaded the host is:
  // a loop of fixed wall time gets less CPU on a busy machine), then stopped.
  const id = await tree.ctl(tree.p('containers', 'mbusy', 'ctl'), "run sh -c 'while :; do :; done'");
  let cpu1 = cpu0;
  for (const deadline = Date.now() + 60_000; cpu1 - cpu0 < 0.5 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 200));
    cpu1 = value(parse(await fs.readFile(tree.p('metrics'), 'utf8')), 'wardenfs_container_cpu_usage_seconds_total', 'mbusy')!;
  }
  await tree.ctl(tree.p('procs', 'mbusy', id, 'ctl'), 'kill KILL');
  await fs.readFile(tree.p('procs', 'mbusy', id, 'wait'), 'utf8');
  t.true(cpu1 - cpu0 >= 0.5, `cpu grew by ${cpu1 - cpu0} s only`);
  p = parse(await fs.readFile(tree.p('metrics'), 'utf8'));
  cpu1 = value(p, 'wardenfs_container_cpu_usage_seconds_total', 'mbusy')!;
  const host = await hostCpuSeconds('mbusy');
  t.true(cpu1 <= host + 1e-6 && host - cpu1 < 0.5, `metrics ${cpu1} s, host later ${host} s`);
});

test.serial('network counters are the container\'s net/stats', async (t) => {
  const stats = async () => Object.fromEntries((await fs.readFile(tree.p('containers', 'mbusy', 'net', 'stats'), 'utf8')).trim().split('\n').map((l) => {
    const [k, v] = l.split(' ');
    return [k!, Number(v)];
  }));
  // Some traffic: a TCP connection to the gateway, refused by the egress filter (a SYN out, a reset back).
  const id = await tree.ctl(tree.p('containers', 'mbusy', 'ctl'), "run sh -c 'nc -w 1 $(ip route | awk \"/default/ {print \\$3}\") 9 </dev/null; true'");
  await fs.readFile(tree.p('procs', 'mbusy', id, 'wait'), 'utf8');
  await sleep(200);
  const before = await stats();
  const p = parse(await fs.readFile(tree.p('containers', 'mbusy', 'metrics'), 'utf8'));
  const after = await stats();
  t.true(before.tx_packets! > 0);
  const pairs: Array<[string, string]> = [
    ['wardenfs_container_network_receive_bytes_total', 'rx_bytes'],
    ['wardenfs_container_network_transmit_bytes_total', 'tx_bytes'],
    ['wardenfs_container_network_receive_packets_total', 'rx_packets'],
    ['wardenfs_container_network_transmit_packets_total', 'tx_packets'],
  ];
  for (const [family, key] of pairs) {
    const v = value(p, family, 'mbusy')!;
    t.true(v >= before[key]! && v <= after[key]!, `${family} ${v}, net/stats ${before[key]} … ${after[key]}`);
  }
});

test.serial('containers/NAME/metrics: the same for one container, accepted by promtool', async (t) => {
  const text = await fs.readFile(tree.p('containers', 'mquiet', 'metrics'), 'utf8');
  const check = await promtool(text);
  t.is(check.exitCode, 0, check.out);
  const p = parse(text);
  for (const [family, samples] of p.values) t.deepEqual([...samples.keys()], ['mquiet'], family);
  t.is(value(p, 'wardenfs_container_pids', 'mquiet'), 2);
  t.is(p.type.size, Object.keys(FAMILIES).length);
  // Read-only, as every generated file.
  const w = await fs.writeFile(tree.p('containers', 'mquiet', 'metrics'), 'x').then(() => 'ok', (e: NodeJS.ErrnoException) => e.code);
  t.is(w, 'EPERM');
});

test.serial('an OOM kill counts, and the peak is at least the limit reached', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create moom net=none memory.max=32M');
  const hog = await tree.ctl(tree.p('containers', 'moom', 'ctl'), 'run dd if=/dev/zero of=/dev/null bs=64M count=1');
  t.is(await fs.readFile(tree.p('procs', 'moom', hog, 'wait'), 'utf8'), 'killed KILL\n');
  const p = parse(await fs.readFile(tree.p('containers', 'moom', 'metrics'), 'utf8'));
  t.is(value(p, 'wardenfs_container_oom_kills_total', 'moom'), 1);
  t.true(value(p, 'wardenfs_container_memory_peak_bytes', 'moom')! >= 30 * 1024 * 1024);
  await tree.ctl(tree.p('ctl'), 'destroy moom');
});

test.serial('a destroyed container leaves the metrics', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create mgone net=none');
  t.true(parse(await fs.readFile(tree.p('metrics'), 'utf8')).values.get('wardenfs_container_pids')!.has('mgone'));
  await tree.ctl(tree.p('ctl'), 'destroy mgone');
  t.false(parse(await fs.readFile(tree.p('metrics'), 'utf8')).values.get('wardenfs_container_pids')!.has('mgone'));
});
