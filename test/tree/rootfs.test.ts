/** rootfs/: a faithful and confined view of each container's root (docs/interface.md §1, §5.8). */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Tree } from '../helpers/tree.js';
import { sleep } from '../helpers/host.js';

const tree = new Tree('rootfs');
test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create fsc');
});
test.after.always(async () => {
  await tree.cleanup();
});

const R = (...p: string[]) => tree.p('containers', 'fsc', 'rootfs', ...p);
const inside = async (script: string): Promise<{ status: string; stdout: string; stderr: string }> => {
  const id = await tree.ctl(tree.p('containers', 'fsc', 'ctl'), `run sh -c '${script.replace(/'/g, "''")}'`);
  const d = (f: string) => fs.readFile(tree.p('containers', 'fsc', 'procs', id, f), 'utf8');
  const status = await d('wait');
  return { status, stdout: await d('stdout'), stderr: await d('stderr') };
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('cp -a of a tree with modes, symlinks and nested dirs, in and out, identical both ways', async (t) => {
  const src = path.join(tree.base, 'src');
  await fs.mkdir(path.join(src, 'a', 'b', 'c'), { recursive: true });
  await fs.writeFile(path.join(src, 'a', 'b', 'c', 'deep.txt'), 'deep\n');
  await fs.writeFile(path.join(src, 'exec.sh'), '#!/bin/sh\necho hi\n', { mode: 0o750 });
  await fs.writeFile(path.join(src, 'private'), 'secret\n', { mode: 0o600 });
  await fs.symlink('a/b/c/deep.txt', path.join(src, 'rel-link'));
  await fs.symlink('../exec.sh', path.join(src, 'a', 'up-link'));
  let r = await tree.sh(`cp -a "${src}" "$M/containers/fsc/rootfs/tmp/tree"`);
  t.is(r.exitCode, 0, r.stderr);
  const out = path.join(tree.base, 'out');
  r = await tree.sh(`cp -a "$M/containers/fsc/rootfs/tmp/tree" "${out}"`);
  t.is(r.exitCode, 0, r.stderr);
  const diff = await tree.sh(`diff -r --no-dereference "${src}" "${out}" && stat -c '%n %a' "${src}"/* | sed 's#${src}##' > "${tree.base}/m1" && stat -c '%n %a' "${out}"/* | sed 's#${out}##' > "${tree.base}/m2" && cmp "${tree.base}/m1" "${tree.base}/m2"`);
  t.is(diff.exitCode, 0, diff.stdout + diff.stderr);
  t.is(await fs.readlink(path.join(out, 'rel-link')), 'a/b/c/deep.txt');
  // inside, the container sees the files with their modes
  const seen = await inside('ls -l /tmp/tree/exec.sh /tmp/tree/private; cat /tmp/tree/a/b/c/deep.txt; readlink /tmp/tree/a/up-link');
  t.regex(seen.stdout, /-rwxr-x---.*exec\.sh/);
  t.regex(seen.stdout, /-rw-------.*private/);
  t.regex(seen.stdout, /deep\n\.\.\/exec\.sh\n$/);
});

test('an absolute symlink is stored as given, and shown as a link inside the container\'s root', async (t) => {
  await fs.mkdir(R('tmp', 'links', 'deeper'), { recursive: true });
  await fs.symlink('/etc/hostname', R('tmp', 'links', 'deeper', 'abs'));
  const seen = await inside('readlink /tmp/links/deeper/abs; cat /tmp/links/deeper/abs');
  t.is(seen.stdout.split('\n')[0], '/etc/hostname');
  // through the tree it points at the same file of the container, never the host's
  t.is(await fs.readlink(R('tmp', 'links', 'deeper', 'abs')), '../../../etc/hostname');
  t.is(await fs.readFile(R('tmp', 'links', 'deeper', 'abs'), 'utf8'), await fs.readFile(R('etc', 'hostname'), 'utf8'));
});

test('a 64 MiB file in, a container-made file out, checksums equal', async (t) => {
  const big = randomBytes(64 * 1024 * 1024);
  const src = path.join(tree.base, 'big');
  await fs.writeFile(src, big);
  const r = await tree.sh(`cp "${src}" "$M/containers/fsc/rootfs/tmp/big"`);
  t.is(r.exitCode, 0, r.stderr);
  const inner = await inside('sha256sum /tmp/big; dd if=/dev/urandom of=/tmp/made bs=1M count=8 2>/dev/null; sha256sum /tmp/made');
  const [bigSum, madeSum] = inner.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]!);
  t.is(bigSum, sha(big));
  t.is(sha(await fs.readFile(R('tmp', 'made'))), madeSum!);
});

