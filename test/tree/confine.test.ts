/**
 * Containers confined as the field's runtimes confine them (issue 11 item 7): the default
 * seccomp profile, a default pids.max, no capabilities for `run user=UID`, user namespaces.
 * Each test checks the host's own view (a host canary) besides what the container sees.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { Tree, PROJECT } from '../helpers/tree.js';
import { cgroupDirsOf } from '../helpers/host.js';
import { allocateRange } from '../../src/drivers/rootfs/idrange.js';
import { CLAIMS_DIR } from '../../src/drivers/rootfs/idclaims.js';
import { instanceId } from '../../src/drivers/cgroups/hierarchy.js';

const tree = new Tree('confine');
const pidsTree = new Tree('confinepids', { args: ['--default-pids-max', '77'] });
let probe = '';

test.before(async () => {
  await Promise.all([tree.start(), pidsTree.start()]);
  // The image is busybox alone: the probe of the seccomp tests is a static binary of our own.
  probe = path.join(tree.base, 'confine-probe');
  await execa('gcc', ['-static', '-O1', '-o', probe, path.join(PROJECT, 'test/fixtures/confine-probe.c')]);
});
test.after.always(async () => {
  await Promise.all([tree.cleanup(), pidsTree.cleanup()]);
});

const c = (name: string, ...p: string[]) => tree.p('containers', name, ...p);

/** Run a message in a container, wait for its end; stdout, or the failure with stderr. */
async function run(name: string, message: string, t = tree): Promise<string> {
  const cp = (...p: string[]) => t.p('containers', name, ...p);
  const id = await t.ctl(cp('ctl'), `run ${message}`);
  const status = await fs.readFile(cp('procs', id, 'wait'), 'utf8');
  const out = await fs.readFile(cp('procs', id, 'stdout'), 'utf8');
  if (status !== 'exited 0\n') throw new Error(`${message}: ${status} ${await fs.readFile(cp('procs', id, 'stderr'), 'utf8')}`);
  return out;
}

/** Copy the probe into the container through rootfs/ and run it; its lines as a map. */
async function runProbe(name: string, keyDesc: string): Promise<Record<string, string>> {
  await fs.copyFile(probe, c(name, 'rootfs', 'probe'));
  await fs.chmod(c(name, 'rootfs', 'probe'), 0o755);
  const out = await run(name, `/probe ${keyDesc}`);
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

test('seccomp: the default profile refuses keyrings, new user namespaces, personality tricks with EPERM, in the init and every run', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create sc');
  t.is((await tree.status('sc')).seccomp, 'default');
  const r = await runProbe('sc', `wardenfs-canary-${randomBytes(4).toString('hex')}`);
  for (const call of ['keyctl', 'add_key', 'unshare_user', 'clone_newuser', 'userfaultfd', 'io_uring_setup', 'personality_norandom', 'mount']) t.is(r[call], 'EPERM', call);
  t.is(r.clone3, 'ENOSYS');
  t.is(r.personality_query, 'ok');
  t.is(r.fork, 'ok');
  // busybox's own unshare -U, as a user would try it
  const id = await tree.ctl(c('sc', 'ctl'), 'run unshare -U true');
  t.not(await fs.readFile(c('sc', 'procs', id, 'wait'), 'utf8'), 'exited 0\n');
  t.regex(await fs.readFile(c('sc', 'procs', id, 'stderr'), 'utf8'), /Operation not permitted/);
  // the filter is on the init (from config.json) and on every exec'd process
  const pid = Number((await tree.status('sc')).pid);
  t.regex(await fs.readFile(`/proc/${pid}/status`, 'utf8'), /^Seccomp:\s+2$/m);
  t.regex(await run('sc', 'cat /proc/self/status'), /^Seccomp:\s+2$/m);
});

test('seccomp: a privileged container still cannot plant a key in the host\'s root keyring (host canary: /proc/keys)', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create scpriv privileged=true');
  const desc = `wardenfs-canary-${randomBytes(6).toString('hex')}`;
  const r = await runProbe('scpriv', desc);
  t.is(r.add_key, 'EPERM');
  t.false((await fs.readFile('/proc/keys', 'utf8')).includes(desc));
});

