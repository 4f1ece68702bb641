/** The daemon's life (docs/interface.md §2): ready line, SIGTERM, restart with the same state dir, stale mounts, unmount, reset. */
import test from 'ava';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Tree, CLI } from '../helpers/tree.js';
import { pidAlive, mountsWith, cgroupDirsOf, exists, sleep } from '../helpers/host.js';

test.serial('SIGTERM unmounts and exits 0 leaving containers running; a restart takes them up; reset leaves nothing', async (t) => {
  const tree = new Tree('daemon');
  t.teardown(() => tree.cleanup());
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create keep1');
  await fs.mkdir(tree.p('containers', 'keep2'));
  await fs.writeFile(tree.p('containers', 'keep1', 'rootfs', 'tmp', 'mark'), 'still here\n');
  const pid1 = Number((await tree.status('keep1')).pid);
  const pid2 = Number((await tree.status('keep2')).pid);
  const cgroups = [...(await cgroupDirsOf(pid1)), ...(await cgroupDirsOf(pid2))];
  const instanceTable = ((await execa('/usr/sbin/nft', ['list', 'tables'])).stdout.split('\n')
    .map((l) => l.split(' ')[2] ?? '').find((n) => n.startsWith('wardenfs_') && cgroups.some((d) => d.includes(`/${n.slice(9)}/`))))!;
  t.truthy(instanceTable, 'the daemon has its nft table');
  t.true((await execa('/usr/sbin/ip', ['-o', 'addr'])).stdout.includes(`${tree.net}.1/24`), 'and its bridge');

  const address1 = await fs.readFile(tree.p('containers', 'keep1', 'net', 'address'), 'utf8');
  await fs.writeFile(tree.p('containers', 'keep1', 'net', 'rules'), `allow tcp ${tree.net}.1/32 9\n`);
  t.is(await tree.stop('SIGTERM'), 0);
  t.deepEqual(await mountsWith(tree.mnt), [], 'the tree is unmounted');
  t.true(pidAlive(pid1) && pidAlive(pid2), 'containers keep running without the daemon');

  await tree.start();
  t.deepEqual((await fs.readdir(tree.p('containers'))).sort(), ['keep1', 'keep2']);
  t.is(Number((await tree.status('keep1')).pid), pid1, 'the same init is adopted');
  t.is((await tree.status('keep2')).state, 'active');
  t.is(await fs.readFile(tree.p('containers', 'keep1', 'rootfs', 'tmp', 'mark'), 'utf8'), 'still here\n');
  t.is(await fs.readFile(tree.p('containers', 'keep1', 'net', 'address'), 'utf8'), address1, 'the same address');
  t.is(await fs.readFile(tree.p('containers', 'keep1', 'net', 'rules'), 'utf8'), `allow tcp ${tree.net}.1/32 9\n`);

  // reset refuses while a daemon holds the state dir
  const busy = await execa(process.execPath, [CLI, 'reset', '--state-dir', tree.state], { reject: false });
  t.not(busy.exitCode, 0);
  t.regex(busy.stderr, /in use|unmount it first/);
  t.true(pidAlive(pid1));

  t.is(await tree.stop('SIGINT'), 0);
  const r = await execa(process.execPath, [CLI, 'reset', '--state-dir', tree.state], { reject: false });
  t.is(r.exitCode, 0, r.stderr);
  for (let i = 0; i < 50 && (pidAlive(pid1) || pidAlive(pid2)); i++) await sleep(100);
  t.false(pidAlive(pid1));
  t.false(pidAlive(pid2));
  t.deepEqual(await mountsWith(tree.state), [], 'no overlay left');
  for (const d of cgroups) t.false(await exists(d), `cgroup ${d} left`);
  // Nothing of this state dir's instance is left in any hierarchy either.
  const instanceDirs = new Set(cgroups.map((d) => path.dirname(d)));
  for (const d of instanceDirs) t.false(await exists(d), `cgroup parent ${d} left`);
  t.deepEqual(await fs.readdir(tree.state), [], 'the state dir is empty');
  // nor any of its network: namespaces, links, the bridge, the nft table
  const netns = await execa('/usr/sbin/ip', ['netns', 'list']);
  t.false(/-keep[12]\b/.test(netns.stdout), netns.stdout);
  const addrs = await execa('/usr/sbin/ip', ['-o', 'addr']);
  t.false(addrs.stdout.includes(`${tree.net}.1/24`), 'the bridge is gone');
  const tables = await execa('/usr/sbin/nft', ['list', 'tables']);
  t.false(tables.stdout.includes(instanceTable), tables.stdout);
});

