/** Limits that change while the container runs (docs/interface.md §1, §5.6), checked against the host's own cgroup files. */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Tree } from '../helpers/tree.js';
import { cgroupDirsOf, sleep } from '../helpers/host.js';

const tree = new Tree('cgroups');
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

/** The host's file for a limit: v1 name in the controller's hierarchy, or the v2 name. */
async function hostFile(name: string, v1: [controller: string, file: string], v2: string): Promise<string> {
  const pid = Number((await tree.status(name)).pid);
  const dirs = await cgroupDirsOf(pid);
  const v1dir = dirs.find((d) => d.includes(`/${v1[0]}/`) && !d.includes('unified'));
  if (v1dir) return fs.readFile(path.join(v1dir, v1[1]), 'utf8').then((s) => s.trim());
  const v2dir = dirs.find((d) => !d.includes('/name='))!;
  return fs.readFile(path.join(v2dir, v2), 'utf8').then((s) => s.trim());
}

const cg = (name: string, file: string) => tree.p('containers', name, 'cgroup', file);
const read = (name: string, file: string) => fs.readFile(cg(name, file), 'utf8');

test('limits given at create read back and equal the host\'s cgroup files', async (t) => {
  await tree.ctl(tree.p('ctl'), "create lim memory.max=64M pids.max=100 cpu.weight=50 'cpu.max=20000 100000'");
  t.is(await read('lim', 'memory.max'), `${64 * 1024 * 1024}\n`);
  t.is(await read('lim', 'pids.max'), '100\n');
  t.is(await read('lim', 'cpu.weight'), '50\n');
  t.is(await read('lim', 'cpu.max'), '20000 100000\n');
  t.is(await hostFile('lim', ['memory', 'memory.limit_in_bytes'], 'memory.max'), String(64 * 1024 * 1024));
  t.is(await hostFile('lim', ['pids', 'pids.max'], 'pids.max'), '100');
  t.is((await hostFile('lim', ['cpu', 'cpu.cfs_quota_us'], 'cpu.max')).split(' ')[0], '20000');
  for (const f of ['memory.current', 'memory.peak', 'memory.stat', 'memory.events', 'cpu.stat', 'pids.current']) {
    t.true((await read('lim', f)).length > 0, f);
  }
  t.regex(await read('lim', 'memory.events'), /^oom \d+\noom_kill \d+\n$/);
  t.regex(await read('lim', 'cpu.stat'), /^usage_usec \d+\nnr_throttled \d+\nthrottled_usec \d+\n$/);
  t.is(await read('lim', 'pids.current'), '1\n');
});

