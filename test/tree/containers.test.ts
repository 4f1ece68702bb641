/** Containers through the mounted tree: create, list, inspect, isolate, destroy (docs/interface.md §3, §4, §6, §7). */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { Tree } from '../helpers/tree.js';
import { pidAlive, mountsWith, cgroupDirsOf, exists, nsOf, sleep } from '../helpers/host.js';

const tree = new Tree('containers');

test.before(async () => {
  await tree.start();
});

test.after.always(async () => {
  await tree.cleanup();
});

const events = (name?: string) => fs.readFile(name ? tree.p('containers', name, 'events') : tree.p('events'), 'utf8');

test('create by message with echo: listed, active, its init in its own namespaces and cgroup', async (t) => {
  const r = await tree.sh('echo "create web" > "$M/ctl"');
  t.is(r.exitCode, 0, r.stderr);
  t.true((await fs.readdir(tree.p('containers'))).includes('web'));
  const ls = await tree.sh('ls "$M/containers"');
  t.true(ls.stdout.split('\n').includes('web'));

  const st = await tree.status('web');
  t.is(st.name, 'web');
  t.is(st.state, 'active');
  t.is(st.image, 'busybox');
  t.regex(st.created!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.true(st.address!.startsWith(`${tree.net}.`) && st.address!.endsWith('/24'), st.address);
  const pid = Number(st.pid);
  t.true(pid > 1 && pidAlive(pid));
  for (const ns of ['mnt', 'pid', 'uts', 'ipc', 'net']) {
    t.not(await nsOf(pid, ns), await nsOf('self', ns), `${ns} namespace is the host's`);
  }
  // hostname = name, seen from inside the container's uts namespace (by a process run there)
  const C = (...p: string[]) => tree.p('containers', 'web', ...p);
  for (const cmd of ['hostname', 'cat /proc/sys/kernel/hostname']) {
    const id = await tree.ctl(C('ctl'), `run ${cmd}`);
    t.is(await fs.readFile(C('procs', id, 'wait'), 'utf8'), 'exited 0\n', cmd);
    t.is(await fs.readFile(C('procs', id, 'stdout'), 'utf8'), 'web\n', cmd);
  }
  t.not(os.hostname(), 'web', 'the host has its own');
  const cg = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8');
  t.regex(cg, /\/wardenfs\/[0-9a-f]+\/web$/m);
  t.regex(await events('web'), /^created/m);
});

test('create by mkdir', async (t) => {
  await fs.mkdir(tree.p('containers', 'made-by-mkdir'));
  const st = await tree.status('made-by-mkdir');
  t.is(st.state, 'active');
  t.true(pidAlive(Number(st.pid)));
});

test('a generated name is read back on the same open file, after the write and from byte 0', async (t) => {
  const name = await tree.ctl(tree.p('ctl'), 'create');
  t.regex(name, /^[A-Za-z0-9][A-Za-z0-9_.-]*$/);
  t.true((await fs.readdir(tree.p('containers'))).includes(name));

  // A shell's read after `echo >&3` on an fd opened with <> reads on from where the write ended.
  const r = await tree.sh('exec 3<>"$M/ctl"; echo create >&3; read name <&3; echo "$name"; test -d "$M/containers/$name"');
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout.trim(), /^[A-Za-z0-9][A-Za-z0-9_.-]*$/);
  t.not(r.stdout.trim(), name);
});

test('reading a ctl that was not written gives a usage text', async (t) => {
  t.regex(await fs.readFile(tree.p('ctl'), 'utf8'), /^create \[NAME\]/m);
});

test('a container with no process stays active', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create idle');
  const pid = Number((await tree.status('idle')).pid);
  await sleep(2500);
  const st = await tree.status('idle');
  t.is(st.state, 'active');
  t.is(Number(st.pid), pid);
  t.true(pidAlive(pid));
});

