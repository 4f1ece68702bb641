/**
 * Link presentation (confine.ts): examples, and a model check. The model is a container's
 * root with directories, files and symlinks; the container resolves links as in a chroot
 * (RESOLVE_IN_ROOT), the host kernel walks the mount physically and reads each link through
 * containedLinkTarget. Whatever the links, the host walk must never leave rootfs/, and must
 * land where the container lands whenever the container's walk succeeds.
 */
import test from 'ava';
import { containedLinkTarget, linkPlan, splitRel, type Resolved } from '../../src/fs/nodes/confine.js';

type Entry = { type: 'dir' } | { type: 'file' } | { type: 'link'; target: string };
type Fs = Map<string, Entry>; // in-root path ('' is the root) → entry

const key = (names: string[]) => names.join('/');

/** The container's view: resolve `parts` from the root, every link followed in the root. */
function chrootWalk(fs: Fs, parts: string[], budget = { links: 40 }): string[] | undefined {
  let cur: string[] = [];
  const queue = [...parts];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (p === '' || p === '.') continue;
    const here = fs.get(key(cur));
    if (!here || here.type !== 'dir') return undefined;
    if (p === '..') { cur = cur.slice(0, -1); continue; }
    const next = [...cur, p];
    const e = fs.get(key(next));
    if (!e) return undefined;
    if (e.type === 'link') {
      if (--budget.links < 0) return undefined;
      const t = e.target;
      if (t.startsWith('/')) cur = [];
      queue.unshift(...t.split('/'));
      continue;
    }
    cur = next;
  }
  return cur;
}

/** The daemon's resolver over the model: longest existing prefix. */
function modelResolver(fs: Fs) {
  return async (parts: string[]): Promise<Resolved> => {
    for (let k = parts.length; k >= 0; k--) {
      const r = chrootWalk(fs, parts.slice(0, k));
      if (r) return { path: key(r), consumed: k };
    }
    throw new Error('unreachable');
  };
}

/**
 * The host kernel: a physical walk of the mount, from the link's directory, where rootfs/
 * sits below HOST_PREFIX. Returns the in-root path reached, 'escaped' when the walk left
 * rootfs/, or undefined when it failed.
 */
const HOST_PREFIX = ['mnt', 'containers', 'c', 'rootfs'];
async function hostFollow(fs: Fs, linkPath: string[]): Promise<string[] | 'escaped' | undefined> {
  const present = (rel: string, target: string) => containedLinkTarget(rel, target, modelResolver(fs));
  let links = 0;
  // position: full host path
  let cur = [...HOST_PREFIX, ...linkPath.slice(0, -1)];
  const queue: string[] = [linkPath[linkPath.length - 1]!];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (p === '' || p === '.') continue;
    if (p === '..') { cur = cur.slice(0, -1); }
    else cur = [...cur, p];
    if (cur.length < HOST_PREFIX.length || HOST_PREFIX.some((n, i) => cur[i] !== n)) return 'escaped';
    const inRoot = cur.slice(HOST_PREFIX.length);
    const e = fs.get(key(inRoot));
    if (!e) return undefined;
    if (e.type === 'link') {
      if (++links > 40) return undefined;
      const text = await present(key(inRoot), e.target);
      if (text.startsWith('/')) return 'escaped';
      cur = cur.slice(0, -1);
      queue.unshift(...text.split('/'));
      continue;
    }
    if (queue.length > 0 && e.type !== 'dir' && queue.some((q) => q !== '' && q !== '.')) return undefined;
  }
  return cur.slice(HOST_PREFIX.length);
}

function baseFs(): Fs {
  const fs: Fs = new Map();
  for (const d of ['', 'etc', 'tmp', 'tmp/a', 'tmp/a/b', 'usr', 'usr/lib', 'usr/bin']) fs.set(d, { type: 'dir' });
  for (const f of ['etc/shadow', 'etc/hostname', 'usr/lib/x.so', 'tmp/a/file']) fs.set(f, { type: 'file' });
  return fs;
}

const resolveIn = (fs: Fs) => modelResolver(fs);

test('relative links made only of leading .. and names are shown as stored', async (t) => {
  const fs = baseFs();
  const r = resolveIn(fs);
  t.is(await containedLinkTarget('bin/sh', 'busybox', r), 'busybox');
  t.is(await containedLinkTarget('usr/bin/wget', '../../bin/busybox', r), '../../bin/busybox');
  t.is(await containedLinkTarget('a/b/c', './d', r), './d');
  t.is(await containedLinkTarget('a/b/c', 'x/y/', r), 'x/y/');
  t.deepEqual(linkPlan('usr/bin/x', '../lib/x.so'), { text: '../lib/x.so' });
});

