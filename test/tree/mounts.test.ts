/** Bind mounts from the host (docs/interface.md, containers/NAME/mounts), given at create and changed live. */
import test from 'ava';
import { promises as fs, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tree } from '../helpers/tree.js';
import { sleep } from '../helpers/host.js';

const tree = new Tree('mounts');
// Host directories to mount, outside the tree's state dir (o+x so that a container's ids pass).
const host = mkdtempSync(path.join(os.tmpdir(), 'wfs-mounts-host-'));
test.before(async () => {
  await fs.chmod(host, 0o755);
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
  await fs.rm(host, { recursive: true, force: true });
});

const c = (name: string, ...p: string[]): string => tree.p('containers', name, ...p);

async function hostDir(name: string, file: string, text: string, mode = 0o755): Promise<string> {
  const d = path.join(host, name);
  await fs.mkdir(d, { recursive: true });
  await fs.chmod(d, mode);
  await fs.writeFile(path.join(d, file), text);
  return d;
}

/** Run `sh -c SCRIPT` in the container; its exit status and output. */
async function inside(name: string, script: string): Promise<{ wait: string; out: string; err: string }> {
  const id = await tree.ctl(c(name, 'ctl'), `run sh -c '${script.replace(/'/g, "''")}'`);
  const wait = await fs.readFile(c(name, 'procs', id, 'wait'), 'utf8');
  return { wait: wait.trim(), out: await fs.readFile(c(name, 'procs', id, 'stdout'), 'utf8'), err: await fs.readFile(c(name, 'procs', id, 'stderr'), 'utf8') };
}

