/**
 * The rootfs resolver (src/drivers/rootfs/resolver.ts, native/rootfs/rootfs.c): a hostile
 * container root full of symlinks pointing out of it, next to a "host secret" that no
 * operation may ever read or change; then the ordinary operations, and a race where the
 * container swaps a directory for a symlink to the outside while files are created in it.
 * Needs the addon (scripts/build-native.sh) and root (open_tree, chown, a FIFO): so it is
 * in test/privileged/, not in test/unit/ (`npm run test:unit` runs as any user).
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { execFileSync } from 'node:child_process';
import { RootfsResolver, renameFlags } from '../../src/drivers/rootfs/resolver.js';
import { toErrno } from '../../src/fs/errno.js';

const C = fs.constants;
const SECRET = 'host secret: must never be read or changed\n';
const PASSWD = 'root:x:0:0:container:/root:/bin/sh\n';

const tmpDirs: string[] = [];
test.after.always(() => {
  // rm -rf: a fixture may hold a tree deeper than PATH_MAX, where Node's rmSync stops
  for (const d of tmpDirs) execFileSync('rm', ['-rf', '--one-file-system', '--', d]);
});

interface Fixture { root: string; outside: string; r: RootfsResolver }

/**
 * base/outside/{secret, sub/}   the host's files: never to be touched
 * base/root/                    the container's root:
 *   etc/passwd                    its own passwd
 *   abs_etc -> /etc               absolute: means ROOT/etc
 *   toroot -> /                   means ROOT
 *   escape -> BASE/outside        absolute host path: means ROOT/BASE/outside, which does not exist
 *   escape_rel -> ../outside                          climbs: means ROOT/outside (absent)
 *   climb -> ../outside/secret                        a final component pointing out
 *   d1/d2/d3/climb -> ../../../../outside/secret      the same from deeper down
 *   dangling -> BASE/outside/new                      O_CREAT through it would make a host file
 */
async function fixture(t: ExecutionContext): Promise<Fixture> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'wardenfs-resolver-'));
  tmpDirs.push(base);
  const outside = path.join(base, 'outside');
  const root = path.join(base, 'root');
  fs.mkdirSync(path.join(outside, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'secret'), SECRET, { mode: 0o600 });
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc/passwd'), PASSWD);
  fs.symlinkSync('/etc', path.join(root, 'abs_etc'));
  fs.symlinkSync('/', path.join(root, 'toroot'));
  fs.symlinkSync(outside, path.join(root, 'escape'));
  fs.symlinkSync('../outside', path.join(root, 'escape_rel'));
  fs.symlinkSync('../outside/secret', path.join(root, 'climb'));
  fs.mkdirSync(path.join(root, 'd1/d2/d3'), { recursive: true });
  fs.symlinkSync('../../../../outside/secret', path.join(root, 'd1/d2/d3/climb'));
  fs.symlinkSync(path.join(outside, 'new'), path.join(root, 'dangling'));
  const r = await RootfsResolver.open(root);
  t.teardown(() => r.close());
  return { root, outside, r };
}

/** Everything about a tree that an operation could change (not atime: reading moves it). */
function snapshot(dir: string): unknown {
  const out: Record<string, unknown> = {};
  const walk = (p: string, rel: string): void => {
    const st = fs.lstatSync(p, { bigint: true });
    out[rel] = {
      mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink, ino: st.ino,
      mtime: st.mtimeNs, ctime: st.ctimeNs,
      content: st.isFile() ? fs.readFileSync(p, 'utf8') : st.isSymbolicLink() ? fs.readlinkSync(p) : undefined,
    };
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n), `${rel}/${n}`);
  };
  walk(dir, '.');
  return out;
}

async function readFd(fd: number): Promise<string> {
  const buf = Buffer.alloc(4096);
  const { bytesRead } = await promisify(fs.read)(fd, buf, 0, buf.length, 0);
  return buf.subarray(0, bytesRead).toString();
}