test('absolute links without .. are the climb to the root and their names', async (t) => {
  const r = resolveIn(baseFs());
  t.is(await containedLinkTarget('bin', '/usr/bin', r), 'usr/bin');
  t.is(await containedLinkTarget('a/b/link', '/etc/passwd', r), '../../etc/passwd');
  t.is(await containedLinkTarget('link', '/', r), '.');
  t.is(await containedLinkTarget('a/link', '/', r), '..');
  t.is(await containedLinkTarget('a/b/link', '/', r), '../..');
  t.is(await containedLinkTarget('a/link', '/etc/', r), '../etc/');
  t.is(await containedLinkTarget('a/b/evil', '/../../x', r), '../../x');
});

test('.. above the root stops at the root', async (t) => {
  const r = resolveIn(baseFs());
  t.is(await containedLinkTarget('tmp/evil', '../../../../etc/shadow', r), '../etc/shadow');
  t.is(await containedLinkTarget('evil', '..', r), '.');
  t.is(await containedLinkTarget('tmp/a/evil', '../../../..', r), '../..');
});

test('.. after a link is resolved in the root: the issue\'s r -> / shape', async (t) => {
  const fs = baseFs();
  fs.set('tmp/r', { type: 'link', target: '/' });
  const r = resolveIn(fs);
  t.is(await containedLinkTarget('tmp/x', 'r/../../../../etc/shadow', r), '../etc/shadow');
  t.is(await containedLinkTarget('tmp/a/b/x', '../../r/../etc/shadow', r), '../../../etc/shadow');
  // dangling with '..' after a missing name: dangles the same way
  t.is(await containedLinkTarget('tmp/x', 'missing/../../etc/shadow', r), '../tmp/missing');
  // '..' after a file: ENOTDIR inside, a trailing slash on the file outside
  t.is(await containedLinkTarget('tmp/x', 'a/file/../file', r), '../tmp/a/file/');
});

test('splitRel drops empty and dot components', (t) => {
  t.deepEqual(splitRel(''), []);
  t.deepEqual(splitRel('a//b/./c'), ['a', 'b', 'c']);
});

/** A small deterministic PRNG (mulberry32), so that a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

test('model check: no link, chain or .. after a link leads out of rootfs/, and the host lands where the container does', async (t) => {
  const dirs = ['', 'etc', 'tmp', 'tmp/a', 'tmp/a/b', 'usr', 'usr/lib'];
  const names = ['r', 's', 'x', 'y', 'z'];
  const pieces = ['..', '..', '..', '.', 'etc', 'tmp', 'a', 'b', 'r', 's', 'x', 'shadow', 'missing', 'file', ''];
  let checked = 0;
  let landed = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const rand = rng(seed);
    const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)]!;
    const fs = baseFs();
    const links: string[] = [];
    for (let i = 0; i < 6; i++) {
      const dir = pick(dirs);
      const name = pick(names);
      const path = dir ? `${dir}/${name}` : name;
      if (fs.has(path)) continue;
      const n = 1 + Math.floor(rand() * 6);
      let target = Array.from({ length: n }, () => pick(pieces)).join('/');
      if (rand() < 0.3) target = '/' + target;
      if (target === '') target = '/';
      fs.set(path, { type: 'link', target });
      links.push(path);
    }
    for (const l of links) {
      const host = await hostFollow(fs, l.split('/'));
      t.not(host, 'escaped', `seed ${seed}: ${l} -> ${(fs.get(l) as { target: string }).target} left rootfs/`);
      const inside = chrootWalk(fs, l.split('/'));
      if (inside && host !== 'escaped') {
        t.deepEqual(host, inside, `seed ${seed}: ${l} -> ${(fs.get(l) as { target: string }).target} lands elsewhere`);
        landed++;
      }
      checked++;
    }
  }
  t.true(checked > 1000);
  t.true(landed > 100);
});

test('a presented text longer than libfuse passes on is ENAMETOOLONG, never cut', async (t) => {
  const fs = baseFs();
  const deepLink = Array.from({ length: 1500 }, () => 'd').join('/') + '/link';
  await t.throwsAsync(containedLinkTarget(deepLink, '/etc/x', resolveIn(fs)), { code: 'ENAMETOOLONG' });
  t.is(await containedLinkTarget(deepLink, 'x', resolveIn(fs)), 'x');
});