test('seccomp=unconfined: the same calls are not refused by a filter', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create scoff seccomp=unconfined');
  t.is((await tree.status('scoff')).seccomp, 'unconfined');
  const r = await runProbe('scoff', `wardenfs-canary-${randomBytes(4).toString('hex')}`);
  t.is(r.keyctl, 'ok');
  t.is(r.io_uring_setup, 'EFAULT');
  t.is(r.personality_norandom, 'ok');
  t.not(r.clone3, 'ENOSYS');
  t.regex(await run('scoff', 'cat /proc/self/status'), /^Seccomp:\s+0$/m);
});

test('pids.max: a container created without one gets the default (4096), or --default-pids-max; its own value wins', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create pd');
  t.is(await fs.readFile(c('pd', 'cgroup', 'pids.max'), 'utf8'), '4096\n');
  await pidsTree.ctl(pidsTree.p('ctl'), 'create pd2');
  await pidsTree.ctl(pidsTree.p('ctl'), 'create pd3 pids.max=max');
  t.is(await fs.readFile(pidsTree.p('containers', 'pd2', 'cgroup', 'pids.max'), 'utf8'), '77\n');
  t.is(await fs.readFile(pidsTree.p('containers', 'pd3', 'cgroup', 'pids.max'), 'utf8'), 'max\n');
  // host canary: the host's own cgroup file
  const dirs = await cgroupDirsOf(Number((await pidsTree.status('pd2')).pid));
  const dir = dirs.find((d) => d.includes('/pids/')) ?? dirs.find((d) => !d.includes('/name='))!;
  t.is((await fs.readFile(path.join(dir, 'pids.max'), 'utf8')).trim(), '77');
  // a fork loop stops at the limit (busybox sh gives up at the first fork that fails)
  const id = await pidsTree.ctl(pidsTree.p('containers', 'pd2', 'ctl'), `run sh -c 'while true; do sleep 5 & done'`);
  await fs.readFile(pidsTree.p('containers', 'pd2', 'procs', id, 'wait'), 'utf8');
  const current = Number(await fs.readFile(pidsTree.p('containers', 'pd2', 'cgroup', 'pids.current'), 'utf8'));
  t.true(current > 50 && current <= 77, String(current));
});

test('run user=UID keeps no capability; root keeps the container\'s set', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create caps');
  const user = await run('caps', 'user=1000 cat /proc/self/status');
  for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) t.regex(user, new RegExp(`^${set}:\\s+0{16}$`, 'm'), set);
  t.regex(user, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
  t.regex(user, /^NoNewPrivs:\s+1$/m);
  const root = await run('caps', 'cat /proc/self/status');
  t.notRegex(root, /^CapEff:\s+0{16}$/m);
  t.regex(root, /^CapAmb:\s+0{16}$/m);
  // what the user cannot do: change a root-owned file, bind below 1024 is allowed (sysctl), chown
  const id = await tree.ctl(c('caps', 'ctl'), 'run user=1000 chown 1000 /etc/passwd');
  t.not(await fs.readFile(c('caps', 'procs', id, 'wait'), 'utf8'), 'exited 0\n');
});

/** The host uid (first field of Uid:) of a host pid. */
async function hostUid(pid: number): Promise<number> {
  return Number(/^Uid:\s+(\d+)/m.exec(await fs.readFile(`/proc/${pid}/status`, 'utf8'))![1]);
}

