/**
 * The host failing under the daemon (issue 17 item 2): a full state dir, a runtime that
 * fails at create, exec or delete, a monitor killed, inotify watches exhausted, a cgroup
 * write and an nft run refused. Each gives a clear errno and an events line, leaves no
 * half-done state, and the tree keeps serving (docs/faults.md).
 */
import test, { type ExecutionContext } from 'ava';
import { promises as fs, readFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { Tree, CLI } from '../helpers/tree.js';
import { sleep, pidAlive, exists, mountsWith } from '../helpers/host.js';
import { instanceId } from '../../src/drivers/cgroups/hierarchy.js';
import { netnsName } from '../../src/drivers/network/host.js';

/** The state dir on a small tmpfs of its own, filled on purpose. */
const space = new Tree('fspace');
/** A runtime wrapper that fails on the subcommand named by a file, otherwise execs runc. */
const rt = new Tree('fruntime', { args: ['--runtime', '__wrapper__'] });
const wrapper = path.join(rt.base, 'runtime.sh');
(rt.options.args as string[])[1] = wrapper;
/** Monitors, inotify, cgroup and nft. */
const host = new Tree('fhost');

test.before(async () => {
  await fs.mkdir(space.state, { mode: 0o700 });
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'wfs-fspace', space.state]);
  await fs.writeFile(wrapper, [
    '#!/bin/sh',
    '# the first word that is a subcommand decides; options and their values come before it',
    'for a in "$@"; do case "$a" in run|exec|delete) sub=$a; break;; esac; done',
    `if [ -n "$sub" ] && [ -e "${rt.base}/fail-$sub" ]; then echo "injected failure of $sub" >&2; exit 1; fi`,
    'exec /usr/sbin/runc "$@"',
    '',
  ].join('\n'), { mode: 0o755 });
  await Promise.all([space.start(), rt.start(), host.start()]);
});

test.after.always(async () => {
  await fs.rm(path.join(space.state, '.filler'), { force: true }).catch(() => undefined);
  await space.stop().catch(() => undefined);
  await execa('fusermount', ['-u', '-z', space.mnt], { reject: false });
  await execa(process.execPath, [CLI, 'reset', '--state-dir', space.state], { reject: false });
  await execa('umount', ['-l', space.state], { reject: false });
  await Promise.all([space.cleanup(), rt.cleanup(), host.cleanup()]);
});

