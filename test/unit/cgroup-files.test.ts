import test from 'ava';
import { promises as fs, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { V1Cgroup, V2Cgroup } from '../../src/drivers/cgroups/files.js';

async function fakeDir(files: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wfs-cg-'));
  for (const [k, v] of Object.entries(files)) await fs.writeFile(path.join(dir, k), v);
  return dir;
}

test('v2: a directory laid out like a cgroup2 mount is read and written in its own names', async (t) => {
  const dir = await fakeDir({
    'memory.max': 'max\n', 'memory.current': '12345\n', 'memory.peak': '23456\n',
    'memory.events': 'low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\noom_group_kill 0\n',
    'memory.stat': 'anon 1\nfile 2\n', 'cpu.max': 'max 100000\n', 'cpu.weight': '100\n',
    'cpu.stat': 'usage_usec 500\nuser_usec 300\nsystem_usec 200\nnr_periods 9\nnr_throttled 3\nthrottled_usec 77\n',
    'pids.max': 'max\n', 'pids.current': '4\n',
  });
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const cg = new V2Cgroup(dir);
  t.is(await cg.read('memory.max'), 'max\n');
  t.is(await cg.read('memory.events'), 'oom 2\noom_kill 1\n');
  t.is(await cg.read('cpu.stat'), 'usage_usec 500\nnr_throttled 3\nthrottled_usec 77\n');
  t.is(await cg.read('pids.current'), '4\n');
  t.is(await cg.oomKills(), 1);
  await cg.write({ key: 'memory.max', value: 64 * 1024 * 1024 });
  t.is(await fs.readFile(path.join(dir, 'memory.max'), 'utf8'), String(64 * 1024 * 1024));
  await cg.write({ key: 'cpu.max', value: { quota: 20000, period: 100000 } });
  t.is(await fs.readFile(path.join(dir, 'cpu.max'), 'utf8'), '20000 100000');
  await cg.write({ key: 'cpu.weight', value: 50 });
  t.is(await fs.readFile(path.join(dir, 'cpu.weight'), 'utf8'), '50');
  await cg.write({ key: 'pids.max', value: 'max' });
  t.is(await fs.readFile(path.join(dir, 'pids.max'), 'utf8'), 'max');
});

test('v1: names are mapped onto the v1 controllers\' files', async (t) => {
  const memory = await fakeDir({
    'memory.limit_in_bytes': '9223372036854771712\n', 'memory.usage_in_bytes': '100\n',
    'memory.max_usage_in_bytes': '200\n', 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n',
    'memory.stat': 'cache 1\nrss 2\n',
  });
  const cpu = await fakeDir({ 'cpu.cfs_quota_us': '-1\n', 'cpu.cfs_period_us': '100000\n', 'cpu.shares': '1024\n', 'cpu.stat': 'nr_periods 5\nnr_throttled 2\nthrottled_time 3000000\n' });
  const cpuacct = await fakeDir({ 'cpuacct.usage': '7000000\n' });
  const pids = await fakeDir({ 'pids.max': 'max\n', 'pids.current': '3\n' });
  t.teardown(() => Promise.all([memory, cpu, cpuacct, pids].map((d) => fs.rm(d, { recursive: true, force: true }))));
  const cg = new V1Cgroup({ memory, cpu, cpuacct, pids });
  t.is(await cg.read('memory.max'), 'max\n');
  t.is(await cg.read('memory.current'), '100\n');
  t.is(await cg.read('memory.peak'), '200\n');
  t.is(await cg.read('memory.events'), 'oom 3\noom_kill 3\n');
  t.is(await cg.read('cpu.max'), 'max 100000\n');
  t.is(await cg.read('cpu.weight'), '39\n'); // 1024 shares, runc's conversion
  t.is(await cg.read('cpu.stat'), 'usage_usec 7000\nnr_throttled 2\nthrottled_usec 3000\n');
  await cg.write({ key: 'memory.max', value: 'max' });
  t.is(await fs.readFile(path.join(memory, 'memory.limit_in_bytes'), 'utf8'), '-1');
  await cg.write({ key: 'cpu.max', value: { quota: 20000, period: 50000 } });
  t.is(await fs.readFile(path.join(cpu, 'cpu.cfs_period_us'), 'utf8'), '50000');
  t.is(await fs.readFile(path.join(cpu, 'cpu.cfs_quota_us'), 'utf8'), '20000');
  await cg.write({ key: 'cpu.weight', value: 100 });
  t.is(await fs.readFile(path.join(cpu, 'cpu.shares'), 'utf8'), '2598');
});

test('cpu.weight round-trips through v1 shares for every weight', async (t) => {
  const { weightToShares, sharesToWeight } = await import('../../src/drivers/runtime/spec.js');
  for (let w = 1; w <= 10000; w++) if (sharesToWeight(weightToShares(w)) !== w) t.fail(`weight ${w}`);
  t.is(weightToShares(1), 2);
  t.is(weightToShares(10000), 262144);
  t.is(sharesToWeight(1024), 39);
});

test('freeze: v2 writes cgroup.freeze and waits for cgroup.events to say frozen; thaw writes 0', async (t) => {
  const dir = await fakeDir({ 'cgroup.freeze': '0\n', 'cgroup.events': 'populated 1\nfrozen 0\n' });
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const cg = new V2Cgroup(dir);
  let done = false;
  const freezing = cg.freeze().then(() => { done = true; });
  await new Promise((r) => setTimeout(r, 100));
  t.is(await fs.readFile(path.join(dir, 'cgroup.freeze'), 'utf8'), '1');
  t.false(done, 'waits until the kernel says frozen');
  await fs.writeFile(path.join(dir, 'cgroup.events'), 'populated 1\nfrozen 1\n');
  await freezing;
  await cg.thaw();
  t.is(await fs.readFile(path.join(dir, 'cgroup.freeze'), 'utf8'), '0');
});

test('freeze: v1 writes freezer.state FROZEN (then THAWED); without a freezer hierarchy it fails plainly', async (t) => {
  const freezer = await fakeDir({ 'freezer.state': 'THAWED\n' });
  t.teardown(() => fs.rm(freezer, { recursive: true, force: true }));
  const cg = new V1Cgroup({ memory: freezer, cpu: freezer, cpuacct: freezer, pids: freezer, freezer });
  await cg.freeze();
  t.is(await fs.readFile(path.join(freezer, 'freezer.state'), 'utf8'), 'FROZEN');
  await cg.thaw();
  t.is(await fs.readFile(path.join(freezer, 'freezer.state'), 'utf8'), 'THAWED');
  const none = new V1Cgroup({ memory: freezer, cpu: freezer, cpuacct: freezer, pids: freezer });
  await t.throwsAsync(none.freeze(), { message: /freezer is not mounted/ });
});
