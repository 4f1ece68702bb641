/**
 * A host reboot, simulated exactly (issue 17 item 4): the daemon killed, then every process
 * of the containers (inits, conmons, holders, what they ran) killed by pid, the overlays and
 * the tree unmounted, the netns, veths, bridge, nft table, cgroups and id claims of the
 * instance deleted — only the state dir is left. The next daemon brings every container back
 * on its layer with its limits, network and properties, and reports the old processes as
 * lost (docs/interface.md §2, §8; docs/reliability.md).
 */
import test from 'ava';
import { promises as fs, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';
import { netHelpers } from '../helpers/net.js';
import { pidAlive, sleep, mountsWith, exists } from '../helpers/host.js';
import { instanceId } from '../../src/drivers/cgroups/hierarchy.js';
import { netNames, netnsName, vethName } from '../../src/drivers/network/host.js';
import { CLAIMS_DIR } from '../../src/drivers/rootfs/idclaims.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The directory of a container's cgroup in every hierarchy mounted (v1 controllers, v2). */
async function cgroupDirs(instance: string, name: string): Promise<string[]> {
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')).filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2');
  const dirs = mounts.map((f) => path.join(f[1]!, 'wardenfs', instance, name));
  return (await Promise.all(dirs.map(async (d) => ((await exists(d)) ? d : undefined)))).filter((d): d is string => !!d);
}

/** A limit as the host's cgroup files hold it, in v2 or v1 terms. */
async function hostLimit(instance: string, name: string, v2: string, v1: string): Promise<string> {
  for (const d of await cgroupDirs(instance, name)) {
    for (const f of [v2, v1]) {
      const text = await fs.readFile(path.join(d, f), 'utf8').catch(() => undefined);
      if (text !== undefined) return text.trim();
    }
  }
  return 'none';
}

const readPid = (f: string) => fs.readFile(f, 'utf8').then((t) => Number(t.trim()), () => undefined);

/** Every process of the containers of this state dir, found as a reboot would end them. */
async function containerPids(state: string, instance: string): Promise<number[]> {
  const pids = new Set<number>();
  const containers = path.join(state, 'containers');
  for (const name of await fs.readdir(containers)) {
    for (const id of await fs.readdir(path.join(containers, name, 'procs')).catch(() => [] as string[])) {
      for (const f of ['pid', 'conmon.pid', 'holder.pid']) {
        const pid = await readPid(path.join(containers, name, 'procs', id, f));
        if (pid) pids.add(pid);
      }
    }
    // the init and everything else in the container's cgroups
    for (const d of await cgroupDirs(instance, name)) {
      const procs = await fs.readFile(path.join(d, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const l of procs.split('\n')) if (l) pids.add(Number(l));
    }
  }
  return [...pids];
}

/** Everything a reboot takes away, the state dir left as it is. */
async function reboot(tree: Tree, instance: string, claimsOwned: string[]): Promise<void> {
  await tree.stop('SIGKILL');
  const pids = await containerPids(tree.state, instance);
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ }
  }
  for (let i = 0; i < 50 && pids.some(pidAlive); i++) await sleep(100);
  // mounts: the overlays (and any idmapped lower), then the tree
  for (const mp of (await mountsWith(tree.state)).reverse()) await execa('umount', ['-l', mp], { reject: false });
  await execa('fusermount', ['-u', '-z', tree.mnt], { reject: false });
  // network: every netns, veth, the bridge and the nft table of the instance
  const names = netNames(instance);
  for (const ns of readdirSync('/run/netns').filter((n) => n.startsWith(netnsName(instance, '')))) await execa('ip', ['netns', 'del', ns], { reject: false });
  for (const name of await fs.readdir(path.join(tree.state, 'containers'))) await execa('ip', ['link', 'del', vethName(instance, name)], { reject: false });
  await execa('ip', ['link', 'del', names.bridge], { reject: false });
  await execa('/usr/sbin/nft', ['delete', 'table', 'ip', names.table], { reject: false });
  // cgroups and /run are empty after a boot
  for (const name of await fs.readdir(path.join(tree.state, 'containers'))) {
    for (const d of await cgroupDirs(instance, name)) await fs.rmdir(d).catch(() => undefined);
  }
  for (const b of claimsOwned) await fs.rm(path.join(CLAIMS_DIR, b), { force: true });
}

