/**
 * The Debian package (scripts/package.sh, docs/operating.md): built once from a clean clone
 * of this checkout's HEAD (about a minute), then looked at with dpkg-deb and lintian,
 * installed into scratch roots, and upgraded under a running tree.
 *
 * A scratch root is an overlay whose lower layer is the host's root filesystem and whose
 * upper layer is a tmpfs: dpkg runs chrooted in it with the host's package database, so the
 * Depends are checked against real packages and the maintainer scripts run for real, and
 * nothing reaches the host's own /usr, /etc or /var/lib/dpkg. Root only.
 */
import test from 'ava';
import { execa } from 'execa';
import { promises as fs, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { PROJECT, Tree } from '../helpers/tree.js';
import { pidAlive, sleep } from '../helpers/host.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'wfs-pkg-'));
let deb = '';
const pkgVersion = (JSON.parse(await fs.readFile(path.join(PROJECT, 'package.json'), 'utf8')) as { version: string }).version;

/** Tools of the checks, not dependencies of wardenfs: installed when missing (lintian brings man-db). */
async function ensureTools(): Promise<void> {
  const want = { lintian: 'lintian', man: 'man-db', 'systemd-analyze': 'systemd' };
  const missing: string[] = [];
  for (const [program, pkg] of Object.entries(want)) {
    if ((await execa('sh', ['-c', `command -v ${program}`], { reject: false })).exitCode !== 0) missing.push(pkg);
  }
  if (missing.length) {
    await execa('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
  }
}

test.before(async () => {
  await ensureTools();
  // A clean clone: what is committed builds, with nothing from this checkout's node_modules or dist.
  await execa('git', ['clone', '-q', PROJECT, path.join(work, 'clone')]);
  const r = await execa('bash', ['scripts/package.sh', path.join(work, 'out')], { cwd: path.join(work, 'clone'), all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`npm run package failed:\n${r.all}`);
  deb = r.stdout.trim().split('\n').pop()!;
});

test.after.always(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** A copy-on-write root over the host's (see the top of the file), with /proc and /dev. */
class ScratchRoot {
  readonly base = mkdtempSync(path.join(os.tmpdir(), 'wfs-scratch-'));
  readonly root = path.join(this.base, 'root');

  async make(): Promise<void> {
    await execa('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', this.base]);
    for (const d of ['upper', 'work', 'root']) await fs.mkdir(path.join(this.base, d));
    await execa('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=/,upperdir=${this.base}/upper,workdir=${this.base}/work`, this.root]);
    await execa('mount', ['-t', 'proc', 'proc', path.join(this.root, 'proc')]);
    await execa('mount', ['--rbind', '/dev', path.join(this.root, 'dev')]);
    await execa('mount', ['--make-rslave', path.join(this.root, 'dev')]);
    await fs.copyFile(deb, path.join(this.root, 'tmp/wardenfs.deb'));
  }

  chroot(...args: string[]) {
    return execa('chroot', [this.root, ...args], { reject: false, all: true, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
  }

  p(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  async cleanup(): Promise<void> {
    await execa('umount', ['-R', this.root], { reject: false });
    await execa('umount', [this.base], { reject: false });
    await fs.rm(this.base, { recursive: true, force: true });
  }
}

/** `p`, or a failure after `ms`: a hang fails this test (and its teardown runs) instead of timing out the file. */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function scratch(t: { teardown: (fn: () => Promise<void>) => void }): Promise<ScratchRoot> {
  const s = new ScratchRoot();
  t.teardown(() => s.cleanup());
  await s.make();
  return s;
}

test.serial('dpkg-deb shows the launcher, the unit, the man page, the conffile and the Depends', async (t) => {
  t.is(path.basename(deb), `wardenfs_${pkgVersion}_amd64.deb`);
  const info = (await execa('dpkg-deb', ['--info', deb])).stdout;
  t.regex(info, new RegExp(`^ Version: ${pkgVersion.replace(/\./g, '\\.')}$`, 'm'));
  const depends = /^ Depends: (.*)$/m.exec(info)?.[1] ?? '';
  for (const p of ['nodejs (>= 20)', 'libfuse2', 'fuse', 'runc', 'conmon', 'catatonit', 'busybox-static', 'iproute2', 'nftables', 'libc6']) {
    t.true(depends.split(', ').some((d) => d.startsWith(p)), `Depends names ${p}: ${depends}`);
  }
  t.is((await execa('dpkg-deb', ['--field', deb, 'Recommends'])).stdout, 'crun, xz-utils, bzip2, zstd');
  t.is((await execa('dpkg-deb', ['--info', deb, 'conffiles'])).stdout, '/etc/default/wardenfs');
  const contents = (await execa('dpkg-deb', ['--contents', deb])).stdout;
  const entry = (p: string) => new RegExp(`^(\\S+) root/root .* \\./${p.replace(/[.]/g, '\\.')}$`, 'm').exec(contents)?.[1];
  t.is(entry('usr/bin/wardenfs'), '-rwxr-xr-x');
  t.is(entry('lib/systemd/system/wardenfs.service'), '-rw-r--r--');
  t.is(entry('usr/share/man/man8/wardenfs.8.gz'), '-rw-r--r--');
  t.is(entry('etc/default/wardenfs'), '-rw-r--r--');
  t.is(entry('usr/lib/wardenfs/node_modules/fuse-native/build/Release/fuse.node'), '-rw-r--r--');
  t.is(entry('usr/lib/wardenfs/native/rootfs/build/Release/rootfs.node'), '-rw-r--r--');
  t.is(entry('usr/lib/wardenfs/proto/runtime-v1.proto'), '-rw-r--r--', 'the CRI face\'s .proto (src/cri/server.ts)');
  t.is(entry('usr/share/doc/wardenfs/copyright'), '-rw-r--r--');
  // no dev dependency, no test, no prebuilt (unpatched) binding, no bundled libfuse
  for (const bad of ['node_modules/ava/', 'node_modules/typescript/', 'dist/test/', 'fuse-native/prebuilds/', 'libfuse.so', '/mnt/']) {
    t.false(contents.includes(bad), `no ${bad} in the package`);
  }
});

test.serial('lintian finds no error and no warning', async (t) => {
  const r = await execa('lintian', ['--fail-on', 'error,warning', '--no-tag-display-limit', deb], { reject: false, all: true });
  t.is(r.exitCode, 0, r.all);
  t.notRegex(r.stdout, /^[EW]: /m);
});

test.serial('it installs into a scratch root: the launcher runs, the unit is enabled and systemd-analyze verify accepts it', async (t) => {
  const s = await scratch(t);
  const inst = await s.chroot('dpkg', '-i', '/tmp/wardenfs.deb');
  t.is(inst.exitCode, 0, inst.all);
  t.notRegex(inst.all, /dependency problems|error/i);
  const v = await s.chroot('wardenfs', '--version');
  t.is(v.all, `wardenfs ${pkgVersion}`);
  const h = await s.chroot('wardenfs', 'mount', '--help');
  t.is(h.exitCode, 0);
  t.regex(h.stdout, /^usage:\n  wardenfs mount \[MOUNTPOINT\]/);
  t.is(await fs.readlink(s.p('etc/systemd/system/multi-user.target.wants/wardenfs.service')), '/lib/systemd/system/wardenfs.service');
  // The man page renders without a warning and says what --help says.
  const man = await execa('sh', ['-c', `MANWIDTH=200 man --warnings -l ${s.p('usr/share/man/man8/wardenfs.8.gz')}`], { reject: false, all: true, env: { LANG: 'C' } });
  t.is(man.exitCode, 0);
  t.notRegex(man.stderr, /warning/);
  for (const flag of ['--state-dir DIR', '--runtime runc|crun|PATH', '--default-pids-max N|max', 'wardenfs unmount MOUNTPOINT']) t.true(man.stdout.includes(flag), flag);

  const verify = await s.chroot('systemd-analyze', 'verify', '/lib/systemd/system/wardenfs.service');
  t.is(verify.exitCode, 0);
  t.is(verify.all, '', 'no warning either');
  // verify does read it: a broken copy is reported (it exits 0 on a warning, hence the empty output above)
  const unit = await fs.readFile(s.p('lib/systemd/system/wardenfs.service'), 'utf8');
  await fs.writeFile(s.p('tmp/broken.service'), unit.replace('Type=notify', 'Type=notifyy'));
  t.regex((await s.chroot('systemd-analyze', 'verify', '/tmp/broken.service')).all, /notifyy/);
  t.regex(unit, /^Type=notify$/m);
  t.regex(unit, /^KillMode=process$/m);
  t.regex(unit, /^RestartPreventExitStatus=2$/m);
  t.regex(unit, /^Restart=on-failure$/m);
  t.regex(unit, /^EnvironmentFile=-\/etc\/default\/wardenfs$/m);

  // remove keeps the conffile and masks the unit; purge takes both away
  const rm = await s.chroot('dpkg', '-r', 'wardenfs');
  t.is(rm.exitCode, 0, rm.all);
  await t.throwsAsync(fs.access(s.p('usr/bin/wardenfs')));
  await t.throwsAsync(fs.access(s.p('usr/lib/wardenfs')));
  await fs.access(s.p('etc/default/wardenfs'));
  t.is(await fs.readlink(s.p('etc/systemd/system/wardenfs.service')), '/dev/null');
  const purge = await s.chroot('dpkg', '--purge', 'wardenfs');
  t.is(purge.exitCode, 0, purge.all);
  await t.throwsAsync(fs.access(s.p('etc/default/wardenfs')));
  await t.throwsAsync(fs.lstat(s.p('etc/systemd/system/wardenfs.service')));
  await t.throwsAsync(fs.lstat(s.p('etc/systemd/system/multi-user.target.wants/wardenfs.service')));
});

/** A datagram socket like systemd's NOTIFY_SOCKET, read by python3 (Node has no AF_UNIX datagrams): each message with its sender's pid. */
function notifyListener(socket: string): { child: ChildProcess; messages: Array<{ pid: number; msg: string }>; listening: Promise<void> } {
  const script = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print("listening", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = [struct.unpack("iII", d[:12])[0] for (l, ty, d) in anc if l == socket.SOL_SOCKET and ty == socket.SCM_CREDENTIALS]
    print(json.dumps({"pid": pid[0] if pid else 0, "msg": msg.decode()}), flush=True)
`;
  const child = spawn('python3', ['-c', script, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: Array<{ pid: number; msg: string }> = [];
  let buf = '';
  const listening = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the notify listener exited (${code})`)));
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === 'listening') resolve();
        else messages.push(JSON.parse(line) as { pid: number; msg: string });
      }
    });
  });
  return { child, messages, listening };
}

