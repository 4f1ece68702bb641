/**
 * Listings through rootfs/ in bounded memory (issue 11.6): a container decides how many
 * names a directory has and how long they are; the daemon lists it in batches with offsets
 * (the binding, from a real fd per opendir) and never holds the whole listing.
 * WARDENFS_BIGDIR_N sets the number of entries (default 300000, names of 200 bytes).
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';

const tree = new Tree('bigdir');
test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create big net=none');
});
test.after.always(async () => {
  await tree.cleanup();
});

const N = Number(process.env.WARDENFS_BIGDIR_N || 300_000);
/** The container's root as the host mounts it (the overlay itself, not the tree). */
const host = (...p: string[]) => path.join(tree.state, 'containers', 'big', 'rootfs', ...p);
/** The container's upper layer: a new directory made there is the container's at once, and is made faster than through the overlay. */
const upper = (...p: string[]) => path.join(tree.state, 'containers', 'big', 'upper', ...p);
const R = (...p: string[]) => tree.p('containers', 'big', 'rootfs', ...p);

/** N empty files named PREFIX + a number, made by one small program (one mknod each). */
async function makeFiles(dir: string, n: number, prefix: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const script = 'import os,sys\nd,n,p=sys.argv[1],int(sys.argv[2]),sys.argv[3]\nfor i in range(n): os.mknod(os.path.join(d, p + "%010d" % i))\n';
  await execa('python3', ['-c', script, dir, String(n), prefix]);
}

async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

