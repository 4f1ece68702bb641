/**
 * rootfs/ seen from the host, attacked from inside the container (issue 11.1, 11.4) and
 * faithful where tools care (issue 20.4, 20.7, 20.8): symlinks never lead the host out of
 * rootfs/, opens never hand out a device or FIFO swapped in after the lookup, inode numbers
 * are real and stable, times are exact to the nanosecond, a link's size is its text's.
 */
import test from 'ava';
import { promises as fs, constants as C } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Tree } from '../helpers/tree.js';

const tree = new Tree('rootfsescape');
const NAME = 'esc';
/** A privileged container (no user namespace): its root has CAP_MKNOD and makes device nodes. */
const PRIV = 'escpriv';
test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), `create ${NAME}`);
  await tree.ctl(tree.p('ctl'), `create ${PRIV} privileged=true`);
});
test.after.always(async () => {
  await tree.cleanup();
});

const R = (...p: string[]) => tree.p('containers', NAME, 'rootfs', ...p);
/** The container's overlay as the host has it (what the container itself sees). */
const O = (...p: string[]) => path.join(tree.state, 'containers', NAME, 'rootfs', ...p);
const inside = async (script: string, name = NAME): Promise<{ status: string; stdout: string; stderr: string }> => {
  const id = await tree.ctl(tree.p('containers', name, 'ctl'), `run sh -c '${script.replace(/'/g, "''")}'`);
  const d = (f: string) => fs.readFile(tree.p('containers', name, 'procs', id, f), 'utf8');
  const status = await d('wait');
  return { status, stdout: await d('stdout'), stderr: await d('stderr') };
};
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Every presented link text: '../' × k (k ≤ the link's depth under rootfs/), then names only. */
function checkShape(t: { true(v: boolean, m?: string): void }, rel: string, text: string): void {
  const depth = rel.split('/').filter(Boolean).length - 1;
  t.true(!text.startsWith('/'), `${rel}: ${text} is absolute`);
  const parts = text.split('/').filter((p) => p !== '' && p !== '.');
  let k = 0;
  while (parts[k] === '..') k++;
  t.true(k <= depth, `${rel}: ${text} climbs ${k} > ${depth}`);
  t.true(!parts.slice(k).includes('..'), `${rel}: ${text} has '..' after a name`);
}

test('symlinks planted inside never lead the host out of rootfs/: chains, .. after links, absolute and relative', async (t) => {
  // The host canary: a file and a directory outside the tree, which the links aim at.
  const canaryDir = path.join(tree.base, 'canary');
  const canary = path.join(canaryDir, 'secret');
  const secret = `CANARY ${randomBytes(8).toString('hex')}\n`;
  await fs.mkdir(canaryDir);
  await fs.writeFile(canary, secret);
  const canaryRel = canary.slice(1); // the same path, relative: climbed to from the root
  const up = '../'.repeat(14);
  // The container's own file at the canary's path: where the links lead inside.
  // Each shape twice: in /tmp, where a textual walk of most of them already climbs above the
  // root, and deep down, where the text stays inside while the kernel, after r -> /, climbs
  // physically out of rootfs/ (the shapes a textual check let through).
  const deep = 'tmp/deep/' + Array.from({ length: 18 }, (_, i) => `d${i}`).join('/');
  const shapes = (b: string): Array<[string, string]> => [
    [`${b}/r`, '/'],
    [`${b}/x1`, `r/${up}${canaryRel}`],
    [`${b}/c2`, 'r'],
    [`${b}/c1`, 'c2'],
    [`${b}/x2`, `c1/${up}${canaryRel}`],
    [`${b}/x3`, 'x1'],
    [`${b}/x4`, `/${b}/x1`],
    [`${b}/d`, '/tmp/a/b'],
    [`${b}/x5`, `d/${up}${canaryRel}`],
    [`${b}/x6`, `/${b}/r/${up}${canaryRel}`],
    [`${b}/a/b/x7`, `../../r/${up}${canaryRel}`],
    [`${b}/up`, `r/${up}`],
    [`${b}/x9`, `${up}${canaryRel}`],
    [`${b}/rr`, 'r/..'],
    [`${b}/x10`, `rr/${up}${canaryRel}`],
    [`${b}/x11`, `../${path.basename(b)}/r/../${up}${canaryRel}`],
    [`${b}/x12`, `missing/${up}${canaryRel}`],
    [`${b}/x13`, `/${b}/a/b/x7`],
    [`${b}/a/x14`, `../c1/..//./${up}/${canaryRel}`],
    [`${b}/x15`, `up/${canaryRel}`],
  ];
  const links = [...shapes('tmp'), ...shapes(deep)];
  const plant = [`mkdir -p /tmp/a/b /tmp/a/b/a/b /${deep}/a/b ${q('/' + path.dirname(canaryRel))}`, `echo decoy > ${q('/' + canaryRel)}`,
    ...links.map(([l, target]) => `ln -s ${q(target)} ${q('/' + l)}`)].join(' && ');
  const planted = await inside(plant);
  t.is(planted.status.trim(), 'exited 0', planted.stderr);

  // Every presented text has the safe shape, and its size is its length.
  for (const [l] of links) {
    const text = await fs.readlink(R(l));
    checkShape(t, l, text);
    t.is((await fs.lstat(R(l))).size, Buffer.byteLength(text), `${l}: size of ${text}`);
  }
  // Where the container finds its decoy, the host does too (the same file, inside).
  for (const b of ['tmp', deep]) {
    for (const l of ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'a/b/x7', 'x10', 'x11', 'x13', 'a/x14', 'x15']) {
      t.is(await fs.readFile(R(b, l), 'utf8'), 'decoy\n', `${b}/${l}`);
    }
    // x9 climbs 14 levels: above the root from tmp/ (so to the decoy), not from deep down
    if (b === 'tmp') t.is(await fs.readFile(R(b, 'x9'), 'utf8'), 'decoy\n');
    else await t.throwsAsync(fs.readFile(R(b, 'x9')), { code: 'ENOENT' });
    t.is(await fs.readFile(R(b, 'up', canaryRel), 'utf8'), 'decoy\n');
    await t.throwsAsync(fs.readFile(R(b, 'x12')), { code: 'ENOENT' });
    // r/.. is the container's root, never the directory above rootfs/
    t.true((await fs.readdir(R(b, 'rr'))).includes('etc'), `${b}/rr`);
    await t.throwsAsync(fs.readFile(R(b, 'rr', 'status')), { code: 'ENOENT' });
  }

  // Read, append, overwrite and copy through every link, as a user would.
  const src = path.join(tree.base, 'src-file');
  await fs.writeFile(src, 'from the host\n');
  const out = path.join(tree.base, 'out');
  await fs.mkdir(out);
  const targets = [...links.filter(([l]) => /x\d+$/.test(l)).map(([l]) => R(l)), R('tmp', 'up', canaryRel), R(deep, 'up', canaryRel)];
  let i = 0;
  for (const p of targets) {
    const r = await tree.sh(`cat ${q(p)}; tail -n 1 ${q(p)}; cp ${q(p)} ${q(path.join(out, String(i++)))}; echo pwned >> ${q(p)}; echo pwned > ${q(p)}; cp ${q(src)} ${q(p)}; true`);
    t.false(r.stdout.includes('CANARY'), `${p}: read the host's canary`);
  }
  for (const b of ['tmp', deep]) {
    await tree.sh(`echo new > ${q(R(b, 'up', path.dirname(canaryRel), 'planted'))}; mkdir ${q(R(b, 'up', path.dirname(canaryRel), 'dir'))}`);
  }
  for (const f of await fs.readdir(out)) t.false((await fs.readFile(path.join(out, f), 'utf8')).includes('CANARY'), `copy ${f}`);

  // The canary is untouched, and nothing was added beside it.
  t.is(await fs.readFile(canary, 'utf8'), secret);
  t.deepEqual(await fs.readdir(canaryDir), ['secret']);
  // The writes landed inside the container.
  t.is(await fs.readFile(O(canaryRel), 'utf8'), 'from the host\n');
});