test('mv, rm -r, chmod, chown, truncate, append, touch, a 1 GiB sparse file, tar', async (t) => {
  const r = await tree.sh(`set -e; cd "$M/containers/fsc/rootfs/tmp"
    mkdir -p ops/x/y; echo one > ops/x/y/f; mv ops/x/y/f ops/moved; echo over > ops/other; mv ops/other ops/moved
    rm -r ops/x; chmod 640 ops/moved; chown 1234:4321 ops/moved; echo more >> ops/moved; truncate -s 2 ops/moved
    touch -d '2001-02-03 04:05:06' ops/moved
    tar -cf "${tree.base}/ops.tar" -C "$M/containers/fsc/rootfs/tmp" ops
    truncate -s 1G ops/sparse; printf end >> ops/sparse`);
  t.is(r.exitCode, 0, r.stderr);
  const st = await fs.stat(R('tmp', 'ops', 'moved'));
  t.is(st.mode & 0o777, 0o640);
  t.is(st.uid, 1234);
  t.is(st.gid, 4321);
  t.is(st.size, 2);
  t.is(st.mtime.toISOString().slice(0, 19), new Date('2001-02-03T04:05:06').toISOString().slice(0, 19));
  t.is(await fs.readFile(R('tmp', 'ops', 'moved'), 'utf8'), 'ov');
  const sparse = await fs.stat(R('tmp', 'ops', 'sparse'));
  t.is(sparse.size, 1024 ** 3 + 3);
  t.true(sparse.blocks * 512 < 1024 * 1024, 'sparse stays sparse');
  const list = await tree.sh(`tar -tf "${tree.base}/ops.tar"`);
  const seen = await inside('stat -c "%a %u %g %s" /tmp/ops/moved; ls /tmp/ops');
  t.is(seen.stdout, '640 1234 4321 2\nmoved\nsparse\n');
  t.false(list.stdout.includes('sparse'));
  t.regex(list.stdout, /ops\/moved/);
});

test('mkfifo through the tree makes a FIFO the container can use', async (t) => {
  const r = await tree.sh(`mkfifo "$M/containers/fsc/rootfs/tmp/fifo"`);
  t.is(r.exitCode, 0, r.stderr);
  t.true((await fs.lstat(R('tmp', 'fifo'))).isFIFO());
  const seen = await inside('echo through > /tmp/fifo & cat /tmp/fifo');
  t.is(seen.stdout, 'through\n');
});

test('the container sees host writes at once and the host sees the container\'s', async (t) => {
  await fs.writeFile(R('tmp', 'from-host'), 'hello from host\n');
  const seen = await inside('cat /tmp/from-host; echo "hello from inside" > /tmp/from-inside');
  t.is(seen.stdout, 'hello from host\n');
  t.is(await fs.readFile(R('tmp', 'from-inside'), 'utf8'), 'hello from inside\n');
});

test('tail -f streams lines a container appends', async (t) => {
  await fs.writeFile(R('var', 'log', 'app.log'), '');
  const id = await tree.ctl(tree.p('containers', 'fsc', 'ctl'), `run sh -c 'for i in 1 2 3; do echo "line $i" >> /var/log/app.log; sleep 0.8; done'`);
  const lines: string[] = [];
  const tail = spawn('tail', ['-f', R('var', 'log', 'app.log')]);
  tail.stdout.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  await fs.readFile(tree.p('containers', 'fsc', 'procs', id, 'wait'));
  for (let i = 0; i < 30 && lines.length < 3; i++) await sleep(200);
  tail.kill();
  t.deepEqual(lines, ['line 1', 'line 2', 'line 3']);
});