async function until(what: string, cond: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const read = (p: string): Promise<string> => fs.readFile(p, 'utf8');
const ls = async (p: string): Promise<string[]> => (await fs.readdir(p)).sort();

/** One message whose failure is expected: its errno code. */
async function refused(t: ExecutionContext, tree: Tree, file: string, message: string, code: string): Promise<void> {
  const e = await t.throwsAsync(tree.ctl(file, message));
  if ((e as NodeJS.ErrnoException | undefined)?.code !== code) t.log(await read(tree.p('events')).catch(() => ''), await read(path.join(path.dirname(file), 'events')).catch(() => ''));
  t.is((e as NodeJS.ErrnoException | undefined)?.code, code, `${message}: ${e?.message}`);
}

/** Nothing of container NAME on the host: state files, cgroups, mounts, runtime state. */
async function noTrace(t: ExecutionContext, tree: Tree, name: string): Promise<void> {
  t.false(await exists(path.join(tree.state, 'containers', name)), `${name}: no state dir`);
  t.false(await exists(path.join(tree.state, 'runtime', name)), `${name}: no runtime state`);
  for (const h of ['memory', 'pids', 'cpu']) {
    t.false(await exists(`/sys/fs/cgroup/${h}/wardenfs/${instanceId(tree.state)}/${name}`), `${name}: no ${h} cgroup`);
  }
  t.deepEqual(await mountsWith(path.join(tree.state, 'containers', name) + '/'), [], `${name}: no mount`);
}

/** Fill the tmpfs: the filler grows until the kernel says ENOSPC. */
async function fill(): Promise<void> {
  await execa('sh', ['-c', `dd if=/dev/zero of="${space.state}/.filler" bs=64k 2>/dev/null; sync`], { reject: false });
  const df = (await execa('df', ['-B1', '--output=avail', space.state])).stdout.split('\n')[1]!.trim();
  if (Number(df) > 64 * 1024) throw new Error(`the state dir is not full: ${df} bytes free`);
  // tmpfs gives whole pages: the last page of each events file still has room. Take it, so
  // that the daemon's own events lines meet ENOSPC too (and must be kept until there is room).
  for (const file of [path.join(space.state, 'events'), path.join(space.state, 'containers', 'chatty', 'events')]) {
    for (let i = 0; i < 10_000; i++) {
      try {
        appendFileSync(file, 'filler\n');
      } catch {
        break;
      }
    }
  }
}

test.serial('a full state dir: create, run and import fail with ENOSPC and leave nothing; output writes fail, the process lives on; events say so', async (t) => {
  const ctl = space.p('ctl');
  t.is(await space.ctl(ctl, 'create chatty'), 'chatty');
  const c = (...p: string[]) => space.p('containers', 'chatty', ...p);
  const id = await space.ctl(c('ctl'), `run sh -c 'i=0; while :; do echo line $i; i=$((i+1)); sleep 0.05; done'`);
  const out = space.p('procs', 'chatty', id, 'stdout');
  await until('output', async () => (await fs.stat(out)).size > 0);
  const src = path.join(space.base, 'imgsrc');
  await fs.mkdir(path.join(src, 'bin'), { recursive: true });
  await fs.writeFile(path.join(src, 'bin', 'big'), Buffer.alloc(4 * 1024 * 1024, 1));
  await fill();
  try {
    await refused(t, space, ctl, 'create full', 'ENOSPC');
    await refused(t, space, c('ctl'), 'run true', 'ENOSPC');
    await refused(t, space, ctl, `image import img ${src}`, 'ENOSPC');
    t.deepEqual(await ls(space.p('containers')), ['chatty'], 'no half-made container listed');
    t.deepEqual(await ls(space.p('images')), ['busybox'], 'no half-imported image listed');
    t.deepEqual(await ls(space.p('procs', 'chatty')), [id], 'no half-started process');
    // The process writes its output itself: its writes fail (ENOSPC), it is neither blocked nor killed.
    const size = (await fs.stat(out)).size;
    await sleep(600);
    const sizeFull = (await fs.stat(out)).size;
    t.true(sizeFull - size < 4096, 'output does not grow while the state dir is full');
    t.is(await read(space.p('procs', 'chatty', id, 'status')), 'running\n');
    // The tree keeps serving reads
    t.regex(await read(c('status')), /state: active/);
    // The events lines could not be written yet: they wait in memory
    t.notRegex(await read(space.p('events')), /no space/i);
  } finally {
    await fs.rm(path.join(space.state, '.filler'), { force: true });
  }
  await noTrace(t, space, 'full');
  t.false(await exists(path.join(space.state, 'images', 'img')), 'no image left in the state dir');
  // The events lines of the failures, kept while the disk was full, are written once there is room
  await until('events', async () => /error: .*no space/i.test(await read(space.p('events'))));
  const ev = await read(space.p('events'));
  t.regex(ev, /the state dir's filesystem is full/);
  await until('recovery line', async () => /the state dir's filesystem has room again/.test(await read(space.p('events'))));
  // each events file retries on its own (once a second)
  await until('the failed run in the container\'s events', async () => /error: .*no space/i.test(await read(c('events'))));
  // Output resumes, the process is still the same one
  const before = (await fs.stat(out)).size;
  await until('output resumes', async () => (await fs.stat(out)).size > before + 20);
  // Everything works again
  t.is(await space.ctl(ctl, 'create full'), 'full');
  t.is(await space.ctl(ctl, `image import img ${src}`), 'ok');
  const id2 = await space.ctl(c('ctl'), 'run true');
  t.is(await read(space.p('procs', 'chatty', id2, 'wait')), 'exited 0\n');
  await space.ctl(ctl, 'destroy full');
  await space.ctl(ctl, 'destroy chatty');
  await space.ctl(ctl, 'image remove img');
});

test.serial('the runtime fails at create: EIO, an events line, nothing left; the next create works', async (t) => {
  const ctl = rt.p('ctl');
  await fs.writeFile(path.join(rt.base, 'fail-run'), '');
  try {
    await refused(t, rt, ctl, 'create rtc', 'EIO');
    t.deepEqual(await ls(rt.p('containers')), []);
  } finally {
    await fs.rm(path.join(rt.base, 'fail-run'), { force: true });
  }
  await noTrace(t, rt, 'rtc');
  t.regex(await read(rt.p('events')), /error: .*injected failure of run/);
  t.is(await rt.ctl(ctl, 'create rtc'), 'rtc');
  t.regex(await read(rt.p('containers', 'rtc', 'status')), /state: active/);
});

test.serial('the runtime fails at exec: EIO, an events line, no process; the id goes to the next run', async (t) => {
  const c = (...p: string[]) => rt.p('containers', 'rtc', ...p);
  await fs.writeFile(path.join(rt.base, 'fail-exec'), '');
  try {
    await refused(t, rt, c('ctl'), 'run echo hi', 'EIO');
    t.deepEqual(await ls(rt.p('procs', 'rtc')), []);
  } finally {
    await fs.rm(path.join(rt.base, 'fail-exec'), { force: true });
  }
  t.regex(await read(c('events')), /error: .*injected failure of exec/);
  t.deepEqual(await fs.readdir(path.join(rt.state, 'containers', 'rtc', 'procs')).then((l) => l.filter((n) => /^\d+$/.test(n))), [], 'no process directory left');
  const id = await rt.ctl(c('ctl'), 'run echo hi');
  t.is(id, '1');
  t.is(await read(rt.p('procs', 'rtc', id, 'wait')), 'exited 0\n');
  t.is(await read(rt.p('procs', 'rtc', id, 'stdout')), 'hi\n');
});

test.serial('the runtime fails at delete: destroy is EIO and the container stays whole; destroy again removes everything', async (t) => {
  const ctl = rt.p('ctl');
  const c = (...p: string[]) => rt.p('containers', 'rtc', ...p);
  await fs.writeFile(path.join(rt.base, 'fail-delete'), '');
  try {
    await refused(t, rt, ctl, 'destroy rtc', 'EIO');
  } finally {
    await fs.rm(path.join(rt.base, 'fail-delete'), { force: true });
  }
  t.regex(await read(rt.p('events')), /error: .*injected failure of delete/);
  // Either whole or gone, never between: here it is still listed and still usable
  const listed = await ls(rt.p('containers'));
  t.deepEqual(listed, ['rtc']);
  t.regex(await read(c('status')), /state: destroying/);
  await refused(t, rt, c('ctl'), 'run echo again', 'EINVAL');
  t.is(await rt.ctl(ctl, 'destroy rtc'), 'ok');
  t.deepEqual(await ls(rt.p('containers')), []);
  await noTrace(t, rt, 'rtc');
});

test.serial('a monitor killed: the process stays tracked while it runs, then is reported lost, never forgotten', async (t) => {
  const ctl = host.p('ctl');
  await host.ctl(ctl, 'create mon');
  const c = (...p: string[]) => host.p('containers', 'mon', ...p);
  const id = await host.ctl(c('ctl'), 'run sleep 1000');
  const dir = path.join(host.state, 'containers', 'mon', 'procs', id);
  const conmon = Number(readFileSync(path.join(dir, 'conmon.pid'), 'utf8'));
  const pid = Number(await read(host.p('procs', 'mon', id, 'pid')));
  t.true(pidAlive(conmon) && pidAlive(pid));
  process.kill(conmon, 'SIGKILL');
  await until('conmon gone', async () => !pidAlive(conmon));
  await sleep(2500); // two periodic checks
  t.is(await read(host.p('procs', 'mon', id, 'status')), 'running\n', 'still tracked while the process runs');
  t.deepEqual(await ls(host.p('procs', 'mon')), [id]);
  t.is((await read(host.p('procs', 'mon', '.running'))).trim(), id);
  // a reader of wait is still waiting, and learns the end
  const waiting = read(host.p('procs', 'mon', id, 'wait'));
  process.kill(pid, 'SIGKILL');
  t.is(await waiting, 'killed KILL\n');
  t.is(await read(host.p('procs', 'mon', id, 'status')), 'killed KILL\n');
  const ev = await read(c('events'));
  t.regex(ev, new RegExp(`process ${id} lost its exit status\\nprocess ${id} killed KILL\\n`));
  t.is(ev.split('\n').filter((l) => l === `process ${id} killed KILL`).length, 1, 'the end is reported once');
  // the container serves on
  const id2 = await host.ctl(c('ctl'), 'run echo ok');
  t.is(await read(host.p('procs', 'mon', id2, 'wait')), 'exited 0\n');
  await host.ctl(ctl, 'destroy mon');
});

/** Watches root holds now, over every inotify fd of the host. */
async function watchesInUse(): Promise<number> {
  const r = await execa('sh', ['-c', 'cat /proc/[0-9]*/fdinfo/* 2>/dev/null | grep -c "^inotify"'], { reject: false });
  return Number(r.stdout.trim()) || 0;
}

test.serial('inotify watches exhausted: runs, waits and streams follow by the periodic check; events say so once', async (t) => {
  const ctl = host.p('ctl');
  await host.ctl(ctl, 'create watch');
  const c = (...p: string[]) => host.p('containers', 'watch', ...p);
  const key = '/proc/sys/fs/inotify/max_user_watches';
  const saved = (await read(key)).trim();
  let id1 = '';
  let id2 = '';
  const follow: Array<Promise<string>> = [];
  try {
    // Every watch root may hold is taken (other users' are not counted against root's limit)
    await fs.writeFile(key, String(Math.max(1, await watchesInUse() - 64)));
    id1 = await host.ctl(c('ctl'), `run sh -c 'sleep 1; echo one; sleep 1; echo two'`);
    id2 = await host.ctl(c('ctl'), `run sh -c 'sleep 1; exit 3'`);
    // cat reads to EOF (readFile would stop at the size the file had at the open)
    follow.push(execa('cat', [host.p('procs', 'watch', id1, 'stdout')]).then((r) => r.stdout + '\n'), read(host.p('procs', 'watch', id2, 'wait')));
    await sleep(200); // the reads are waiting, their watches refused
  } finally {
    await fs.writeFile(key, saved);
  }
  const started = Date.now();
  const [stdout, wait] = await Promise.all(follow);
  if (stdout !== 'one\ntwo\n') t.log(await read(c('events')), await read(host.p('procs', 'watch', id1, 'status')), await read(host.p('procs', 'watch', id1, 'stdout')), await read(host.p('events')));
  t.is(stdout, 'one\ntwo\n');
  t.is(wait, 'exited 3\n');
  t.true(Date.now() - started < 6000, 'ended by the periodic check within seconds');
  const lines = (await read(host.p('events'))).split('\n').filter((l) => /inotify/.test(l));
  t.is(lines.filter((l) => /watches are exhausted/.test(l)).length, 1, lines.join('\n'));
  t.regex(lines.join('\n'), /periodic check/);
  await host.ctl(ctl, 'destroy watch');
});

test.serial('a cgroup write the kernel refuses (memory.max below what is used): EBUSY, events line, nothing changes', async (t) => {
  const ctl = host.p('ctl');
  await host.ctl(ctl, 'create mem');
  const c = (...p: string[]) => host.p('containers', 'mem', ...p);
  // 24 MB in the container's /dev/shm (tmpfs, charged to its cgroup), no swap on the host: it cannot be reclaimed
  const id = await host.ctl(c('ctl'), `run sh -c 'head -c 24000000 /dev/zero > /dev/shm/x; echo held; sleep 1000'`);
  await until('memory held', async () => (await read(host.p('procs', 'mem', id, 'stdout.now'))) === 'held\n', 20_000);
  const before = await read(c('cgroup', 'memory.max'));
  const record = await read(path.join(host.state, 'containers', 'mem', 'container.json'));
  const e = await t.throwsAsync(fs.writeFile(c('cgroup', 'memory.max'), '4M\n'));
  t.is((e as NodeJS.ErrnoException).code, 'EBUSY', e?.message);
  t.is(await read(c('cgroup', 'memory.max')), before);
  t.is(await read(path.join(host.state, 'containers', 'mem', 'container.json')), record, 'the record is unchanged');
  t.regex(await read(c('events')), /error: the kernel refused memory\.(max|limit_in_bytes) = 4194304: in use/);
  t.is(await read(host.p('procs', 'mem', id, 'status')), 'running\n');
  await fs.writeFile(c('cgroup', 'memory.max'), '512M\n');
  t.regex(await read(c('events')), /limit memory\.max=/);
  await host.ctl(ctl, 'destroy mem');
});

test.serial('an nft run the kernel refuses: EIO, events line, the rules stay as they were; the next write applies', async (t) => {
  const ctl = host.p('ctl');
  await host.ctl(ctl, "create nfr rules='allow tcp 10.9.9.0/24 80'");
  const c = (...p: string[]) => host.p('containers', 'nfr', ...p);
  const ns = netnsName(instanceId(host.state), 'nfr');
  const nsArgs = (await exists(`/run/netns/${ns}`)) ? ['netns', 'exec', ns] : null;
  t.truthy(nsArgs, `the container's netns ${ns} is named`);
  // Replace the table in the container's namespace by one owned by another process: the
  // kernel then refuses every change to it from anyone else (EPERM), as it would a bad rule.
  await execa('ip', [...nsArgs!, '/usr/sbin/nft', 'delete', 'table', 'inet', 'wardenfs']);
  const owner = spawn('ip', [...nsArgs!, '/usr/sbin/nft', '-i'], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    owner.stdin!.write('add table inet wardenfs { flags owner; }\nadd chain inet wardenfs output { type filter hook output priority 0; policy drop; }\n');
    await until('owner table', async () => (await execa('ip', [...nsArgs!, '/usr/sbin/nft', 'list', 'table', 'inet', 'wardenfs'], { reject: false })).exitCode === 0);
    const rules = await read(c('net', 'rules'));
    t.regex(rules, /10\.9\.9\.0\/24/);
    const e = await t.throwsAsync(fs.writeFile(c('net', 'rules'), 'allow tcp 10.8.8.0/24 443\n'));
    t.is((e as NodeJS.ErrnoException).code, 'EIO', e?.message);
    t.is(await read(c('net', 'rules')), rules, 'the rules are unchanged');
    t.regex(await read(c('events')), /error: nft refused the egress rules: Error: Could not process rule: Operation not permitted/);
  } finally {
    owner.kill('SIGKILL');
  }
  await until('owner gone', async () => (await execa('ip', [...nsArgs!, '/usr/sbin/nft', 'list', 'table', 'inet', 'wardenfs'], { reject: false })).exitCode !== 0);
  await fs.writeFile(c('net', 'rules'), 'allow tcp 10.8.8.0/24 443\n');
  t.regex(await read(c('net', 'rules')), /^allow tcp 10\.8\.8\.0\/24 443\n$/);
  const list = await execa('ip', [...nsArgs!, '/usr/sbin/nft', 'list', 'table', 'inet', 'wardenfs']);
  t.regex(list.stdout, /10\.8\.8\.0\/24/);
  await host.ctl(ctl, 'destroy nfr');
});
