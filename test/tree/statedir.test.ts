/**
 * The state dir is trusted only when it is root's (issue 11.5, docs/security.md §5):
 * `mount` refuses a state dir (or a parent) that is not root's or is writable by group or
 * others, saying why and mounting nothing; links planted in place of the daemon's own
 * files are never followed (a host canary stays as it was).
 */
import test from 'ava';
import { promises as fs, mkdtempSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execa } from 'execa';
import { Tree, CLI } from '../helpers/tree.js';
import { mountsWith } from '../helpers/host.js';

const NOBODY = 65534;
const base = mkdtempSync(path.join(os.tmpdir(), 'wfs-statedir-'));
const subnet = `10.226.${Number(process.env.WARDENFS_TEST_NET ?? 0) & 255}.0/24`;
const CANARY = 'canary: must stay as it is\n';

test.after.always(async () => {
  await execa('fusermount', ['-u', '-z', path.join(base, 'mnt')], { reject: false });
  await fs.rm(base, { recursive: true, force: true });
});

/** `wardenfs mount` on `state`: it must fail at once, say `why`, and leave nothing mounted or written. */
async function refusedMount(t: import('ava').ExecutionContext, state: string, why: RegExp): Promise<void> {
  const mnt = path.join(base, 'mnt');
  const before = await fs.readdir(state).catch(() => [] as string[]);
  const r = await execa(process.execPath, [CLI, 'mount', mnt, '--state-dir', state, '--subnet', subnet], { reject: false, timeout: 30_000 });
  t.is(r.exitCode, 1, r.stderr);
  t.regex(r.stderr, /refusing the state dir/);
  t.regex(r.stderr, why);
  t.notRegex(r.stdout, /ready/);
  t.deepEqual(await mountsWith(mnt), []);
  t.deepEqual(await fs.readdir(state).catch(() => [] as string[]), before);
}

test.serial('a state dir owned by another uid is refused, by mount and by reset', async (t) => {
  const state = path.join(base, 'owned-by-nobody');
  await fs.mkdir(state, { mode: 0o700 });
  await fs.chown(state, NOBODY, NOBODY);
  await refusedMount(t, state, /owned-by-nobody \(owner uid 65534, mode 0700\) is not owned by root/);
  const r = await execa(process.execPath, [CLI, 'reset', '--state-dir', state], { reject: false, timeout: 30_000 });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /refusing the state dir: .*owned-by-nobody .*is not owned by root/);
});

test.serial('a state dir writable by group or others is refused, sticky or not', async (t) => {
  for (const mode of [0o777, 0o770, 0o1777, 0o722]) {
    const state = path.join(base, `mode-${mode.toString(8)}`);
    await fs.mkdir(state);
    await fs.chmod(state, mode);
    await refusedMount(t, state, /is writable by group or others/);
  }
});

test.serial('a parent not root\'s, or writable by others without the sticky bit, is refused', async (t) => {
  const p1 = path.join(base, 'parent-nobody');
  await fs.mkdir(path.join(p1, 'state'), { recursive: true, mode: 0o700 });
  await fs.chown(p1, NOBODY, NOBODY);
  await refusedMount(t, path.join(p1, 'state'), /parent-nobody \(owner uid 65534.*is not owned by root/);

  const p2 = path.join(base, 'parent-0777');
  await fs.mkdir(path.join(p2, 'state'), { recursive: true, mode: 0o700 });
  await fs.chmod(p2, 0o777);
  await refusedMount(t, path.join(p2, 'state'), /parent-0777 .*writable by group or others and not sticky/);

  // sticky like /tmp, but the entry taken in it is not root's: its owner could swap it
  const p3 = path.join(base, 'sticky');
  await fs.mkdir(path.join(p3, 'users', 'state'), { recursive: true, mode: 0o700 });
  await fs.chmod(p3, 0o1777);
  await fs.chown(path.join(p3, 'users'), NOBODY, NOBODY);
  await refusedMount(t, path.join(p3, 'users', 'state'), /users \(owner uid 65534.*is not owned by root, in the shared directory/);

  // a link on the way that is not root's
  const link = path.join(base, 'link-by-nobody');
  await fs.mkdir(path.join(base, 'real', 'state'), { recursive: true, mode: 0o700 });
  await fs.symlink(path.join(base, 'real'), link);
  await fs.lchown(link, NOBODY, NOBODY);
  await refusedMount(t, path.join(link, 'state'), /the symbolic link .*link-by-nobody is not owned by root/);
});

test.serial('links planted in place of daemon.pid, events, images/ are refused at start; canaries untouched', async (t) => {
  const canary = path.join(base, 'canary');
  const canaryDir = path.join(base, 'canarydir');
  await fs.writeFile(canary, CANARY);
  await fs.mkdir(canaryDir);
  for (const [name, target] of [['daemon.pid', canary], ['events', canary], ['images', canaryDir], ['containers', canaryDir]] as const) {
    const state = path.join(base, `planted-${name}`);
    await fs.mkdir(state, { mode: 0o700 });
    await fs.symlink(target, path.join(state, name));
    await refusedMount(t, state, new RegExp(`${name} is a symbolic link`));
    t.is(await fs.readFile(canary, 'utf8'), CANARY);
    t.deepEqual(await fs.readdir(canaryDir), []);
  }
});

test.serial('a root state dir of mode 0711 under a sticky /tmp is accepted; links planted while it runs are not followed', async (t) => {
  const tree = new Tree('statedir');
  try {
    await fs.mkdir(tree.state, { mode: 0o711 });
    await fs.chmod(tree.state, 0o711);
    await tree.start();
    t.is((await fs.stat(tree.state)).uid, 0);

    const canary = path.join(tree.base, 'canary');
    await fs.writeFile(canary, CANARY);
    await tree.ctl(tree.p('ctl'), 'create c1');
    // the container's events file becomes a link to a host file
    const events = path.join(tree.state, 'containers', 'c1', 'events');
    await fs.rm(events, { force: true });
    await fs.symlink(canary, events);
    t.is(await tree.ctl(tree.p('containers', 'c1', 'ctl'), 'run true'), '1');
    await t.throwsAsync(fs.writeFile(tree.p('containers', 'c1', 'ctl'), 'frob\n'), { code: 'EINVAL' });
    // the global events, and the pid file, too
    const global = path.join(tree.state, 'events');
    await fs.rm(global, { force: true });
    await fs.symlink(canary, global);
    await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'frob\n'), { code: 'EINVAL' });
    await t.throwsAsync(fs.readFile(tree.p('events'), 'utf8'));
    const pid = path.join(tree.state, 'daemon.pid');
    await fs.rm(pid, { force: true });
    await fs.symlink(canary, pid);
    await tree.ctl(tree.p('ctl'), 'destroy c1');
    t.is(await tree.stop(), 0);
    t.is(await fs.readFile(canary, 'utf8'), CANARY);
    t.true((await fs.lstat(pid)).isSymbolicLink());
  } finally {
    await tree.cleanup();
  }
});