test('links from the image and through the overlay keep their text when it is already safe', async (t) => {
  const r = await inside('mkdir -p /tmp/k/l && echo hi > /tmp/k/f && ln -s f /tmp/k/same && ln -s ../f /tmp/k/l/upone && ln -s ../../../../k /tmp/k/l/over');
  t.is(r.status.trim(), 'exited 0', r.stderr);
  t.is(await fs.readlink(R('tmp', 'k', 'same')), 'f');
  t.is(await fs.readlink(R('tmp', 'k', 'l', 'upone')), '../f');
  // climbs past the root: shown as the climb to rootfs/ and the place inside
  t.is(await fs.readlink(R('tmp', 'k', 'l', 'over')), '../../../k');
  t.is(await fs.readFile(R('tmp', 'k', 'l', 'upone'), 'utf8'), 'hi\n');
  // a link to the root, at several depths
  const root = await inside('ln -s / /tmp/k/root && ln -s / /root-link');
  t.is(root.status.trim(), 'exited 0', root.stderr);
  t.is(await fs.readlink(R('tmp', 'k', 'root')), '../..');
  t.is(await fs.readlink(R('root-link')), '.');
  t.true((await fs.readdir(R('tmp', 'k', 'root', 'etc'))).includes('hostname'));
});

test('an open never hands the host a device or FIFO swapped in after the lookup; nothing hangs', async (t) => {
  // Each attempt right after the swap, in process: the kernel still believes the name is the
  // regular file it looked up (entry_timeout=1), so the OPEN (or the truncate of O_TRUNC)
  // reaches the daemon with whatever is there now.
  const modes = { read: C.O_RDONLY | C.O_NONBLOCK, write: C.O_WRONLY | C.O_NONBLOCK, trunc: C.O_WRONLY | C.O_TRUNC | C.O_NONBLOCK };
  for (const kind of ['char', 'fifo'] as const) {
    for (const [how, flags] of Object.entries(modes)) {
      const name = `swap-${kind}-${how}`;
      // The container's side, ready beforehand: the node it will swap in (by rename, at once).
      const made = await tree.sh(kind === 'char' ? `mknod ${q(O('tmp', name + '.new'))} c 1 3` : `mkfifo ${q(O('tmp', name + '.new'))}`);
      t.is(made.exitCode, 0, made.stderr);
      await fs.writeFile(O('tmp', name), 'regular\n');
      // The host looks the name up: a regular file.
      t.true((await fs.stat(R('tmp', name))).isFile());
      // The container swaps it (on the overlay as the container has it).
      await fs.rename(O('tmp', name + '.new'), O('tmp', name));
      const err = await fs.open(R('tmp', name), flags).then(async (fh) => { await fh.close(); return undefined; }, (e: NodeJS.ErrnoException) => e.code);
      // EACCES (open) or EINVAL (truncate) from the daemon; never a handle on the node.
      t.log(name, err);
      t.true(err !== undefined, `${name}: the open succeeded`);
    }
  }
  // The daemon still answers at once.
  t.true((await fs.stat(R('tmp'))).isDirectory());
  // A container in a user namespace (the default) cannot make a device node at all.
  const denied = await inside('mknod /tmp/null-in c 1 3');
  t.not(denied.status.trim(), 'exited 0');
  t.regex(denied.stderr, /Operation not permitted/);
  // Made inside a privileged container, a device node through rootfs/ is no device to the host.
  const r = await inside('mknod /tmp/null-in c 1 3 && mkfifo /tmp/fifo-in', PRIV);
  t.is(r.status.trim(), 'exited 0', r.stderr);
  const P = (...p: string[]) => tree.p('containers', PRIV, 'rootfs', ...p);
  const rd = await tree.sh(`timeout 10 cat ${q(P('tmp', 'null-in'))}; echo $?`);
  t.not(rd.stdout.trim(), '0');
  t.not(rd.stdout.trim(), '124');
  t.true((await fs.lstat(P('tmp', 'fifo-in'))).isFIFO());
});

