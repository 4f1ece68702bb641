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
  for (const call of ['keyctl', 'add_key', 'unshare_user', 'clone_newuser', 'userfaultfd', 'personality_norandom', 'mount']) t.is(r[call], 'EPERM', call);
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