test.serial('containers survive a package upgrade under a running tree; the daemon says READY=1 from its own pid', async (t) => {
  const s = await scratch(t);
  t.is((await s.chroot('dpkg', '-i', '/tmp/wardenfs.deb')).exitCode, 0);
  // As systemd would run it, minus systemd (not PID 1 here): the installed launcher, a NOTIFY_SOCKET.
  const socket = path.join(s.base, 'notify.sock');
  const listener = notifyListener(socket);
  t.teardown(async () => { listener.child.kill(); });
  await listener.listening;
  const launcher = [s.p('usr/bin/wardenfs')];
  const tree = new Tree('pkgup', { launcher, env: { NOTIFY_SOCKET: socket } });
  t.teardown(() => tree.cleanup());
  await tree.start();
  const daemon1 = tree.daemon!.pid!;
  // The first start's long step says what it does, on stderr (and to systemd as STATUS=).
  t.regex(tree.log, /^wardenfs: building image \S+ from busybox-static$/m);
  t.regex(tree.log, /^wardenfs: image \S+ ready$/m);
  await sleep(200);
  const ready = listener.messages.find((m) => m.msg.split('\n').includes('READY=1'));
  t.truthy(ready, JSON.stringify(listener.messages));
  t.is(ready?.pid, daemon1, 'sent by the daemon itself, so that systemd knows whose it is');
  t.true(ready!.msg.includes(`MAINPID=${daemon1}`));
  t.true(listener.messages.some((m) => /^STATUS=building image \S+ from busybox-static$/.test(m.msg)), 'progress as STATUS=');
  t.true(listener.messages.some((m) => m.msg === 'STATUS=0 container(s) taken up'));

  // A container and a process that must outlive the upgrade (runc and conmon must not have
  // seen NOTIFY_SOCKET: they would wait for the container to say READY=1).
  t.is(await within(60_000, tree.ctl(tree.p('ctl'), 'create up'), 'create (did runc see NOTIFY_SOCKET?)'), 'up');
  const c = (...p: string[]) => tree.p('containers', 'up', ...p);
  const id = await tree.ctl(c('ctl'), `run sh -c 'echo $NOTIFY_SOCKET-; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'`);
  const pid = Number(await fs.readFile(c('procs', id, 'pid'), 'utf8'));
  const initPid = Number((await tree.status('up')).pid);
  t.true(initPid > 1 && pidAlive(initPid));
  await sleep(500);
  t.regex(await fs.readFile(c('procs', id, 'stdout'), 'utf8'), /^-\ntick 1\n/, 'no NOTIFY_SOCKET in the container');

  // Why KillMode=process: the process's monitor (conmon) stays in the daemon's cgroup, the
  // service's under systemd, which the default KillMode would kill at every stop; the
  // container's processes are in their own (/wardenfs/…), out of the unit's reach.
  const conmon = Number(await fs.readFile(path.join(tree.state, 'containers/up/procs', id, 'conmon.pid'), 'utf8'));
  // the hierarchy systemd tracks units by: the unified one, or name=systemd on a legacy host
  const unified = async (p: number) => {
    const text = await fs.readFile(`/proc/${p}/cgroup`, 'utf8');
    return (/^0::(.*)$/m.exec(text) ?? /^\d+:name=systemd:(.*)$/m.exec(text))?.[1];
  };
  t.is(await unified(conmon), await unified(daemon1));
  t.regex((await unified(pid)) ?? '', /^\/wardenfs\//);

  // The upgrade: the same package again over the running daemon (dpkg replaces every file).
  const before = (await fs.stat(s.p('usr/lib/wardenfs/dist/src/cli.js'))).ino;
  const up = await s.chroot('dpkg', '-i', '/tmp/wardenfs.deb');
  t.is(up.exitCode, 0, up.all);
  t.regex(up.all, new RegExp(`Unpacking wardenfs \\(${pkgVersion}\\) over \\(${pkgVersion}\\)`));
  t.not((await fs.stat(s.p('usr/lib/wardenfs/dist/src/cli.js'))).ino, before, 'the files were replaced');
  t.is(await fs.readFile(c('procs', id, 'status'), 'utf8'), 'running\n', 'the old daemon serves on');

  // What postinst's restart does under systemd: SIGTERM (KillMode=process: the daemon alone), then the new daemon.
  listener.messages.length = 0;
  t.is(await tree.stop('SIGTERM'), 0);
  t.true(listener.messages.some((m) => m.msg === 'STOPPING=1' && m.pid === daemon1), JSON.stringify(listener.messages));
  t.true(pidAlive(pid), 'the process outlives the daemon');
  await tree.start();
  t.not(tree.daemon!.pid, daemon1);
  t.is(await fs.readFile(c('procs', id, 'status'), 'utf8'), 'running\n');
  t.is(Number(await fs.readFile(c('procs', id, 'pid'), 'utf8')), pid, 'the same process');
  t.is(Number((await tree.status('up')).pid), initPid, 'the same container init');
  const ticks = () => fs.readFile(c('procs', id, 'stdout'), 'utf8').then((o) => o.split('\n').filter((l) => l.startsWith('tick')).length);
  const n = await ticks();
  await sleep(600);
  t.true((await ticks()) > n, 'it still runs and its output still arrives');
  await fs.writeFile(c('procs', id, 'ctl'), 'kill KILL\n');
  t.is(await fs.readFile(c('procs', id, 'wait'), 'utf8'), 'killed KILL\n', 'the new daemon has its exit status');
});