test('user namespace by default: the container\'s root is an unprivileged host range (host canary: the init\'s and a process\'s host uid)', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create un');
  const status = await tree.status('un');
  const m = /^root is host uid (\d+) \(ids 0-65535 are host (\d+)-(\d+)\)$/.exec(status['user namespace']!);
  t.truthy(m, status['user namespace']);
  const base = Number(m![1]);
  t.true(base >= 2 ** 30 && base + 65536 <= 2 ** 31);
  t.is((await run('un', 'cat /proc/self/uid_map')).trim().split(/\s+/).join(' '), `0 ${base} 65536`);
  t.is((await run('un', 'cat /proc/self/gid_map')).trim().split(/\s+/).join(' '), `0 ${base} 65536`);
  t.is(await hostUid(Number(status.pid)), base);
  const id = await tree.ctl(c('un', 'ctl'), 'run sleep 30');
  t.is(await hostUid(Number(await fs.readFile(c('un', 'procs', id, 'pid'), 'utf8'))), base);
  t.is(await hostUid(Number((await tree.status('un')).pid)), base);
  // inside it is root, with its own network (the bridge address) and /sys
  t.regex(await run('un', 'id'), /^uid=0\(root\) gid=0\(root\)/);
  t.regex(await run('un', 'ip -4 addr show eth0'), new RegExp(`inet ${tree.net.replace(/\./g, '\\.')}\\.\\d+/24`));
  // a user outside the container's ids is refused with a clear message
  await t.throwsAsync(fs.writeFile(c('un', 'ctl'), 'run user=70000 id\n'), { code: 'EINVAL' });
  t.regex(await fs.readFile(c('un', 'events'), 'utf8'), /^error: user 70000:70000 is not mapped in the container's user namespace \(ids 0-65535\)$/m);
  // ports below 1024 for any user (ip_unprivileged_port_start=0 in its netns)
  t.regex(await run('un', `user=1000 sh -c 'nc -l -p 80 & sleep 0.3; netstat -ltn; kill $!'`), /:80\s/);
});

test('user namespace: the image\'s files are root\'s inside, the image on the host is untouched; host writes through rootfs/ are the container root\'s', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create own');
  const base = Number(/uid (\d+)/.exec((await tree.status('own'))['user namespace']!)![1]);
  t.regex(await run('own', 'ls -ln /bin/busybox'), /^\S+\s+\d+\s+0\s+0\s/);
  // host canary: the shared image is stored as it was (no chown, no copy)
  t.is((await fs.lstat(path.join(tree.state, 'images/busybox/rootfs/bin/busybox'))).uid, 0);
  await fs.writeFile(c('own', 'rootfs', 'tmp', 'from-host'), 'hello\n');
  await fs.mkdir(c('own', 'rootfs', 'tmp', 'dir-from-host'));
  await fs.symlink('from-host', c('own', 'rootfs', 'tmp', 'link-from-host'));
  t.is(await run('own', 'stat -c %u:%g /tmp/from-host /tmp/dir-from-host'), '0:0\n0:0\n');
  t.is(await run('own', 'stat -c %u:%g /tmp/link-from-host'), '0:0\n');
  // the host sees the container's view through the tree, and the host ids on disk
  t.is((await fs.stat(c('own', 'rootfs', 'tmp', 'from-host'))).uid, 0);
  t.is((await fs.stat(path.join(tree.state, 'containers/own/upper/tmp/from-host'))).uid, base);
  // chown through the tree takes container ids
  await fs.chown(c('own', 'rootfs', 'tmp', 'from-host'), 1000, 1000);
  t.is(await run('own', 'stat -c %u:%g /tmp/from-host'), '1000:1000\n');
  t.is((await fs.stat(path.join(tree.state, 'containers/own/upper/tmp/from-host'))).uid, base + 1000);
  t.is((await fs.stat(c('own', 'rootfs', 'tmp', 'from-host'))).gid, 1000);
  await t.throwsAsync(fs.chown(c('own', 'rootfs', 'tmp', 'from-host'), 70000, 0), { code: 'EINVAL' });
  // what the container writes is its ids inside and through the tree
  await run('own', `sh -c 'echo x > /tmp/mine; chown 5:6 /tmp/mine'`);
  const st = await fs.stat(c('own', 'rootfs', 'tmp', 'mine'));
  t.deepEqual([st.uid, st.gid], [5, 6]);
});