test('real inode numbers: a file with two links is one inode through rootfs/, stable across a forget; tar stores a hard link', async (t) => {
  const r = await inside('mkdir -p /tmp/hl && echo same > /tmp/hl/one && ln /tmp/hl/one /tmp/hl/two && echo other > /tmp/hl/three');
  t.is(r.status.trim(), 'exited 0', r.stderr);
  const one = await fs.stat(R('tmp', 'hl', 'one'), { bigint: true });
  const two = await fs.stat(R('tmp', 'hl', 'two'), { bigint: true });
  const three = await fs.stat(R('tmp', 'hl', 'three'), { bigint: true });
  t.is(one.ino, two.ino);
  t.is(one.nlink, 2n);
  t.not(one.ino, three.ino);
  const find = await tree.sh(`find ${q(R('tmp', 'hl'))} -samefile ${q(R('tmp', 'hl', 'one'))} | sort`);
  t.is(find.stdout.trim(), `${R('tmp', 'hl', 'one')}\n${R('tmp', 'hl', 'two')}`);
  const tar = await tree.sh(`tar -C ${q(R('tmp'))} -cf ${q(path.join(tree.base, 'hl.tar'))} hl && tar -tvf ${q(path.join(tree.base, 'hl.tar'))}`);
  t.is(tar.exitCode, 0, tar.stderr);
  t.regex(tar.stdout, /hl\/(one|two) link to hl\/(one|two)/);
  // The number is the file's: the kernel forgets its inodes, the number stays.
  await fs.writeFile('/proc/sys/vm/drop_caches', '2');
  await new Promise((resolve) => setTimeout(resolve, 1200)); // past entry_timeout
  t.is((await fs.stat(R('tmp', 'hl', 'two'), { bigint: true })).ino, one.ino);
  // An open file's number (answered by the binding from its fd, fuse-native.c wardenfs_ino)
  // is its path's: a read to the end makes the kernel ask with the handle, and keep the answer.
  const cached = await tree.sh(`exec 3< ${q(R('tmp', 'hl', 'one'))}; cat <&3 >/dev/null; stat --cached=always -c %i ${q(R('tmp', 'hl', 'one'))}; exec 3<&-`);
  t.is(cached.stdout.trim(), String(one.ino), cached.stderr);
  // The same for a file of an image (its filesystem's device: a hashed tag, in C and in JS).
  const imgFile = tree.p('images', 'busybox', 'rootfs', 'etc', 'passwd');
  const imgCached = await tree.sh(`exec 3< ${q(imgFile)}; cat <&3 >/dev/null; stat --cached=always -c %i ${q(imgFile)}; stat -c %i ${q(imgFile)}; exec 3<&-`);
  const [c1, c2] = imgCached.stdout.trim().split('\n');
  t.regex(c1 ?? '', /^\d+$/, imgCached.stderr);
  t.is(c1, c2, imgCached.stderr);
  // Different trees never share numbers: the image's file and the container's copy of it.
  const img = await fs.stat(tree.p('images', 'busybox', 'rootfs', 'bin'), { bigint: true });
  const mine = await fs.stat(R('bin'), { bigint: true });
  t.not(img.ino, mine.ino);
  // Synthetic files have numbers of their own.
  const a = await fs.stat(tree.p('ctl'), { bigint: true });
  const b = await fs.stat(tree.p('containers', NAME, 'status'), { bigint: true });
  t.not(a.ino, b.ino);
  t.not(a.ino, 0n);
});