async function readVia(r: RootfsResolver, rel: string, follow = false): Promise<string> {
  const fd = await r.open(rel, C.O_RDONLY, 0, { follow });
  try {
    return await readFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function writeVia(r: RootfsResolver, rel: string, text: string, flags = C.O_WRONLY | C.O_CREAT | C.O_TRUNC): Promise<void> {
  const fd = await r.open(rel, flags, 0o644);
  try {
    await promisify(fs.write)(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

test('the fixture is hostile: plain path calls on the host do follow its links out', async (t) => {
  const { root } = await fixture(t);
  // What the resolver replaces: these reach the host's files.
  t.is(fs.readFileSync(path.join(root, 'escape/secret'), 'utf8'), SECRET);
  t.is(fs.readFileSync(path.join(root, 'climb'), 'utf8'), SECRET);
  t.is(fs.readFileSync(path.join(root, 'escape_rel/secret'), 'utf8'), SECRET);
  t.is(fs.readFileSync(path.join(root, 'd1/d2/d3/climb'), 'utf8'), SECRET);
  t.not(fs.readFileSync(path.join(root, 'abs_etc/passwd'), 'utf8'), PASSWD);
});

test('absolute links, "/" and ".." are taken from the container root', async (t) => {
  const { r } = await fixture(t);
  t.is(await readVia(r, 'abs_etc/passwd'), PASSWD);
  t.is(await readVia(r, 'toroot/etc/passwd'), PASSWD);
  t.is(await readVia(r, 'toroot/toroot/abs_etc/../etc/passwd'), PASSWD);
  t.is(await readVia(r, '../../../etc/passwd'), PASSWD);
  t.is(await readVia(r, '/etc/passwd'), PASSWD);
  t.is((await r.lstat('abs_etc/passwd')).size, PASSWD.length);
  t.deepEqual((await r.readdir('toroot')).sort(), (await r.readdir('')).sort());
  t.deepEqual((await r.readdir('..')).sort(), (await r.readdir('')).sort());
  t.is((await r.lstat('..')).ino, (await r.lstat('')).ino);
  t.is((await r.lstat('toroot/..')).ino, (await r.lstat('')).ino);
  // The final component is followed only when asked, and then inside the root too.
  await t.throwsAsync(r.open('abs_etc', C.O_RDONLY), { code: 'ELOOP' });
  await t.throwsAsync(r.open('abs_etc', C.O_RDONLY | C.O_DIRECTORY), { code: 'ENOTDIR' }); // the kernel's answer then
  const fd = await r.open('abs_etc', C.O_RDONLY | C.O_DIRECTORY, 0, { follow: true });
  fs.closeSync(fd);
  t.is(await readVia(r, 'toroot/abs_etc/passwd', true), PASSWD);
});

test('no operation reads or changes a file outside the root through a symlink', async (t) => {
  const { r, root, outside } = await fixture(t);
  const before = snapshot(outside);
  const hostPathInRoot = `toroot${outside}`; // the host path of outside/, looked up in the root
  const ways = ['escape', 'escape_rel', hostPathInRoot, '../outside', 'd1/d2/d3/../../../../outside', 'toroot/../../outside'];
  const ENOENT = { code: 'ENOENT' };
  for (const w of ways) {
    const secret = `${w}/secret`;
    await t.throwsAsync(r.open(secret, C.O_RDONLY), ENOENT, secret);
    await t.throwsAsync(r.open(secret, C.O_RDONLY, 0, { follow: true }), ENOENT, secret);
    await t.throwsAsync(r.open(`${w}/created`, C.O_WRONLY | C.O_CREAT, 0o644), ENOENT, w);
    await t.throwsAsync(r.open(`${w}/created`, C.O_WRONLY | C.O_CREAT, 0o644, { follow: true }), ENOENT, w);
    await t.throwsAsync(r.lstat(secret), ENOENT, secret);
    await t.throwsAsync(r.readdir(w), ENOENT, w);
    await t.throwsAsync(r.mkdir(`${w}/newdir`), ENOENT, w);
    await t.throwsAsync(r.rmdir(`${w}/sub`), ENOENT, w);
    await t.throwsAsync(r.unlink(secret), ENOENT, secret);
    await t.throwsAsync(r.rename(secret, 'stolen'), ENOENT, secret);
    await t.throwsAsync(r.rename('etc/passwd', `${w}/passwd`), ENOENT, w);
    await t.throwsAsync(r.link(secret, 'hard'), ENOENT, secret);
    await t.throwsAsync(r.link('etc/passwd', `${w}/hard`), ENOENT, w);
    await t.throwsAsync(r.symlink('x', `${w}/link`), ENOENT, w);
    await t.throwsAsync(r.readlink(secret), ENOENT, secret);
    await t.throwsAsync(r.chmod(secret, 0o666), ENOENT, secret);
    await t.throwsAsync(r.chown(secret, 1234, 1234), ENOENT, secret);
    await t.throwsAsync(r.utimens(secret, 0n, 0n), ENOENT, secret);
    await t.throwsAsync(r.truncate(secret, 0), ENOENT, secret);
    await t.throwsAsync(r.mknod(`${w}/fifo`, C.S_IFIFO | 0o644), ENOENT, w);
    await t.throwsAsync(r.statfs(secret), ENOENT, secret);
  }

  // A final symlink pointing out is never followed: ELOOP for open and truncate, the
  // l* semantics for the rest (they act on the link itself), and inside the root when
  // following is asked for.
  await t.throwsAsync(r.open('climb', C.O_RDONLY), { code: 'ELOOP' });
  await t.throwsAsync(r.open('climb', C.O_WRONLY | C.O_TRUNC), { code: 'ELOOP' });
  await t.throwsAsync(r.open('climb', C.O_RDONLY, 0, { follow: true }), ENOENT);
  await t.throwsAsync(r.open('d1/d2/d3/climb', C.O_RDONLY), { code: 'ELOOP' });
  await t.throwsAsync(r.open('d1/d2/d3/climb', C.O_RDONLY, 0, { follow: true }), ENOENT);
  await t.throwsAsync(r.lstat('d1/d2/d3/climb/x'), { code: 'ENOENT' });
  await t.throwsAsync(r.open('dangling', C.O_WRONLY | C.O_CREAT, 0o644), { code: 'ELOOP' });
  await t.throwsAsync(r.open('dangling', C.O_WRONLY | C.O_CREAT, 0o644, { follow: true }), ENOENT);
  await t.throwsAsync(r.truncate('climb', 0), { code: 'ELOOP' });
  await t.throwsAsync(r.chmod('climb', 0o777), { code: 'EOPNOTSUPP' });
  await t.throwsAsync(r.readdir('escape'), ENOENT);
  await r.chown('climb', 1234, 4321);
  t.is((await r.lstat('climb')).uid, 1234);
  await r.utimens('climb', 1_000_000_000n, 2_000_000_000n);
  t.is((await r.lstat('climb')).mtimeNs, 2_000_000_000n);
  t.true(fs.lstatSync(path.join(root, 'climb')).isSymbolicLink());
  await r.link('climb', 'climb-hard');
  t.is((await r.lstat('climb')).nlink, 2);
  await r.rename('climb', 'climb2');
  await r.unlink('climb2');
  await r.unlink('climb-hard');
  await t.throwsAsync(r.symlink('x', 'escape'), { code: 'EEXIST' });
  await r.rename('escape', 'escaped'); // renames the link, not what it points to
  await r.unlink('escaped');
  // '..' is the root at the root: this makes ROOT/outside, not BASE/outside/...
  await r.mkdir('../outside');
  t.true(fs.statSync(path.join(root, 'outside')).isDirectory());

  t.deepEqual(snapshot(outside), before);
  t.false(fs.existsSync(path.join(outside, 'new')));
  t.is(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), SECRET);
});

test('ordinary operations', async (t) => {
  const { r, root } = await fixture(t);
  // mkdir -p, one level at a time.
  let p = '';
  for (const part of ['a', 'b', 'c']) {
    p = p ? `${p}/${part}` : part;
    await r.mkdir(p, 0o755);
  }
  t.true(fs.statSync(path.join(root, 'a/b/c')).isDirectory());
  await t.throwsAsync(r.mkdir('a/b'), { code: 'EEXIST' });
  await t.throwsAsync(r.mkdir(''), { code: 'EEXIST' });

  // Create, write through the fd, read back.
  await writeVia(r, 'a/b/c/file', 'hello');
  t.is(await readVia(r, 'a/b/c/file'), 'hello');
  t.is(fs.readFileSync(path.join(root, 'a/b/c/file'), 'utf8'), 'hello');
  await t.throwsAsync(r.open('a/b/c/file', C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644), { code: 'EEXIST' });
  const st = await r.lstat('a/b/c/file');
  t.is(st.size, 5);
  t.is(st.mode & C.S_IFMT, C.S_IFREG);
  t.is(st.mode & 0o7777, 0o644 & ~process.umask());

  // Rename over an existing file; rename flags.
  await writeVia(r, 'a/other', 'other');
  await r.rename('a/b/c/file', 'a/other');
  t.is(await readVia(r, 'a/other'), 'hello');
  await t.throwsAsync(r.lstat('a/b/c/file'), { code: 'ENOENT' });
  await writeVia(r, 'a/third', 'third');
  await t.throwsAsync(r.rename('a/third', 'a/other', renameFlags.NOREPLACE), { code: 'EEXIST' });
  await r.rename('a/third', 'a/other', renameFlags.EXCHANGE);
  t.is(await readVia(r, 'a/other'), 'third');

  t.deepEqual((await r.readdir('a')).sort(), ['b', 'other', 'third']);
  t.deepEqual(await r.readdir('a/b/c'), []);
  await t.throwsAsync(r.readdir('a/other'), { code: 'ENOTDIR' });

  // Symlinks are stored and read back exactly as given.
  t.is(await r.readlink('abs_etc'), '/etc');
  t.is(await r.readlink('climb'), '../outside/secret');
  t.is(await r.readlink('d1/d2/d3/climb'), '../../../../outside/secret');
  await r.symlink('../../weird/../target', 'a/link');
  t.is(await r.readlink('a/link'), '../../weird/../target');
  t.is(fs.readlinkSync(path.join(root, 'a/link')), '../../weird/../target');
  await t.throwsAsync(r.readlink('a/other'), { code: 'EINVAL' });

  // Hard links, chmod, chown, truncate.
  await r.link('a/other', 'a/hard');
  t.is((await r.lstat('a/other')).nlink, 2);
  await r.chmod('a/other', 0o4751);
  t.is((await r.lstat('a/other')).mode & 0o7777, 0o4751);
  await r.chown('a/other', 1000, 2000);
  t.like(await r.lstat('a/other'), { uid: 1000, gid: 2000 });
  await r.chown('a/other', -1, 3000);
  t.like(await r.lstat('a/other'), { uid: 1000, gid: 3000 });
  await r.truncate('a/other', 2);
  t.is(await readVia(r, 'a/other'), 'th');
  await r.truncate('a/other', 10);
  t.is((await r.lstat('a/other')).size, 10);
  await t.throwsAsync(r.truncate('a', 0), { code: 'EISDIR' });

  // utimens: both times, exactly, to the nanosecond; omit; milliseconds and Dates.
  const atime = 1_234_567_890_123_456_789n;
  const mtime = 987_654_321_987_654_321n;
  await r.utimens('a/other', atime, mtime);
  let s = await r.lstat('a/other');
  t.is(s.atimeNs, atime);
  t.is(s.mtimeNs, mtime);
  t.is(fs.statSync(path.join(root, 'a/other'), { bigint: true }).atimeNs, atime);
  await r.utimens('a/other', 'omit', 5_000_000_123n);
  s = await r.lstat('a/other');
  t.is(s.atimeNs, atime);
  t.is(s.mtimeNs, 5_000_000_123n);
  await r.utimens('a/other', new Date(1_500_000_000_250), 1_600_000_000_500.25);
  s = await r.lstat('a/other');
  t.is(s.atimeNs, 1_500_000_000_250_000_000n);
  t.is(s.mtimeNs, 1_600_000_000_500_250_000n);
  t.is(s.mtime.getTime(), 1_600_000_000_500);
  await r.utimens('a/other', -1n, 'omit'); // before 1970: one nanosecond
  t.is((await r.lstat('a/other')).atimeNs, -1n);
  const before = Date.now();
  await r.utimens('a', 'now', 'now');
  t.true((await r.lstat('a')).mtimeMs >= before - 1000);

  // mknod: a FIFO and a socket, which node:fs cannot make.
  await r.mknod('a/fifo', C.S_IFIFO | 0o640);
  t.true(fs.lstatSync(path.join(root, 'a/fifo')).isFIFO());
  t.is((await r.lstat('a/fifo')).mode, C.S_IFIFO | (0o640 & ~process.umask()));
  await r.mknod('a/sock', C.S_IFSOCK | 0o600);
  t.true(fs.lstatSync(path.join(root, 'a/sock')).isSocket());
  await t.throwsAsync(r.truncate('a/fifo', 0), { code: 'EINVAL' });

  const sfs = await r.statfs('');
  t.true(sfs.bsize > 0 && sfs.blocks > 0 && sfs.namemax >= 255);

  // Removal.
  await r.unlink('a/hard');
  await t.throwsAsync(r.rmdir('a'), { code: 'ENOTEMPTY' });
  await t.throwsAsync(r.unlink('a/b'), { code: 'EISDIR' });
  await r.rmdir('a/b/c');
  await t.throwsAsync(r.rmdir('a/other'), { code: 'ENOTDIR' });
  await t.throwsAsync(r.rmdir(''), { code: 'EINVAL' });
  t.false(fs.existsSync(path.join(root, 'a/b/c')));
});

test('errors look like node:fs errors and map to errnos unchanged', async (t) => {
  const { r } = await fixture(t);
  const e = await t.throwsAsync(r.lstat('nope/x'));
  t.like(e as unknown as Record<string, unknown>, { code: 'ENOENT', errno: -os.constants.errno.ENOENT, syscall: 'openat2', path: 'nope/x' });
  t.regex(e!.message, /^ENOENT: no such file or directory, openat2 'nope\/x'$/);
  t.is(toErrno(e), -os.constants.errno.ENOENT);
  t.is(toErrno(await t.throwsAsync(r.open('climb', C.O_RDONLY))), -os.constants.errno.ELOOP);

  // Paths are capped (8 × PATH_MAX: longer ones than the kernel takes at once are walked in
  // pieces): never a silent truncation, never an overflow.
  await t.throwsAsync(r.lstat('a/'.repeat(3000)), { code: 'ENOENT' });
  await t.throwsAsync(r.lstat('a/'.repeat(17000)), { code: 'ENAMETOOLONG' });
  await t.throwsAsync(r.symlink('x'.repeat(5000), 'l'), { code: 'ENAMETOOLONG' });
  await t.throwsAsync(r.mkdir('n'.repeat(256)), { code: 'ENAMETOOLONG' });
  await t.throwsAsync(r.lstat('etc\0/../../x'), { code: 'EINVAL' });
  await t.throwsAsync(r.chown('etc', 2 ** 33, 0), { code: 'EINVAL' });
  await t.throwsAsync(r.truncate('etc/passwd', -1), { code: 'EINVAL' });

  const r2 = await RootfsResolver.open(path.join(os.tmpdir()));
  await r2.close();
  await r2.close();
  await t.throwsAsync(r2.lstat(''), { code: 'EBADF' });
  await t.throwsAsync(RootfsResolver.open('/nonexistent/wardenfs'), { code: 'ENOENT' });
  await t.throwsAsync(RootfsResolver.open('/etc/passwd'), { code: 'ENOTDIR' });
});

test('calls run off the event loop, and close waits for those in flight', async (t) => {
  const { r } = await fixture(t);
  await r.mknod('fifo', C.S_IFIFO | 0o600);
  // Opening a FIFO for reading blocks until a writer comes: on a pool thread, not here.
  const reading = r.open('fifo', C.O_RDONLY);
  let ticked = false;
  await new Promise<void>((resolve) => setTimeout(() => { ticked = true; resolve(); }, 50));
  t.true(ticked);
  let closed = false;
  const closing = r.close().then(() => { closed = true; });
  await t.throwsAsync(r.lstat(''), { code: 'EBADF' }); // refused once closing
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.false(closed, 'the root fd stays open while the FIFO open is in flight');
  const writer = fs.openSync(path.join(r.hostRoot, 'fifo'), C.O_WRONLY | C.O_NONBLOCK);
  // Once open, it is refused: only regular files and directories are handed out (issue 11.4).
  await t.throwsAsync(reading, { code: 'EACCES' });
  fs.closeSync(writer);
  await closing;
  t.true(closed);
});

test('a directory swapped for a symlink to the outside mid-operation never leads out', async (t) => {
  const { r, root, outside } = await fixture(t);
  const before = snapshot(outside);
  fs.mkdirSync(path.join(root, 'work/sub'), { recursive: true });
  // The container's side: in a tight loop on another thread, work/ leaves and a symlink
  // to the host's outside/ (which also has sub/) takes its place, then comes back.
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const fs = require('node:fs');
     const { dir, saved, targets, flag } = workerData;
     let n = 0;
     parentPort.postMessage('ready');
     while (Atomics.load(flag, 0) === 0) {
       fs.renameSync(dir, saved);
       fs.symlinkSync(targets[n % targets.length], dir);
       fs.unlinkSync(dir);
       fs.renameSync(saved, dir);
       n++;
     }
     parentPort.postMessage(n);`,
    {
      eval: true,
      workerData: {
        dir: path.join(root, 'work'),
        saved: path.join(root, 'work.saved'),
        targets: [outside, '../../../../../../../../outside', path.relative(root, outside)],
        flag,
      },
    },
  );
  const swaps = new Promise<number>((resolve, reject) => {
    worker.on('message', (m) => { if (typeof m === 'number') resolve(m); });
    worker.on('error', reject);
  });
  await new Promise<void>((resolve) => worker.once('message', () => resolve()));

  const write = promisify(fs.write);
  const results = { created: 0, refused: {} as Record<string, number> };
  const one = async (i: number): Promise<void> => {
    const rel = i % 2 ? `work/f${i}` : `work/sub/f${i}`;
    try {
      const fd = await r.open(rel, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
      try {
        await write(fd, `file ${i}\n`);
      } finally {
        fs.closeSync(fd);
      }
      results.created++;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      results.refused[code] = (results.refused[code] ?? 0) + 1;
    }
  };
  try {
    // 400 creates, 8 at a time so several pool threads race the swapper at once.
    for (let i = 0; i < 400; i += 8) await Promise.all(Array.from({ length: 8 }, (_, k) => one(i + k)));
  } finally {
    Atomics.store(flag, 0, 1);
  }
  const n = await swaps;
  await worker.terminate();
  t.log(`swaps: ${n}, created inside: ${results.created}, refused: ${JSON.stringify(results.refused)}`);

  t.deepEqual(snapshot(outside), before, 'nothing was created or changed outside');
  t.true(n > 0);
  // Refusals are the directory being away (ENOENT) or a link resolved inside (ENOENT);
  // anything else would be a surprise worth seeing.
  t.deepEqual(Object.keys(results.refused).filter((c) => c !== 'ENOENT'), []);
  // Every file that was created is inside the root.
  const inside = [...fs.readdirSync(path.join(root, 'work')), ...fs.readdirSync(path.join(root, 'work/sub'))]
    .filter((f) => f.startsWith('f'));
  t.is(inside.length, results.created);
});

test('resolve: where a path leads in the root, as far as it exists, named inside the root', async (t) => {
  const { r, root } = await fixture(t);
  fs.symlinkSync('/', path.join(root, 'd1/r'));
  t.deepEqual(await r.resolve(['d1', 'r', '..', '..', 'etc']), { path: 'etc', consumed: 5 });
  t.deepEqual(await r.resolve(['toroot', '..']), { path: '', consumed: 2 });
  t.deepEqual(await r.resolve(['abs_etc', 'passwd']), { path: 'etc/passwd', consumed: 2 });
  t.deepEqual(await r.resolve(['escape', 'secret']), { path: '', consumed: 0 }, 'the host path does not exist inside');
  t.deepEqual(await r.resolve(['d1', 'd2', 'missing', '..', 'x']), { path: 'd1/d2', consumed: 2 });
  t.deepEqual(await r.resolve(['etc', 'passwd', '..']), { path: 'etc/passwd', consumed: 2 });
  t.deepEqual(await r.resolve([]), { path: '', consumed: 0 });
  const long = ['d1', 'd2', 'd3', ...Array.from({ length: 600 }, (_, i) => (i % 3 === 2 ? '..' : `m${i}`))];
  t.deepEqual(await r.resolve(long), { path: 'd1/d2/d3', consumed: 3 }, 'bisection finds the longest prefix');
  t.deepEqual(await r.resolve(['d1', '..', 'd1', 'd2', '..', '..', '..', 'etc', 'nope']), { path: 'etc', consumed: 8 });
  await t.throwsAsync(r.resolve(['a/b']), { code: 'EINVAL' });
});

test('paths longer than PATH_MAX work, walked in pieces, and their symlinks stay inside the root', async (t) => {
  const { r, outside } = await fixture(t);
  const before = snapshot(outside);
  // 20 levels of 250-byte names: 5,020 bytes, more than openat2 takes in one path
  const names = Array.from({ length: 20 }, (_, i) => String(i).padStart(3, '0') + 'd'.repeat(247));
  for (let i = 1; i <= names.length; i++) await r.mkdir(names.slice(0, i).join('/'), 0o755);
  const deep = names.join('/');
  t.true(deep.length > 4096);
  await writeVia(r, `${deep}/f`, 'deep\n');
  t.is(await readVia(r, `${deep}/f`), 'deep\n');
  t.is((await r.lstat(`${deep}/f`)).size, 5);
  await r.rename(`${deep}/f`, `${deep}/g`);
  await r.link(`${deep}/g`, `${deep}/h`);
  t.is((await r.lstat(`${deep}/h`)).nlink, 2);
  t.deepEqual((await r.readdir(deep)).sort(), ['g', 'h']);
  await r.setxattr(`${deep}/g`, 'user.k', Buffer.from('v'));
  t.is((await r.getxattr(`${deep}/g`, 'user.k')).toString(), 'v');
  // links planted in the second piece: '..' beyond every level, '/', the host path of outside/
  const at = names.slice(0, 18).join('/');
  await r.symlink('../'.repeat(40) + 'outside', `${at}/up`);
  await r.symlink('/', `${at}/abs`);
  await r.symlink(outside, `${at}/host`);
  const tails = [`${at}/up/secret`, `${at}/abs${outside}/secret`, `${at}/host/secret`, `${at}/${'../'.repeat(40)}outside/secret`];
  for (const p of tails) {
    t.true(p.length > 4096);
    await t.throwsAsync(readVia(r, p, true), { code: 'ENOENT' }, p.slice(-40));
    await t.throwsAsync(writeVia(r, p.replace(/secret$/, 'new'), 'x'), { code: 'ENOENT' });
    await t.throwsAsync(r.unlink(p), { code: 'ENOENT' });
  }
  t.deepEqual(snapshot(outside), before, 'nothing outside the root was read or changed');
  await t.throwsAsync(r.lstat(`${deep}/${'n'.repeat(5000)}`), { code: 'ENAMETOOLONG' });
  await t.throwsAsync(r.lstat('x/'.repeat(20000)), { code: 'ENAMETOOLONG' }, 'longer than the resolver takes');
});

test('the root is a nodev copy: a device node in it is never opened, a FIFO is refused once open', async (t) => {
  const { r, root } = await fixture(t);
  await r.mknod('null', C.S_IFCHR | 0o666, (1 << 8) | 3);
  t.true(fs.statSync(path.join(root, 'null')).isCharacterDevice());
  await t.throwsAsync(r.open('null', C.O_RDONLY | C.O_NONBLOCK), { code: 'EACCES' });
  await r.mknod('fifo2', C.S_IFIFO | 0o600);
  await t.throwsAsync(r.open('fifo2', C.O_RDONLY | C.O_NONBLOCK), { code: 'EACCES' });
  await t.throwsAsync(r.open('fifo2', C.O_RDWR | C.O_CREAT, 0o600), { code: 'EACCES' });
  const fd = await r.open('etc/passwd', C.O_RDONLY);
  fs.closeSync(fd);
});

test('as(caller): each call acts with the caller\'s fsuid, fsgid and groups on its pool thread, and gives them back', async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'wardenfs-resolver-as-'));
  tmpDirs.push(base);
  fs.chmodSync(base, 0o1777);
  const root = await RootfsResolver.open(base);
  try {
    const alice = root.as({ uid: 4242, gid: 4343, pid: 1, groups: [5000] });
    const bob = root.as({ uid: 4444, gid: 4444, pid: 1, groups: [] });
    t.is(root.as({ uid: 0, gid: 0, pid: 1, groups: [] }), root, 'root: the daemon\'s own');
    t.is(root.as(undefined), root);
    const owner = (rel: string) => {
      const st = fs.lstatSync(path.join(base, rel));
      return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
    };
    await alice.mkdir('a', 0o755);
    fs.closeSync(await alice.open('a/f', C.O_CREAT | C.O_RDWR, 0o644));
    await alice.symlink('f', 'a/l');
    t.is(owner('a'), '4242:4343 755');
    t.is(owner('a/f'), '4242:4343 644');
    t.is(owner('a/l').split(' ')[0], '4242:4343');
    // permissions are the kernel's: bob may not write in alice's directory, nor chmod her file
    await t.throwsAsync(bob.mkdir('a/b'), { code: 'EACCES' });
    await t.throwsAsync(bob.chmod('a/f', 0o666), { code: 'EPERM' });
    // groups: alice may give her file to a group she is in, not to another
    await alice.chown('a/f', -1, 5000);
    await t.throwsAsync(alice.chown('a/f', -1, 6000), { code: 'EPERM' });
    // a mode change that only clears set-id bits is made with the daemon's credentials
    await alice.chmod('a/f', 0o6777);
    t.is(owner('a/f'), '4242:5000 6777');
    await bob.chmod('a/f', 0o2777);
    await bob.chmod('a/f', 0o777);
    t.is(owner('a/f'), '4242:5000 777');
    await t.throwsAsync(bob.chmod('a/f', 0o4777), { code: 'EPERM' }, 'adding a bit is the owner\'s');
    // callers and the daemon side by side on the pool: nothing leaks from one call to another
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? alice : root).mkdir(`p${i}`)));
    for (let i = 0; i < 40; i++) t.is(owner(`p${i}`).split(' ')[0], i % 2 ? '4242:4343' : '0:0', `p${i}`);
  } finally {
    await root.close();
  }
});