test('escapes: absolute, relative, root links and a swap race never reach host files', async (t) => {
  const outside = path.join(tree.base, 'outside');
  await fs.mkdir(outside, { recursive: true });
  await fs.writeFile(path.join(outside, 'secret'), 'host secret\n');
  const depth = '../'.repeat(20);
  // one line: a newline in a ctl write would start another message
  const plant = await inside(`set -e; mkdir -p /esc; ln -s ${outside} /esc/abs-dir; ln -s ${outside}/secret /esc/abs-file; ln -s ${depth}${outside.slice(1)}/secret /esc/rel-file; ln -s / /esc/root; echo inner > /esc/inner-secret`);
  t.is(plant.status, 'exited 0\n', plant.stderr);
  const esc = (...p: string[]) => R('esc', ...p);
  // reading through the links gives the container's files (or nothing), never the host's
  for (const p of [esc('abs-file'), esc('rel-file'), esc('abs-dir', 'secret'), esc('root', outside.slice(1), 'secret')]) {
    const got = await fs.readFile(p, 'utf8').catch((e: NodeJS.ErrnoException) => e.code);
    t.not(got, 'host secret\n', p);
  }
  // writing through them creates nothing on the host
  for (const p of [esc('abs-dir', 'planted'), esc('root', outside.slice(1), 'planted2')]) {
    await fs.writeFile(p, 'x').catch(() => undefined);
  }
  await fs.writeFile(esc('abs-file'), 'overwrite').catch(() => undefined);
  await fs.writeFile(esc('rel-file'), 'overwrite').catch(() => undefined);
  t.deepEqual((await fs.readdir(outside)).sort(), ['secret']);
  t.is(await fs.readFile(path.join(outside, 'secret'), 'utf8'), 'host secret\n');
  // the root link leads to the container's own root
  t.is(await fs.readFile(esc('root', 'esc', 'inner-secret'), 'utf8'), 'inner\n');

  // swap race: the container swaps a directory for a symlink to the host while the host writes 400 files into it
  const swapper = await tree.ctl(tree.p('containers', 'fsc', 'ctl'),
    `run sh -c 'mkdir -p /race/d.real; i=0; while [ $i -lt 3000 ]; do mv /race/d /race/d.tmp 2>/dev/null; ln -sfn ${outside} /race/d.link; mv -T /race/d.link /race/d 2>/dev/null; rm -f /race/d; mkdir -p /race/d; i=$((i+1)); done'`);
  let written = 0;
  for (let i = 0; i < 400; i++) {
    await fs.writeFile(R('race', 'd', `f${i}`), 'race').then(() => written++, () => undefined);
  }
  await fs.writeFile(tree.p('containers', 'fsc', 'procs', swapper, 'ctl'), 'kill KILL\n').catch(() => undefined);
  t.log(`written inside: ${written}/400`);
  t.deepEqual((await fs.readdir(outside)).sort(), ['secret'], 'nothing was created on the host');
});

// Extended attributes through rootfs/ (python3's os.*xattr: Node has no xattr calls).
const XATTR_PY = String.raw`
import ctypes, errno, os, sys
root, out = sys.argv[1], sys.argv[2]
f = os.path.join(root, 'tmp', 'xa', 'file')
d = os.path.join(root, 'tmp', 'xa')
res = {}
os.setxattr(f, 'user.color', b'blue')
os.setxattr(f, 'user.size', b'x' * 3000)
os.setxattr(d, 'user.dir', b'1')
res['get'] = os.getxattr(f, 'user.color').decode()
res['big'] = len(os.getxattr(f, 'user.size'))
res['list'] = sorted(os.listxattr(f))
res['dirlist'] = sorted(os.listxattr(d))
def err(fn):
    try:
        fn()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
res['missing'] = err(lambda: os.getxattr(f, 'user.none'))
res['create_existing'] = err(lambda: os.setxattr(f, 'user.color', b'red', os.XATTR_CREATE))
res['replace_missing'] = err(lambda: os.setxattr(f, 'user.none', b'red', os.XATTR_REPLACE))
os.removexattr(f, 'user.size')
res['after_remove'] = sorted(os.listxattr(f))
# a buffer too small is ERANGE, never a truncated value
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(2)
n = libc.getxattr(f.encode(), b'user.color', buf, 2)
res['small_buffer'] = errno.errorcode.get(ctypes.get_errno(), '?') if n < 0 else 'got %d' % n
os.symlink('file', os.path.join(d, 'link'))
res['link_list'] = os.listxattr(os.path.join(d, 'link'), follow_symlinks=False)
res['link_set'] = err(lambda: os.setxattr(os.path.join(d, 'link'), 'user.a', b'1', follow_symlinks=False))
ctl = os.path.join(os.path.dirname(os.path.dirname(root)), 'fsc', 'ctl')
res['ctl_list'] = os.listxattr(ctl)
res['ctl_set'] = err(lambda: os.setxattr(ctl, 'user.a', b'1'))
open(out, 'w').write(repr(res))
`;