test('errors: duplicate EEXIST, bad name and unknown message EINVAL, each logged in events', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create dup');
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'create dup\n'), { code: 'EEXIST' });
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'create bad/name\n'), { code: 'EINVAL' });
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'create .hidden\n'), { code: 'EINVAL' });
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'frobnicate x\n'), { code: 'EINVAL' });
  await t.throwsAsync(fs.mkdir(tree.p('containers', 'dup')), { code: 'EEXIST' });
  const ev = await events();
  t.true(ev.includes('error: container "dup" exists\n'));
  t.regex(ev, /^error: bad container name "bad\/name"/m);
  t.true(ev.includes('error: unknown message "frobnicate x"\n'));
  // The container's own ctl logs to the container's events.
  await t.throwsAsync(fs.writeFile(tree.p('containers', 'dup', 'ctl'), 'launch\n'), { code: 'EINVAL' });
  t.true((await events('dup')).includes('error: unknown message "launch"\n'));
  // The same error text is read back on the open file that failed.
  const fh = await fs.open(tree.p('ctl'), 'r+');
  await t.throwsAsync(fh.write('create dup\n'), { code: 'EEXIST' });
  const { bytesRead, buffer } = await fh.read(Buffer.alloc(200), 0, 200, 0);
  await fh.close();
  t.is(buffer.subarray(0, bytesRead).toString(), 'error: container "dup" exists\n');
  // A shell user sees the failure too.
  const r = await tree.sh('bash -c \'echo "create dup" > "$M/ctl"\'');
  t.not(r.exitCode, 0);
  t.regex(r.stderr, /File exists/);
});

test('several messages in one write run in order and stop at the first failure', async (t) => {
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'create multi1\ncreate multi1\ncreate multi2\n'), { code: 'EEXIST' });
  const names = await fs.readdir(tree.p('containers'));
  t.true(names.includes('multi1'));
  t.false(names.includes('multi2'));
});

test('a failed create leaves nothing half-made', async (t) => {
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'create ghost image=nosuchimage\n'), { code: 'ENOENT' });
  t.false((await fs.readdir(tree.p('containers'))).includes('ghost'));
  t.false(await exists(path.join(tree.state, 'containers', 'ghost')));
  t.false(await exists(path.join(tree.state, 'runtime', 'ghost')));
  t.deepEqual(await mountsWith(path.join(tree.state, 'containers', 'ghost')), []);
});

test('rootfs/: what one container writes is invisible to another and to the image; deletes too', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create iso-a');
  await tree.ctl(tree.p('ctl'), 'create iso-b');
  const a = (...p: string[]) => tree.p('containers', 'iso-a', 'rootfs', ...p);
  const b = (...p: string[]) => tree.p('containers', 'iso-b', 'rootfs', ...p);
  const img = (...p: string[]) => tree.p('images', 'busybox', 'rootfs', ...p);

  await fs.writeFile(a('tmp', 'secret'), 'only in a\n');
  t.is(await fs.readFile(a('tmp', 'secret'), 'utf8'), 'only in a\n');
  t.false(await exists(b('tmp', 'secret')));
  t.false(await exists(img('tmp', 'secret')));
  t.false(await exists(path.join(tree.state, 'images', 'busybox', 'rootfs', 'tmp', 'secret')));

  // The container's own processes see the host's write (through its root).
  const pidA = Number((await tree.status('iso-a')).pid);
  t.is(await fs.readFile(`/proc/${pidA}/root/tmp/secret`, 'utf8'), 'only in a\n');

  await fs.rm(a('etc', 'hostname'));
  t.false(await exists(a('etc', 'hostname')));
  t.true(await exists(b('etc', 'hostname')));
  t.true(await exists(img('etc', 'hostname')));

  // cp from the shell, as a user does
  const r = await tree.sh('cp "$M/images/busybox/rootfs/etc/passwd" "$M/containers/iso-b/rootfs/tmp/p" && cat "$M/containers/iso-b/rootfs/tmp/p"');
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^root:x:0:0/);
});

test('the image is not writable through the tree', async (t) => {
  const img = (...p: string[]) => tree.p('images', 'busybox', 'rootfs', ...p);
  t.deepEqual(await fs.readdir(tree.p('images')), ['busybox']);
  await t.throwsAsync(fs.writeFile(img('tmp', 'x'), 'no'), { code: 'EROFS' });
  await t.throwsAsync(fs.rm(img('etc', 'passwd')), { code: 'EROFS' });
  await t.throwsAsync(fs.appendFile(img('etc', 'passwd'), 'evil'), { code: 'EROFS' });
  await t.throwsAsync(fs.mkdir(img('newdir')), { code: 'EROFS' });
  t.regex(await fs.readFile(img('etc', 'passwd'), 'utf8'), /^root:x:0:0/);
});

