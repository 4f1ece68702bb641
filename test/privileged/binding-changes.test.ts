/**
 * The creation path answered by the patched binding itself (issue 13.4; docs/fuse.md, patch
 * item 10): under a registered root, create, mkdir, chmod, chown, utimens, setxattr and
 * removexattr of a root caller
 * are done on the FUSE thread, confined as the resolver confines them, without a JavaScript
 * round trip. A bare fuse-native mount whose JavaScript handlers only record that they were
 * called (and answer EIO): what must be answered in C fails here if it reaches JavaScript,
 * and what is done is checked on the directory beneath. Needs root (FUSE, open_tree, chown).
 * Calls into the mount are asynchronous only: the mount is served by this process's event loop.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import Fuse, { type Ops } from 'fuse-native';
import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { RootfsResolver } from '../../src/drivers/rootfs/resolver.js';

const EIO = -5;
const EINVAL = -22;

interface Mounted { mnt: string; root: string; outside: string; calls: string[]; close(): Promise<void> }

/** A mount at a temp dir whose /r is `root` (registered with the binding); JavaScript answers
 *  only getattr of '/' and records every other call it gets. */
async function mount(t: ExecutionContext, opts: { idBase?: number; idSize?: number; readOnly?: boolean } = {}): Promise<Mounted> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-bindchg-'));
  const mnt = path.join(base, 'mnt');
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  for (const d of [mnt, root, outside]) fs.mkdirSync(d);
  const calls: string[] = [];
  const rec = (name: string, errno = EIO) => (...args: unknown[]) => {
    calls.push(`${name} ${String(args[0])}`);
    (args.find((a) => typeof a === 'function') as (e: number) => void)(errno);
  };
  const ops: Ops = {
    getattr: (p, cb) => {
      if (p === '/') return cb(0, { mode: 0o40755, nlink: 2, size: 0, mtime: new Date(), atime: new Date(), ctime: new Date() });
      rec('getattr')(p, cb);
    },
    fgetattr: rec('fgetattr'), opendir: rec('opendir'), readdir: rec('readdir'), releasedir: (_p, _fd, cb) => cb(0),
    open: rec('open'), create: rec('create'), read: rec('read'), write: rec('write'), release: rec('release'),
    flush: rec('flush'), fsync: rec('fsync'), truncate: rec('truncate'), ftruncate: rec('ftruncate'),
    mkdir: rec('mkdir'), rmdir: rec('rmdir'), unlink: rec('unlink'), rename: rec('rename'), link: rec('link'),
    symlink: rec('symlink'), mknod: rec('mknod'), readlink: rec('readlink'), chmod: rec('chmod'),
    // an id the container does not map is refused by JavaScript (idshift.ts: BadRequest)
    chown: rec('chown', EINVAL), utimens: rec('utimens'),
    getxattr: rec('getxattr'), listxattr: rec('listxattr'), setxattr: rec('setxattr'), removexattr: rec('removexattr'),
  };
  const fuse = new Fuse(mnt, ops, { force: true, mkdir: true, timeout: false });
  await new Promise<void>((resolve, reject) => fuse.mount((e) => (e ? reject(e) : resolve())));
  const resolver = await RootfsResolver.open(root);
  fuse.registerRoot('/r', resolver.fd, opts.idBase ?? 0, opts.idSize ?? 0, opts.readOnly ?? false);
  const close = async () => {
    fuse.unregisterRoot('/r');
    await resolver.close();
    await new Promise<void>((resolve) => fuse.unmount(() => resolve()));
    await execa('fusermount', ['-u', '-z', mnt], { reject: false });
    fs.rmSync(base, { recursive: true, force: true });
  };
  t.teardown(close);
  return { mnt, root, outside, calls, close };
}