test('extended attributes: set, get, list and remove through rootfs/, kept by cp -a both ways', async (t) => {
  await fs.mkdir(R('tmp', 'xa'), { recursive: true });
  await fs.writeFile(R('tmp', 'xa', 'file'), 'x\n');
  const script = path.join(tree.base, 'xattr.py');
  const result = path.join(tree.base, 'xattr.out');
  await fs.writeFile(script, XATTR_PY);
  const r = await tree.sh(`python3 "${script}" "$M/containers/fsc/rootfs" "${result}"`);
  t.is(r.exitCode, 0, r.stderr);
  const got = (await fs.readFile(result, 'utf8')).replace(/'/g, '"').replace(/\(\)/g, '[]');
  t.deepEqual(JSON.parse(got), {
    get: 'blue', big: 3000, list: ['user.color', 'user.size'], dirlist: ['user.dir'],
    missing: 'ENODATA', create_existing: 'EEXIST', replace_missing: 'ENODATA',
    after_remove: ['user.color'], small_buffer: 'ERANGE',
    link_list: [], link_set: 'EPERM', ctl_list: [], ctl_set: 'ENOTSUP', // python names 95 ENOTSUP (= EOPNOTSUPP on Linux)
  });
  // they are on the container's own file (its overlay upper layer), not somewhere else
  const upper = await tree.sh(`python3 -c "import os,sys; print(os.getxattr(sys.argv[1], 'user.color').decode())" "${tree.state}/containers/fsc/upper/tmp/xa/file"`);
  t.is(upper.stdout.trim(), 'blue', upper.stderr);

  // cp -a keeps them, into the container and back out
  const src = path.join(tree.base, 'xsrc');
  await fs.mkdir(src, { recursive: true });
  await fs.writeFile(path.join(src, 'tagged'), 'tagged\n');
  const cp = await tree.sh(`python3 -c "import os,sys; os.setxattr(sys.argv[1], 'user.tag', b'42')" "${src}/tagged" && cp -a "${src}" "$M/containers/fsc/rootfs/tmp/xcopy" && cp -a "$M/containers/fsc/rootfs/tmp/xcopy" "${tree.base}/xback" && python3 -c "import os,sys; print(os.getxattr(sys.argv[1], 'user.tag').decode(), os.getxattr(sys.argv[2], 'user.tag').decode())" "$M/containers/fsc/rootfs/tmp/xcopy/tagged" "${tree.base}/xback/tagged"`);
  t.is(cp.exitCode, 0, cp.stderr);
  t.is(cp.stdout.trim(), '42 42');
});

test('rootfs files are real files to the kernel: shared mmap writes reach the container, an open file sees growth', async (t) => {
  const file = R('tmp', 'mapped');
  await fs.writeFile(file, Buffer.alloc(4096, '.'));
  // MAP_SHARED writable: refused (ENODEV) on a direct-I/O FUSE file; page-cached rootfs files allow it
  const mm = await tree.sh(`python3 -c "
import mmap, sys
with open(sys.argv[1], 'r+b') as f:
    m = mmap.mmap(f.fileno(), 4096)
    m[0:6] = b'mapped'
    m.flush()
    m.close()
" "${file}"`);
  t.is(mm.exitCode, 0, mm.stderr);
  const seen = await inside('head -c 6 /tmp/mapped');
  t.is(seen.stdout, 'mapped');

  // a host fd kept open reads what the container appends later (the size change is noticed)
  await fs.writeFile(R('tmp', 'growing'), 'one\n');
  const fh = await fs.open(R('tmp', 'growing'), 'r');
  try {
    const buf = Buffer.alloc(64);
    t.is((await fh.read(buf, 0, 64, 0)).bytesRead, 4);
    t.is((await inside('echo two >> /tmp/growing')).status, 'exited 0\n');
    const { bytesRead } = await fh.read(buf, 0, 64, 0);
    t.is(buf.subarray(0, bytesRead).toString(), 'one\ntwo\n');
  } finally {
    await fh.close();
  }
});

test('an open rootfs file: ftruncate, fsync, fstat, O_APPEND and positioned writes through the fd', async (t) => {
  const file = R('tmp', 'fdops');
  const fh = await fs.open(file, 'w+');
  try {
    await fh.write(Buffer.from('0123456789'), 0, 10, 0);
    t.is((await fh.stat()).size, 10);
    await fh.truncate(4); // ftruncate on the handle
    t.is((await fh.stat()).size, 4);
    await fh.write(Buffer.from('XY'), 0, 2, 8); // a hole from 4 to 8
    await fh.sync();
    const buf = Buffer.alloc(16);
    const { bytesRead } = await fh.read(buf, 0, 16, 0);
    t.deepEqual(buf.subarray(0, bytesRead), Buffer.from('0123\0\0\0\0XY'));
  } finally {
    await fh.close();
  }
  // O_APPEND lands at the end even after the container appended behind the host's back
  const app = await fs.open(file, 'a');
  try {
    t.is((await inside('printf C >> /tmp/fdops')).status, 'exited 0\n');
    await app.write('Z');
  } finally {
    await app.close();
  }
  t.is(await fs.readFile(file, 'latin1'), '0123\0\0\0\0XYCZ');
  t.is((await inside('cat /tmp/fdops')).stdout, '0123\0\0\0\0XYCZ');
});