async function assertGone(t: import('ava').ExecutionContext, name: string, pid: number, cgroups: string[]): Promise<void> {
  t.false((await fs.readdir(tree.p('containers'))).includes(name));
  await t.throwsAsync(fs.stat(tree.p('containers', name)), { code: 'ENOENT' });
  for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
  t.false(pidAlive(pid), 'init process still alive');
  t.deepEqual(await mountsWith(path.join(tree.state, 'containers', name)), [], 'overlay still mounted');
  for (const d of cgroups) t.false(await exists(d), `cgroup ${d} left behind`);
  t.false(await exists(path.join(tree.state, 'runtime', name)), 'runtime state left behind');
  t.false(await exists(path.join(tree.state, 'containers', name)), 'state left behind');
}

test('destroy by global message, by container message and by rmdir leaves nothing behind', async (t) => {
  for (const [name, how] of [['gone1', 'global'], ['gone2', 'container'], ['gone3', 'rmdir']] as const) {
    await tree.ctl(tree.p('ctl'), `create ${name}`);
    const pid = Number((await tree.status(name)).pid);
    const cgroups = await cgroupDirsOf(pid);
    t.true(cgroups.some((d) => d.endsWith(`/${name}`)));
    if (how === 'global') t.is(await tree.ctl(tree.p('ctl'), `destroy ${name}`), 'ok');
    else if (how === 'container') await fs.writeFile(tree.p('containers', name, 'ctl'), 'destroy\n');
    else await fs.rmdir(tree.p('containers', name));
    await assertGone(t, name, pid, cgroups);
  }
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'destroy gone1\n'), { code: 'ENOENT' });
  await t.throwsAsync(fs.rmdir(tree.p('containers', 'gone1')), { code: 'ENOENT' });
});

test('node readFile and cp read status whole (exact size)', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create sized');
  const text = await fs.readFile(tree.p('containers', 'sized', 'status'), 'utf8');
  t.regex(text, /^name: sized\n[\s\S]*processes: .*\n$/);
  const st = await fs.stat(tree.p('containers', 'sized', 'status'));
  t.is(st.size, Buffer.byteLength(text));
  const copy = path.join(tree.base, 'status.copy');
  const r = await tree.sh(`cp "$M/containers/sized/status" "${copy}"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await fs.readFile(copy, 'utf8'), text);
});

test('generated files read in pieces, at offsets and by many readers at once give the same bytes as a whole read', async (t) => {
  await fs.writeFile(tree.p('ctl'), 'create pieces net=none\n');
  const file = tree.p('containers', 'pieces', 'status');
  const whole = await fs.readFile(file);
  t.regex(whole.toString(), /^name: pieces\n/);
  // 3-byte reads from one open file, then reads at offsets, past the end included
  const fh = await fs.open(file, 'r');
  try {
    const parts: Buffer[] = [];
    for (let pos = 0; ; pos += 3) {
      const b = Buffer.alloc(3);
      const { bytesRead } = await fh.read(b, 0, 3, pos);
      if (bytesRead === 0) break;
      parts.push(b.subarray(0, bytesRead));
    }
    t.deepEqual(Buffer.concat(parts), whole);
    const b = Buffer.alloc(10);
    t.is((await fh.read(b, 0, 10, 6)).bytesRead, 10);
    t.deepEqual(b, whole.subarray(6, 16));
    t.is((await fh.read(b, 0, 10, whole.length)).bytesRead, 0);
    t.is((await fh.read(b, 0, 10, whole.length + 1000)).bytesRead, 0);
  } finally {
    await fh.close();
  }
  // 50 readers at once of a cgroup value and of the status
  const reads = await Promise.all(Array.from({ length: 50 }, (_, i) => fs.readFile(i % 2 ? file : tree.p('containers', 'pieces', 'cgroup', 'pids.max'), 'utf8')));
  for (const [i, r] of reads.entries()) t.is(r, i % 2 ? whole.toString() : '4096\n'); // the default pids.max
  await fs.writeFile(tree.p('ctl'), 'destroy pieces\n');
});