test.serial('cp -r, mkdir, chmod, chown, touch into a registered root: done on disk, none reaches JavaScript', async (t) => {
  const m = await mount(t);
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-bindchg-src-'));
  t.teardown(() => fs.rmSync(src, { recursive: true, force: true }));
  for (let d = 0; d < 3; d++) {
    fs.mkdirSync(path.join(src, `d${d}`));
    for (let f = 0; f < 20; f++) fs.writeFileSync(path.join(src, `d${d}`, `f${f}`), `file ${d}/${f}\n`, { mode: 0o640 });
  }
  const r = path.join(m.mnt, 'r');
  await execa('cp', ['-r', src, path.join(r, 'copy')]);
  for (let d = 0; d < 3; d++) {
    for (let f = 0; f < 20; f++) {
      const onDisk = path.join(m.root, 'copy', `d${d}`, `f${f}`);
      t.is(fs.readFileSync(onDisk, 'utf8'), `file ${d}/${f}\n`);
      t.is(fs.statSync(onDisk).mode & 0o777, 0o640);
    }
  }
  await execa('mkdir', ['-m', '0705', path.join(r, 'made')]);
  t.is(fs.statSync(path.join(m.root, 'made')).mode & 0o7777, 0o705);
  await execa('chmod', ['4751', path.join(r, 'copy', 'd0', 'f0')]);
  t.is(fs.statSync(path.join(m.root, 'copy', 'd0', 'f0')).mode & 0o7777, 0o4751);
  await execa('chown', ['123:456', path.join(r, 'copy', 'd0', 'f1')]);
  const st = fs.statSync(path.join(m.root, 'copy', 'd0', 'f1'));
  t.deepEqual([st.uid, st.gid], [123, 456]);
  await execa('touch', ['-m', '-d', '2001-02-03 04:05:06.123456789', path.join(r, 'copy', 'd0', 'f2')], { env: { TZ: 'UTC' } });
  const times = fs.statSync(path.join(m.root, 'copy', 'd0', 'f2'), { bigint: true });
  t.is(times.mtimeNs, BigInt(Date.UTC(2001, 1, 3, 4, 5, 6)) * 1_000_000n + 123_456_789n);
  t.deepEqual(m.calls, []);
});

/** os.setxattr/removexattr/getxattr in a child (Node has none): the exit status and stderr. */
async function xattr(op: 'set' | 'remove', file: string, name: string, value = ''): Promise<string> {
  const code = op === 'set' ? 'os.setxattr(f, n, v.encode())' : 'os.removexattr(f, n)';
  const r = await execa('python3', ['-c', `import os, sys\nf, n, v = sys.argv[1:4]\ntry:\n    ${code}\nexcept OSError as e:\n    print(os.strerror(e.errno)); sys.exit(1)`, file, name, value], { reject: false });
  return r.exitCode === 0 ? 'ok' : r.stdout.trim();
}

test.serial('setxattr and removexattr through a registered root: done on the file, EPERM on a symlink, none reaches JavaScript', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(path.join(m.root, 'file'), 'x');
  fs.symlinkSync('file', path.join(m.root, 'link'));
  const r = path.join(m.mnt, 'r');
  t.is(await xattr('set', path.join(r, 'file'), 'user.color', 'blue'), 'ok');
  t.is((await execa('python3', ['-c', 'import os, sys; print(os.getxattr(sys.argv[1], "user.color").decode())', path.join(m.root, 'file')])).stdout, 'blue');
  t.is(await xattr('remove', path.join(r, 'file'), 'user.color'), 'ok');
  t.is(await xattr('remove', path.join(r, 'file'), 'user.color'), 'No data available');
  // the kernel follows a symlink for setxattr(2) itself; lsetxattr reaches the link
  const l = await execa('python3', ['-c', 'import os, sys\ntry:\n    os.setxattr(sys.argv[1], "user.x", b"1", follow_symlinks=False)\nexcept OSError as e:\n    print(os.strerror(e.errno))', path.join(r, 'link')]);
  t.is(l.stdout.trim(), 'Operation not permitted');
  t.deepEqual(m.calls, []);
});