test('user namespace: two containers never share host ids; privileged=true is host root, marked in status', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create two1');
  await tree.ctl(tree.p('ctl'), 'create two2');
  const bases = await Promise.all(['two1', 'two2'].map(async (n) => Number(/uid (\d+)/.exec((await tree.status(n))['user namespace']!)![1])));
  t.true(Math.abs(bases[0]! - bases[1]!) >= 65536, String(bases));
  // host canary: a file of two1 is not readable by two2's ids (mode 0600, another owner)
  await run('two1', `sh -c 'echo secret > /tmp/s; chmod 600 /tmp/s'`);
  const st = await fs.stat(path.join(tree.state, 'containers/two1/upper/tmp/s'));
  t.is(st.uid, bases[0]!);
  t.true(st.uid < bases[1]! || st.uid >= bases[1]! + 65536);
  // host canaries: two2's root, escaped to the host, and a host user reach nothing of two1's
  // (not even its world-readable files); two1's own root does (the runtime needs it)
  const as = (uid: number, file: string) => execa('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'cat', file], { reject: false });
  const passwd = path.join(tree.state, 'containers/two1/rootfs/etc/passwd');
  t.not((await as(bases[1]!, passwd)).exitCode, 0);
  t.regex((await as(bases[1]!, passwd)).stderr, /Permission denied/);
  t.not((await as(65534, passwd)).exitCode, 0);
  t.is((await as(bases[0]!, passwd)).exitCode, 0);

  await tree.ctl(tree.p('ctl'), 'create priv privileged=true');
  t.is((await tree.status('priv'))['user namespace'], 'none (privileged: root is host root)');
  t.is((await run('priv', 'cat /proc/self/uid_map')).trim().split(/\s+/).join(' '), '0 0 4294967295');
  t.is(await hostUid(Number((await tree.status('priv')).pid)), 0);
  await fs.writeFile(tree.p('containers', 'priv', 'rootfs', 'tmp', 'f'), 'x');
  t.is(await run('priv', 'stat -c %u /tmp/f'), '0\n');
});

test('user namespace: an init gone while the daemon was down (host reboot) is started again with its network, ids and files', async (t) => {
  const rb = new Tree('confinerb');
  t.teardown(() => rb.cleanup());
  await rb.start();
  // host canary for ranges across trees: a range claimed by another tree (a claim file whose
  // owner exists) is skipped, here the tree's very first one
  const first = allocateRange(instanceId(rb.state), new Set());
  const claim = path.join(CLAIMS_DIR, String(first.base));
  await fs.mkdir(CLAIMS_DIR, { recursive: true });
  await fs.writeFile(claim, rb.base, { flag: 'wx' });
  t.teardown(() => fs.rm(claim, { force: true }));
  await rb.ctl(rb.p('ctl'), 'create again');
  const before = await rb.status('again');
  t.is(Number(/uid (\d+)/.exec(before['user namespace']!)![1]), allocateRange(instanceId(rb.state), new Set([first.base])).base);
  t.is(await fs.readFile(claim, 'utf8'), rb.base);
  await fs.writeFile(rb.p('containers', 'again', 'rootfs', 'tmp', 'kept'), 'kept\n');
  t.is(await rb.stop(), 0);
  process.kill(Number(before.pid), 'SIGKILL');
  await rb.start();
  const after = await rb.status('again');
  t.not(after.pid, before.pid);
  t.is(after['user namespace'], before['user namespace']);
  t.is(after.address, before.address);
  t.regex(await fs.readFile(rb.p('containers', 'again', 'events'), 'utf8'), /^restarted pid=/m);
  t.regex(await run('again', 'ip -4 addr show eth0', rb), new RegExp(`inet ${before.address!.replace(/\./g, '\\.')}`));
  t.is(await run('again', 'stat -c %u:%g /tmp/kept', rb), '0:0\n');
  t.is(await hostUid(Number(after.pid)), Number(/uid (\d+)/.exec(after['user namespace']!)![1]));
  // a state dir under a directory others cannot pass: a clear EINVAL, nothing made
  await fs.chmod(rb.base, 0o700);
  await t.throwsAsync(fs.writeFile(rb.p('ctl'), 'create shut\n'), { code: 'EINVAL' });
  t.regex(await fs.readFile(rb.p('events'), 'utf8'), /^error: .* does not let others pass \(mode 700\)/m);
  t.false((await fs.readdir(rb.p('containers'))).includes('shut'));
  await fs.chmod(rb.base, 0o711);
});