test('nanosecond times: set from the host, read back exact through rootfs/ and inside; cp -a out keeps them', async (t) => {
  const r = await tree.sh(`set -e; mkdir -p ${q(R('tmp', 'ns'))}; cd ${q(R('tmp', 'ns'))}
    echo a > a; echo b > b; mkdir d; echo c > d/c
    touch -d '2001-02-03 04:05:06.123456789' a
    touch -m -d '2002-03-04 05:06:07.987654321' b
    touch -a -d '2003-04-05 06:07:08.000000001' b
    touch -d '1999-12-31 23:59:59.999999999' d/c`);
  t.is(r.exitCode, 0, r.stderr);
  const ns = async (p: string) => {
    const st = await fs.lstat(p, { bigint: true });
    return [st.atimeNs, st.mtimeNs];
  };
  const aT = await ns(R('tmp', 'ns', 'a'));
  t.is(aT[1]! % 1_000_000_000n, 123456789n);
  t.deepEqual(aT, await ns(O('tmp', 'ns', 'a')), 'as the container has it');
  const bT = await ns(R('tmp', 'ns', 'b'));
  t.is(bT[1]! % 1_000_000_000n, 987654321n, 'touch -m sets mtime only');
  t.is(bT[0]! % 1_000_000_000n, 1n, 'touch -a sets atime only');
  t.deepEqual(bT, await ns(O('tmp', 'ns', 'b')));
  // touch of an existing file: both times now (UTIME_NOW)
  const before = BigInt(Date.now() - 2000) * 1_000_000n;
  t.is((await tree.sh(`touch ${q(R('tmp', 'ns', 'now'))} && sleep 0.01 && touch ${q(R('tmp', 'ns', 'now'))}`)).exitCode, 0);
  const nowT = await ns(R('tmp', 'ns', 'now'));
  t.true(nowT[0]! > before && nowT[1]! > before, 'touch sets the current time');
  // Inside the container.
  const seen = await inside('stat -c %y /tmp/ns/a');
  t.regex(seen.stdout, /04:05:06\.123456789/);
  // cp -a out and back in: every mtime identical to the nanosecond (atimes move as cp reads).
  const out = path.join(tree.base, 'ns-out');
  const cp = await tree.sh(`cp -a --preserve=timestamps ${q(R('tmp', 'ns'))} ${q(out)} && cp -a ${q(out)} ${q(R('tmp', 'ns-back'))}`);
  t.is(cp.exitCode, 0, cp.stderr);
  for (const f of ['a', 'b', 'd/c']) {
    const orig = await ns(R('tmp', 'ns', f));
    t.is((await ns(path.join(out, f)))[1], orig[1], `${f} out`);
    t.is((await ns(O('tmp', 'ns-back', f)))[1], orig[1], `${f} back in`);
  }
});