test.serial('a user-namespaced root: what the host makes goes to the container\'s root, chown takes its ids, an unmapped id goes to JavaScript', async (t) => {
  const m = await mount(t, { idBase: 200000, idSize: 65536 });
  const r = path.join(m.mnt, 'r');
  await fsp.writeFile(path.join(r, 'new'), 'x');
  await fsp.mkdir(path.join(r, 'dir'));
  for (const n of ['new', 'dir']) {
    const st = fs.statSync(path.join(m.root, n));
    t.deepEqual([n, st.uid, st.gid], [n, 200000, 200000]);
  }
  await fsp.chown(path.join(r, 'new'), 5, 6);
  const st = fs.statSync(path.join(m.root, 'new'));
  t.deepEqual([st.uid, st.gid], [200005, 200006]);
  const seen = await fsp.stat(path.join(r, 'new'));
  t.deepEqual([seen.uid, seen.gid], [5, 6]);
  t.deepEqual(m.calls, []);
  await t.throwsAsync(fsp.chown(path.join(r, 'new'), 70000, 0), { code: 'EINVAL' });
  t.deepEqual(m.calls, ['chown /r/new']);
  t.is(fs.statSync(path.join(m.root, 'new')).uid, 200005);
});

test.serial('a read-only root: create, mkdir, chmod, chown, touch are EROFS and change nothing', async (t) => {
  const m = await mount(t, { readOnly: true });
  fs.writeFileSync(path.join(m.root, 'file'), 'kept');
  fs.chmodSync(path.join(m.root, 'file'), 0o644);
  const r = path.join(m.mnt, 'r');
  await t.throwsAsync(fsp.writeFile(path.join(r, 'new'), 'x'), { code: 'EROFS' });
  await t.throwsAsync(fsp.mkdir(path.join(r, 'dir')), { code: 'EROFS' });
  await t.throwsAsync(fsp.chmod(path.join(r, 'file'), 0o600), { code: 'EROFS' });
  await t.throwsAsync(fsp.chown(path.join(r, 'file'), 1, 1), { code: 'EROFS' });
  await t.throwsAsync(fsp.utimes(path.join(r, 'file'), 1, 1), { code: 'EROFS' });
  t.is(await xattr('set', path.join(r, 'file'), 'user.x', '1'), 'Read-only file system');
  t.deepEqual(fs.readdirSync(m.root), ['file']);
  t.is(fs.statSync(path.join(m.root, 'file')).mode & 0o777, 0o644);
  t.deepEqual(m.calls, []);
});

test.serial('a directory swapped for a symlink to the host while files are made through it: nothing lands outside the root', async (t) => {
  const m = await mount(t);
  fs.mkdirSync(path.join(m.root, 'd'));
  // The container's side: swap d for a symlink to the host's directory and back, as fast as it can.
  const swapper = spawn('python3', ['-c', `
import os, sys
os.chdir(sys.argv[1])
while True:
    try:
        os.rename('d', 'd.real'); os.symlink(sys.argv[2], 'd'); os.unlink('d'); os.rename('d.real', 'd')
    except OSError:
        pass
`, m.root, m.outside], { stdio: 'ignore' });
  t.teardown(() => { swapper.kill('SIGKILL'); });
  const r = path.join(m.mnt, 'r');
  let made = 0;
  for (let i = 0; i < 120; i++) {
    // each may fail (the name is a symlink at that moment, or gone): what matters is where it lands
    const ok = await Promise.all([
      execa('sh', ['-c', `: > ${path.join(r, 'd', `f${i}`)}`], { reject: false }),
      execa('mkdir', [path.join(r, 'd', `g${i}`)], { reject: false }),
      execa('chmod', ['0777', path.join(r, 'd')], { reject: false }),
    ]);
    made += ok.filter((x) => x.exitCode === 0).length;
  }
  swapper.kill('SIGKILL');
  await new Promise((res) => setTimeout(res, 100));
  t.deepEqual(fs.readdirSync(m.outside), []);
  t.is(fs.statSync(m.outside).mode & 0o777, 0o755);
  t.true(made > 0, 'some of the operations went through');
  t.log(`${made} of 360 operations done`);
});