test.serial('a stale mount left by a SIGKILLed daemon is cleared by the next mount', async (t) => {
  const tree = new Tree('stale');
  t.teardown(() => tree.cleanup());
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create survivor');
  const pid = Number((await tree.status('survivor')).pid);
  await tree.stop('SIGKILL');
  const err = await fs.stat(tree.p('ctl')).catch((e: NodeJS.ErrnoException) => e);
  t.is((err as NodeJS.ErrnoException).code, 'ENOTCONN');
  t.true(pidAlive(pid));

  await tree.start();
  t.deepEqual(await fs.readdir(tree.p('containers')), ['survivor']);
  t.is(Number((await tree.status('survivor')).pid), pid);
  t.is((await mountsWith(tree.mnt)).length, 1, 'exactly one mount at the mountpoint');
});

test.serial('wardenfs unmount ends the daemon with exit 0', async (t) => {
  const tree = new Tree('unmount');
  t.teardown(() => tree.cleanup());
  await tree.start();
  const exited = new Promise<number | null>((r) => tree.daemon!.once('exit', (code) => r(code)));
  const r = await execa(process.execPath, [CLI, 'unmount', tree.mnt], { reject: false });
  t.is(r.exitCode, 0, r.stderr);
  t.is(await exited, 0);
  t.deepEqual(await mountsWith(tree.mnt), []);
});

test.serial('a second daemon on the same state dir is refused', async (t) => {
  const tree = new Tree('twice');
  t.teardown(() => tree.cleanup());
  await tree.start();
  const other = path.join(tree.base, 'mnt2');
  const r = await execa(process.execPath, [CLI, 'mount', other, '--state-dir', tree.state], { reject: false, timeout: 30_000 });
  t.not(r.exitCode, 0);
  t.regex(r.stderr, /in use by the daemon/);
  t.deepEqual(await mountsWith(other), []);
});

/** CPU time (user + system) of a process so far, in seconds (/proc/PID/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

test.serial('a daemon whose stdout and stderr are gone (its parent died) does not spin: it answers, logs nothing, exits 0 on SIGTERM', async (t) => {
  // DEBUG: every request logs to stderr; a message that fails logs to stderr too
  const tree = new Tree('epipe', { env: { DEBUG: 'wardenfs:*' } });
  t.teardown(() => tree.cleanup());
  await tree.start();
  const pid = tree.daemon!.pid!;
  // the reading ends of its pipes closed, as when the parent that read them dies: every write is EPIPE
  tree.daemon!.stdout!.destroy();
  tree.daemon!.stderr!.destroy();
  await tree.ctl(tree.p('ctl'), 'create quiet'); // logged (DEBUG)
  const before = cpuSeconds(pid);
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'frob\n'), { code: 'EINVAL' });
  t.true((await fs.readdir(tree.p('containers'))).includes('quiet'));
  await sleep(2000);
  t.true((await fs.readFile(tree.p('events'), 'utf8')).includes('unknown message "frob"'), 'it still answers');
  const used = cpuSeconds(pid) - before;
  t.true(used < 0.5, `the daemon used ${used} s of CPU in 2 s`);
  t.is(await tree.stop('SIGTERM'), 0, 'SIGTERM (which it reports on stderr) still unmounts and exits');
  t.deepEqual(await mountsWith(tree.mnt), []);
});

test('bad command lines are refused with a usage text', async (t) => {
  const r = await execa(process.execPath, [CLI, 'mount', '/tmp/x', '--frob'], { reject: false });
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /unknown option --frob[\s\S]*usage:/);
  const r2 = await execa(process.execPath, [CLI], { reject: false });
  t.is(r2.exitCode, 2);
  // --allow-other is a switch: it takes no value; the usage names it
  const r3 = await execa(process.execPath, [CLI, 'mount', '/tmp/x', '--allow-other=yes'], { reject: false });
  t.is(r3.exitCode, 2);
  t.regex(r3.stderr, /--allow-other takes no value[\s\S]*usage:[\s\S]*\[--allow-other\]/);
});