/** Append one line to a container's mounts with one write, as `echo LINE >>` does; the errno or 'ok'. */
async function append(name: string, line: string): Promise<string> {
  try {
    await fs.appendFile(c(name, 'mounts'), line + '\n');
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

async function eventually(t: { fail(m: string): void }, what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (await check()) return;
    await sleep(100);
  }
  t.fail(`not seen: ${what}`);
}

test.serial('a mount given at create is seen inside, read-only unless :rw', async (t) => {
  const ro = await hostDir('ro', 'hello', 'from the host\n');
  const rw = await hostDir('rw', 'x', 'x\n', 0o777);
  t.is(await tree.ctl(tree.p('ctl'), `create m1 mount=${ro}:/data mount=${rw}:/srv/rw:rw`), 'm1');
  t.is(await fs.readFile(c('m1', 'mounts'), 'utf8'), `${ro}:/data:ro\n${rw}:/srv/rw:rw\n`);
  const r = await inside('m1', 'cat /data/hello');
  t.is(r.out, 'from the host\n');
  // read-only: the kernel refuses the write (EROFS)
  const w = await inside('m1', 'echo no > /data/new');
  t.not(w.wait, 'exited 0');
  t.regex(w.err, /Read-only file system/);
  await t.throwsAsync(fs.access(path.join(ro, 'new')));
  // :rw writes land on the host
  t.is((await inside('m1', 'echo yes > /srv/rw/new')).wait, 'exited 0');
  t.is(await fs.readFile(path.join(rw, 'new'), 'utf8'), 'yes\n');
  // not idmapped: host root's files are nobody's inside; what the container's root makes is its host id's
  t.is((await inside('m1', 'stat -c %u:%g /data/hello')).out, '65534:65534\n');
  const base = Number(/uid (\d+)/.exec((await tree.status('m1'))['user namespace']!)![1]);
  t.is((await fs.stat(path.join(rw, 'new'))).uid, base);
  // the mount is in the container's namespace, not on the host's view of its layer
  const mi = await fs.readFile('/proc/self/mountinfo', 'utf8');
  t.false(mi.includes(`${tree.state}/containers/m1/rootfs/data`));
});

test.serial('>> adds a mount a running process sees; removing the line unmounts it', async (t) => {
  const d = await hostDir('live', 'f', 'live data\n');
  await tree.ctl(tree.p('ctl'), 'create m2');
  // a process started before the mount, reading the file once in a while
  const id = await tree.ctl(c('m2', 'ctl'), `run sh -c 'while true; do cat /live/f 2>/dev/null || echo none; sleep 0.1; done'`);
  const out = (): Promise<string> => fs.readFile(c('m2', 'procs', id, 'stdout.now'), 'utf8');
  await eventually(t, 'none before', async () => (await out()).includes('none\n'));
  const r = await tree.sh(`echo '${d}:/live' >> "$M/containers/m2/mounts"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await fs.readFile(c('m2', 'mounts'), 'utf8'), `${d}:/live:ro\n`);
  await eventually(t, 'the file through the new mount', async () => (await out()).includes('live data\n'));
  // removing the line unmounts it: the process sees it gone
  const before = (await out()).length;
  t.is((await tree.sh(`: > "$M/containers/m2/mounts"`)).exitCode, 0);
  t.is(await fs.readFile(c('m2', 'mounts'), 'utf8'), '');
  await eventually(t, 'none after removal', async () => (await out()).slice(before).includes('none\n'));
  const events = await fs.readFile(c('m2', 'events'), 'utf8');
  t.regex(events, new RegExp(`mounted ${d}:/live:ro`));
  t.regex(events, new RegExp(`unmounted ${d}:/live:ro`));
  await fs.writeFile(c('m2', 'procs', id, 'ctl'), 'kill KILL\n');
});

test.serial('bad lines are refused with EINVAL and change nothing', async (t) => {
  const d = await hostDir('bad', 'f', 'f\n');
  await tree.ctl(tree.p('ctl'), `create m3 mount=${d}:/keep`);
  const before = await fs.readFile(c('m3', 'mounts'), 'utf8');
  const bad = [
    'relative/path:/x', `${d}:relative`, `${d}/../bad:/x`, `${d}:/a/../b`, `${d}:/x:rx`, `${d}:/`,
    `${d}:/proc/x`, `${d}:/dev/x`, `${tree.state}:/state`, `${path.dirname(tree.state)}:/above`, `${tree.mnt}:/tree`,
    `${d}:/keep/sub`,
  ];
  for (const line of bad) {
    t.is(await append('m3', line), 'EINVAL', line);
    t.is(await fs.readFile(c('m3', 'mounts'), 'utf8'), before, line);
  }
  // a host path that is not there: ENOENT
  t.is(await append('m3', `${host}/nothing:/x`), 'ENOENT');
  t.is(await fs.readFile(c('m3', 'mounts'), 'utf8'), before);
  // a symlink on the host to the state dir is refused too (the real path counts)
  await fs.symlink(tree.state, path.join(host, 'to-state'));
  t.is(await append('m3', `${host}/to-state:/x`), 'EINVAL');
  t.regex(await fs.readFile(c('m3', 'events'), 'utf8'), /state dir/);
  // create refuses them too, and makes nothing
  const cr = await tree.sh(`echo 'create m3b mount=${tree.state}:/s' > "$M/ctl"`);
  t.not(cr.exitCode, 0);
  t.false((await fs.readdir(tree.p('containers'))).includes('m3b'));
  t.is((await inside('m3', 'cat /keep/f')).out, 'f\n');
});

test.serial('a symbolic link planted at the path in the container does not redirect the mount', async (t) => {
  const d = await hostDir('sym', 'secret', 'mounted\n');
  const victim = await hostDir('victim', 'v', 'victim\n');
  await tree.ctl(tree.p('ctl'), 'create m4');
  // the container plants links: an absolute one to a host path, and one inside its root
  t.is((await inside('m4', `ln -s ${victim} /evil && mkdir -p /real && ln -s /real /inroot`)).wait, 'exited 0');
  for (const at of ['/evil', '/inroot', '/evil/sub']) {
    t.is(await append('m4', `${d}:${at}`), 'EINVAL', at);
  }
  t.is(await fs.readFile(c('m4', 'mounts'), 'utf8'), '');
  // nothing mounted on the host's victim, nothing changed there
  t.deepEqual(await fs.readdir(victim), ['v']);
  t.false((await fs.readFile('/proc/self/mountinfo', 'utf8')).includes(victim));
  t.is((await inside('m4', 'ls /real')).out, '');
});

test.serial('the table survives a restart of the daemon, and the mount stays', async (t) => {
  const d = await hostDir('keep', 'k', 'kept\n');
  await tree.ctl(tree.p('ctl'), `create m5 mount=${d}:/k:rw`);
  await tree.stop();
  await tree.start();
  t.is(await fs.readFile(c('m5', 'mounts'), 'utf8'), `${d}:/k:rw\n`);
  t.is((await inside('m5', 'cat /k/k')).out, 'kept\n');
  // and it can still be removed
  t.is((await tree.sh(`: > "$M/containers/m5/mounts"`)).exitCode, 0);
  t.not((await inside('m5', 'cat /k/k')).wait, 'exited 0');
});

test.serial('a host file is mounted on a file, made in the layer owned by the container root', async (t) => {
  const d = await hostDir('file', 'greeting', 'hello file\n');
  await tree.ctl(tree.p('ctl'), `create m6 mount=${d}/greeting:/etc/greeting`);
  t.is((await inside('m6', 'cat /etc/greeting')).out, 'hello file\n');
  t.is((await inside('m6', 'stat -c %u /etc')).out, '0\n');
  // a file over a directory is refused
  t.is(await append('m6', `${d}/greeting:/etc`), 'EINVAL');
  t.is(await fs.readFile(c('m6', 'mounts'), 'utf8'), `${d}/greeting:/etc/greeting:ro\n`);
});

test.serial('an init started again (host reboot) gets its mounts again', async (t) => {
  const d = await hostDir('reboot', 'r', 'after reboot\n');
  await tree.ctl(tree.p('ctl'), `create m7 mount=${d}:/r`);
  const before = await tree.status('m7');
  await tree.stop();
  process.kill(Number(before.pid), 'SIGKILL');
  await tree.start();
  const after = await tree.status('m7');
  t.not(after.pid, before.pid);
  t.regex(await fs.readFile(c('m7', 'events'), 'utf8'), /^restarted pid=/m);
  t.is((await inside('m7', 'cat /r/r')).out, 'after reboot\n');
});