test.serial('after a host reboot every container comes back on its layer with its limits, network and properties; old processes are lost', async (t) => {
  const tree = new Tree('reboot');
  t.teardown(() => tree.cleanup());
  const instance = instanceId(tree.state);
  const { C, run, finish, get, webServer } = netHelpers(tree);
  await tree.start();
  const port = await freePort();
  await tree.ctl(tree.p('ctl'), `create ra memory.max=100M pids.max=300 cpu.weight=50 ports=127.0.0.1:${port}:80 rules='allow tcp 10.9.9.9 80' prop.role=web grace=1h`);
  await tree.ctl(tree.p('ctl'), 'create rb privileged=true cpu.max=50000 memory.max=64M prop.role=db');
  await tree.ctl(tree.p('ctl'), 'create rc net=none');
  const before: Record<string, Record<string, string>> = {};
  for (const n of ['ra', 'rb', 'rc']) before[n] = await tree.status(n);
  await fs.mkdir(C('ra', 'rootfs', 'data'));
  await fs.writeFile(C('ra', 'rootfs', 'data', 'keep'), 'kept across the reboot\n');
  t.is((await finish('rb', await run('rb', `sh -c 'echo made > /made; echo out; exit 3'`))).status, 'exited 3\n');
  const sleeperA = await run('ra', 'sleep 1000');
  const sleeperB = await run('rb', 'sleep 1000');
  const reader = await run('rc', `sh -c 'read l; echo "got $l"'`);
  await webServer('ra');
  t.is(await get(`http://127.0.0.1:${port}/`), 'hello from ra\n', 'the forward works before');
  const claims = [];
  for (const b of await fs.readdir(CLAIMS_DIR).catch(() => [] as string[])) {
    if ((await fs.readFile(path.join(CLAIMS_DIR, b), 'utf8')).startsWith(tree.state)) claims.push(b);
  }
  const oldPids = await containerPids(tree.state, instance);
  t.true(oldPids.length >= 3 * 2, `inits, conmons, holders and processes: ${oldPids.join(' ')}`);

  await reboot(tree, instance, claims);
  for (const n of ['ra', 'rb', 'rc']) t.deepEqual(await cgroupDirs(instance, n), [], `${n}: no cgroup left`);
  t.false(oldPids.some(pidAlive), 'every process is gone');
  t.deepEqual(await mountsWith(tree.state), [], 'every mount is gone');
  t.false(await exists(`/run/netns/${netnsName(instance, 'ra')}`));
  t.false(await exists(`/sys/class/net/${netNames(instance).bridge}`));
  t.not((await execa('/usr/sbin/nft', ['list', 'table', 'ip', netNames(instance).table], { reject: false })).exitCode, 0, 'no nft table');

  await tree.start();
  t.deepEqual((await fs.readdir(tree.p('containers'))).sort(), ['ra', 'rb', 'rc']);
  for (const n of ['ra', 'rb', 'rc']) {
    const st = await tree.status(n);
    t.is(st.state, 'active', n);
    t.not(st.pid, before[n]!.pid, `${n}: a new init`);
    t.true(pidAlive(Number(st.pid)), `${n}: its init runs`);
    for (const k of ['image', 'created', 'address', 'seccomp', 'user namespace']) t.is(st[k], before[n]![k], `${n}: ${k}`);
    t.regex(await fs.readFile(C(n, 'events'), 'utf8'), /^restarted pid=\d+$/m, `${n}: restarted in events`);
    const cg = await fs.readFile(`/proc/${st.pid}/cgroup`, 'utf8');
    t.true(cg.includes(`/wardenfs/${instance}/${n}`), `${n}: its init in its cgroup`);
  }
  // The old processes: lost (their monitors died with them), said so in events; an ended one keeps its status and output.
  for (const [n, id] of [['ra', sleeperA], ['rb', sleeperB], ['rc', reader]] as const) {
    t.is(await fs.readFile(C(n, 'procs', id, 'status'), 'utf8'), 'killed KILL\n', `${n}/${id}`);
    t.regex(await fs.readFile(C(n, 'events'), 'utf8'), new RegExp(`^process ${id} lost its exit status`, 'm'));
  }
  t.is(await fs.readFile(C('rb', 'procs', '1', 'status'), 'utf8'), 'exited 3\n');
  t.is(await fs.readFile(C('rb', 'procs', '1', 'stdout'), 'utf8'), 'out\n');
  t.is(await fs.readFile(C('rb', 'procs', '.running'), 'utf8'), '');
  // limits, as files of the tree and on the host
  t.is(await fs.readFile(C('ra', 'cgroup', 'memory.max'), 'utf8'), '104857600\n');
  t.is(await fs.readFile(C('ra', 'cgroup', 'pids.max'), 'utf8'), '300\n');
  t.is(await fs.readFile(C('ra', 'cgroup', 'cpu.weight'), 'utf8'), '50\n');
  t.is(await fs.readFile(C('rb', 'cgroup', 'cpu.max'), 'utf8'), '50000 100000\n');
  t.is(await hostLimit(instance, 'ra', 'memory.max', 'memory.limit_in_bytes'), '104857600');
  t.regex(await hostLimit(instance, 'rb', 'cpu.max', 'cpu.cfs_quota_us'), /^50000( 100000)?$/);
  // network and properties
  t.is(await fs.readFile(C('ra', 'net', 'ports'), 'utf8'), `127.0.0.1:${port}:80/tcp\n`);
  t.is(await fs.readFile(C('ra', 'net', 'rules'), 'utf8'), 'allow tcp 10.9.9.9/32 80\n');
  t.is(await fs.readFile(C('rc', 'net', 'address'), 'utf8'), 'none\n');
  t.is(await fs.readFile(C('ra', 'properties'), 'utf8'), 'role=web\n');
  t.is(await fs.readFile(C('ra', 'grace'), 'utf8'), '1h\n');
  t.deepEqual((await fs.readdir(tree.p('by-property', 'role=db'))), ['rb']);
  // files kept on the layer; new runs work, in the container's network
  t.is(await fs.readFile(C('ra', 'rootfs', 'data', 'keep'), 'utf8'), 'kept across the reboot\n');
  t.is((await finish('rb', await run('rb', 'cat /made'))).out, 'made\n');
  const addr = (await finish('ra', await run('ra', 'ip -4 -o addr show eth0'))).out;
  t.true(addr.includes(` ${before.ra!.address} `), addr);
  t.is((await finish('rc', await run('rc', 'ls /sys/class/net'))).out, 'lo\n');
  await webServer('ra');
  t.is(await get(`http://127.0.0.1:${port}/`), 'hello from ra\n', 'the forward works after');
});