test.serial(`ls -f of ${N} long names through rootfs/: exact count, daemon memory bounded, other files answer meanwhile`, async (t) => {
  const dir = upper('big');
  const prefix = 'n'.repeat(190);
  try {
    await makeFiles(dir, N, prefix);
    const pid = tree.daemon!.pid!;
    // Warm up: the daemon has served a listing and its status before the baseline.
    await tree.sh('ls -f "$M/containers/big/rootfs/etc" > /dev/null; cat "$M/containers/big/status" > /dev/null');
    const before = await memory(pid);

    let peak = before.rss;
    let listing = true;
    const sampler = (async () => {
      while (listing) {
        peak = Math.max(peak, (await memory(pid)).rss);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    // Other requests meanwhile: status of the container (JavaScript) and a getattr of a
    // rootfs file, each timed.
    let slowest = 0;
    let answered = 0;
    const other = (async () => {
      while (listing) {
        const t0 = process.hrtime.bigint();
        await fs.readFile(tree.p('containers', 'big', 'status'), 'utf8');
        await fs.stat(R('etc', 'passwd'));
        slowest = Math.max(slowest, Number(process.hrtime.bigint() - t0) / 1e6);
        answered++;
      }
    })();
    const t0 = Date.now();
    const r = await tree.sh('ls -f "$M/containers/big/rootfs/big" | wc -l');
    const seconds = (Date.now() - t0) / 1000;
    listing = false;
    await Promise.all([sampler, other]);
    const after = await memory(pid);
    t.is(r.exitCode, 0, r.stderr);
    t.is(Number(r.stdout.trim()), N + 2); // and . and ..

    if (after.hwm > before.hwm) peak = Math.max(peak, after.hwm);
    const grew = (peak - before.rss) / 2 ** 20;
    t.log(`${N} names listed in ${seconds.toFixed(1)} s; daemon RSS ${(before.rss / 2 ** 20).toFixed(1)} MiB before, peak ${(peak / 2 ** 20).toFixed(1)} MiB (+${grew.toFixed(1)} MiB); ${answered} other requests, slowest ${slowest.toFixed(0)} ms`);
    t.true(grew < 64, `the daemon grew by ${grew.toFixed(1)} MiB`);
    t.true(answered > 0);
    t.true(slowest < 2000, `another request waited ${slowest.toFixed(0)} ms`);
  } finally {
    await execa('rm', ['-rf', dir], { reject: false });
  }
});

test.serial('a listing in batches: every name once, telldir/seekdir and rewinddir, d_type, a name of 255 bytes, in a merged directory', async (t) => {
  // /etc is the image's and the container's at once (an overlayfs merged directory, whose
  // listing the kernel caches and seeks in from its start): made through the overlay mount.
  const dir = host('etc');
  const n = 20_000;
  const prefix = 'm'.repeat(100);
  const extra = ['z'.repeat(255), 'link', 'sub'];
  try {
    await makeFiles(dir, n, prefix);
    await fs.writeFile(path.join(dir, extra[0]!), 'long\n');
    await fs.symlink('/etc/passwd', path.join(dir, 'link'));
    await fs.mkdir(path.join(dir, 'sub'));
    const want = (await fs.readdir(dir)).sort();
    const got = await fs.readdir(R('etc'));
    t.is(got.length, want.length); // no name twice, none missing
    t.deepEqual([...got].sort(), want);
    // d_type comes through: find tells directories and links apart without a stat
    const types = await fs.readdir(R('etc'), { withFileTypes: true });
    t.true(types.find((e) => e.name === 'sub')!.isDirectory());
    t.true(types.find((e) => e.name === 'link')!.isSymbolicLink());
    t.true(types.find((e) => e.name === extra[0])!.isFile());
    // seekdir to a telldir position far into the listing, and rewinddir, as a C program would
    const perl = `
      opendir(my $d, $ARGV[0]) or die "$!";
      readdir($d) for 1..12345;
      my $pos = telldir($d);
      my @a = map { scalar readdir($d) } 1..5;
      readdir($d) for 1..3000;
      seekdir($d, $pos);
      my @b = map { scalar readdir($d) } 1..5;
      rewinddir($d);
      my $count = 0; $count++ while defined(readdir($d));
      print join(",", @a) eq join(",", @b) ? "same" : "differ", " $count\\n";`;
    const r = await execa('perl', ['-e', perl, R('etc')], { reject: false });
    t.is(r.stdout.trim(), `same ${want.length + 2}`, r.stderr);
  } finally {
    const clean = 'import os,sys\nd,p=sys.argv[1],sys.argv[2]\nfor x in os.listdir(d):\n  if x.startswith(p): os.unlink(os.path.join(d, x))\n';
    await execa('python3', ['-c', clean, dir, prefix], { reject: false });
    for (const x of extra) await fs.rm(path.join(dir, x), { recursive: true, force: true });
  }
});

test.serial('a directory swapped for a symlink is listed inside the root, and the synthetic directories still list', async (t) => {
  await fs.mkdir(host('swap'), { recursive: true });
  await fs.symlink('/etc', host('swap', 'd'));
  // opendir follows a final link inside the container's root, never to the host's /etc
  const inside = (await fs.readdir(host('etc'))).sort();
  t.deepEqual((await fs.readdir(R('swap', 'd') + '/')).sort(), inside);
  t.deepEqual((await fs.readdir(tree.p('containers'))), ['big']);
  t.true((await fs.readdir(tree.p('containers', 'big'))).includes('rootfs'));
  await fs.rm(host('swap'), { recursive: true });
});

test.serial('the binding answers for a container\'s rootfs/ only while it exists: destroyed, ENOENT at once; made again, its own files', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create again net=none');
  const A = (...p: string[]) => tree.p('containers', 'again', 'rootfs', ...p);
  await fs.writeFile(A('marker'), 'one\n');
  t.true((await fs.stat(A('etc'))).isDirectory()); // the root is registered by now
  t.true((await fs.readdir(A())).includes('marker'));
  await tree.ctl(tree.p('containers', 'again', 'ctl'), 'destroy');
  for (const p of [A(), A('etc'), A('marker')]) await t.throwsAsync(fs.stat(p), { code: 'ENOENT' });
  for (const p of [A(), A('etc')]) await t.throwsAsync(fs.readdir(p), { code: 'ENOENT' });
  await tree.ctl(tree.p('ctl'), 'create again net=none');
  await t.throwsAsync(fs.stat(A('marker')), { code: 'ENOENT' });
  t.false((await fs.readdir(A())).includes('marker'));
  t.true((await fs.stat(A('etc', 'passwd'))).isFile());
  await tree.ctl(tree.p('containers', 'again', 'ctl'), 'destroy');
});