test('a retune of memory, cpu and pids reaches the host\'s files at once, on a running container', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create retune');
  const id = await tree.ctl(tree.p('containers', 'retune', 'ctl'), 'run sleep 100');
  t.is(await read('retune', 'memory.max'), 'max\n');
  const r = await tree.sh(`echo 256M > "${cg('retune', 'memory.max')}"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await read('retune', 'memory.max'), `${256 * 1024 * 1024}\n`);
  t.is(await hostFile('retune', ['memory', 'memory.limit_in_bytes'], 'memory.max'), String(256 * 1024 * 1024));
  await fs.writeFile(cg('retune', 'cpu.max'), '50000 100000\n');
  t.is(await read('retune', 'cpu.max'), '50000 100000\n');
  t.is(await hostFile('retune', ['cpu', 'cpu.cfs_quota_us'], 'cpu.max').then((v) => v.split(' ')[0]), '50000');
  await fs.writeFile(cg('retune', 'cpu.max'), 'max\n');
  t.is(await read('retune', 'cpu.max'), 'max 100000\n');
  await fs.writeFile(cg('retune', 'pids.max'), '42\n');
  t.is(await hostFile('retune', ['pids', 'pids.max'], 'pids.max'), '42');
  await fs.writeFile(cg('retune', 'cpu.weight'), '200\n');
  t.is(await read('retune', 'cpu.weight'), '200\n');
  await fs.writeFile(cg('retune', 'memory.max'), 'max\n');
  t.is(await read('retune', 'memory.max'), 'max\n');
  t.is(await fs.readFile(tree.p('containers', 'retune', 'procs', id, 'status'), 'utf8'), 'running\n');
  t.regex(await fs.readFile(tree.p('containers', 'retune', 'events'), 'utf8'), /^limit memory.max=256M$/m);
});

test('bad values are refused with EINVAL, logged, and change nothing', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create badvals memory.max=100M');
  for (const [file, value] of [['memory.max', 'lots'], ['memory.max', '-5'], ['cpu.max', '1 2 3'], ['cpu.max', '500 100000'], ['cpu.weight', '0'], ['cpu.weight', '10001'], ['pids.max', 'many']]) {
    await t.throwsAsync(fs.writeFile(cg('badvals', file!), value + '\n'), { code: 'EINVAL' }, `${file}=${value}`);
  }
  t.is(await read('badvals', 'memory.max'), `${100 * 1024 * 1024}\n`);
  t.is(await read('badvals', 'cpu.max'), 'max 100000\n');
  t.is(await read('badvals', 'cpu.weight'), '100\n');
  t.is(await read('badvals', 'pids.max'), '4096\n'); // the default (--default-pids-max)
  await t.throwsAsync(fs.writeFile(cg('badvals', 'memory.current'), '1\n'), { code: 'EPERM' });
  t.regex(await fs.readFile(tree.p('containers', 'badvals', 'events'), 'utf8'), /^error: bad size "lots"/m);
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'create badcreate memory.max=huge\n'), { code: 'EINVAL' });
});

test('200 MiB in a 128 MiB container is OOM-killed; memory.events and events record it; peers live on', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create oom memory.max=128M');
  const c = (...p: string[]) => tree.p('containers', 'oom', ...p);
  const peer = await tree.ctl(c('ctl'), 'run sleep 100');
  const hog = await tree.ctl(c('ctl'), 'run dd if=/dev/zero of=/dev/null bs=200M count=1');
  t.is(await fs.readFile(c('procs', hog, 'wait'), 'utf8'), 'killed KILL\n');
  t.regex(await read('oom', 'memory.events'), /oom_kill [1-9]/);
  t.regex(await fs.readFile(c('events'), 'utf8'), /^oom/m);
  t.is(await fs.readFile(c('procs', peer, 'status'), 'utf8'), 'running\n');
  t.is((await tree.status('oom')).state, 'active');
});

test('pids.max stops a fork loop', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create forks pids.max=20');
  const c = (...p: string[]) => tree.p('containers', 'forks', ...p);
  const id = await tree.ctl(c('ctl'), `run sh -c 'i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done; echo done'`);
  await fs.readFile(c('procs', id, 'wait'), 'utf8');
  t.regex(await fs.readFile(c('procs', id, 'stderr'), 'utf8'), /can't fork|Resource temporarily unavailable|Try again/i);
  const current = Number(await read('forks', 'pids.current'));
  t.true(current <= 20 && current > 1, `pids.current ${current}`);
  await tree.ctl(c('ctl'), 'stop 0');
});

test('cpu.max 20000 100000 holds a busy loop to about 20% of a CPU, with throttling', async (t) => {
  await tree.ctl(tree.p('ctl'), "create cpu 'cpu.max=20000 100000'");
  const c = (...p: string[]) => tree.p('containers', 'cpu', ...p);
  const usage = async () => Number(/usage_usec (\d+)/.exec(await read('cpu', 'cpu.stat'))![1]);
  await tree.ctl(c('ctl'), `run sh -c 'while :; do :; done'`);
  await sleep(500);
  const u0 = await usage();
  const t0 = Date.now();
  await sleep(3000);
  const share = (await usage() - u0) / ((Date.now() - t0) * 1000);
  t.true(share > 0.1 && share < 0.3, `share of a CPU: ${share.toFixed(3)}`);
  t.regex(await read('cpu', 'cpu.stat'), /nr_throttled [1-9]/);
  await tree.ctl(c('ctl'), 'stop 0');
});

test('a container process cannot raise its own limits', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create selfish pids.max=50');
  const c = (...p: string[]) => tree.p('containers', 'selfish', ...p);
  const id = await tree.ctl(c('ctl'), `run sh -c 'for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do [ -e $f ] && echo 1000 > $f && exit 0; done; exit 1'`);
  t.is(await fs.readFile(c('procs', id, 'wait'), 'utf8'), 'exited 1\n');
  t.regex(await fs.readFile(c('procs', id, 'stderr'), 'utf8'), /Read-only file system/);
  t.is(await read('selfish', 'pids.max'), '50\n');
});
