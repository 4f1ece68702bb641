/** Images (docs/interface.md §3, §4): the default busybox image, import from a directory or a tar(.gz), remove, EBUSY. */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';
import { exists } from '../helpers/host.js';

const tree = new Tree('images');

test.before(async () => {
  await tree.start();
});

test.after.always(async () => {
  await tree.cleanup();
});

test('the default image is busybox with relative applet links and a minimal /etc', async (t) => {
  const root = tree.p('images', 'busybox', 'rootfs');
  t.true((await fs.stat(path.join(root, 'bin', 'busybox'))).isFile());
  const sh = await fs.readlink(path.join(root, 'bin', 'sh'));
  t.false(sh.startsWith('/'));
  const wget = await fs.readlink(path.join(root, 'usr', 'bin', 'wget'));
  t.is(wget, '../../bin/busybox');
  for (const f of ['passwd', 'group', 'hosts', 'resolv.conf', 'hostname']) t.true(await exists(path.join(root, 'etc', f)), f);
  t.regex(await fs.readFile(path.join(root, 'etc', 'passwd'), 'utf8'), /^root:x:0:0:/);
});

async function makeSourceTree(dir: string, marker: string): Promise<void> {
  await fs.mkdir(path.join(dir, 'bin'), { recursive: true });
  await fs.mkdir(path.join(dir, 'etc'), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  await fs.chmod(path.join(dir, 'bin', 'busybox'), 0o755);
  await fs.symlink('busybox', path.join(dir, 'bin', 'sh'));
  await fs.writeFile(path.join(dir, 'etc', 'marker'), marker);
}

test('import a directory and a tar.gz; containers run on them; remove is EBUSY while used', async (t) => {
  const src = path.join(tree.base, 'src-dir');
  await makeSourceTree(src, 'from a directory\n');
  t.is(await tree.ctl(tree.p('ctl'), `image import fromdir ${src}`), 'ok');

  const tgzSrc = path.join(tree.base, 'src-tar');
  await makeSourceTree(tgzSrc, 'from a tarball\n');
  const tgz = path.join(tree.base, 'img.tar.gz');
  await execa('tar', ['-czf', tgz, '-C', tgzSrc, '.']);
  t.is(await tree.ctl(tree.p('ctl'), `image import fromtar ${tgz}`), 'ok');
  // each import ends with what it wrote: entries and the bytes of busybox and the marker at least
  const busybox = (await fs.stat('/bin/busybox')).size;
  const done = [...(await fs.readFile(tree.p('events'), 'utf8')).matchAll(/^image import (fromdir|fromtar): done: (\d+) entries, (\d+) bytes written$/gm)];
  t.deepEqual(done.map((m) => m[1]), ['fromdir', 'fromtar']);
  for (const m of done) {
    t.true(Number(m[2]) >= 5, m[0]);
    t.true(Number(m[3]) >= busybox + 'from a tarball\n'.length - 2, m[0]);
  }

  const listed = await fs.readdir(tree.p('images'));
  for (const n of ['busybox', 'fromdir', 'fromtar']) t.true(listed.includes(n), n);
  t.is(await fs.readFile(tree.p('images', 'fromdir', 'rootfs', 'etc', 'marker'), 'utf8'), 'from a directory\n');
  t.is(await fs.readFile(tree.p('images', 'fromtar', 'rootfs', 'etc', 'marker'), 'utf8'), 'from a tarball\n');

  await tree.ctl(tree.p('ctl'), 'create ontar image=fromtar');
  t.is((await tree.status('ontar')).image, 'fromtar');
  t.is(await fs.readFile(tree.p('containers', 'ontar', 'rootfs', 'etc', 'marker'), 'utf8'), 'from a tarball\n');

  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'image remove fromtar\n'), { code: 'EBUSY' });
  t.true((await fs.readdir(tree.p('images'))).includes('fromtar'));
  t.regex(await fs.readFile(tree.p('events'), 'utf8'), /^error: image "fromtar" is used by a container$/m);

  await tree.ctl(tree.p('ctl'), 'destroy ontar');
  t.is(await tree.ctl(tree.p('ctl'), 'image remove fromtar'), 'ok');
  t.false((await fs.readdir(tree.p('images'))).includes('fromtar'));
  t.is(await tree.ctl(tree.p('ctl'), 'image remove fromdir'), 'ok');
});

test('import errors: existing name, missing path, not an archive, bad name', async (t) => {
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import busybox ${tree.base}\n`), { code: 'EEXIST' });
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'image import nope /no/such/path\n'), { code: 'ENOENT' });
  const junk = path.join(tree.base, 'junk.tar');
  await fs.writeFile(junk, 'this is not a tar archive at all, just text\n'.repeat(20));
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import junk ${junk}\n`), { code: 'EINVAL' });
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import ../x ${tree.base}\n`), { code: 'EINVAL' });
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'image remove nosuch\n'), { code: 'ENOENT' });
  t.false((await fs.readdir(tree.p('images'))).includes('junk'));
  // no leftovers of the failed import in the state dir
  const left = (await fs.readdir(path.join(tree.state, 'images'))).filter((n) => n !== 'busybox');
  t.deepEqual(left.filter((n) => n.includes('junk')), []);
});

test('an OCI image layout is imported layer by layer with whiteouts', async (t) => {
  const layout = path.join(tree.base, 'oci');
  const blobs = path.join(layout, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  const { createHash } = await import('node:crypto');
  const put = async (data: Buffer): Promise<string> => {
    const hex = createHash('sha256').update(data).digest('hex');
    await fs.writeFile(path.join(blobs, hex), data);
    return `sha256:${hex}`;
  };
  // layer 1: a/keep, a/gone, d/old; layer 2: whiteout a/gone, opaque d, d/new
  const l1 = path.join(tree.base, 'l1');
  await fs.mkdir(path.join(l1, 'a'), { recursive: true });
  await fs.mkdir(path.join(l1, 'd'), { recursive: true });
  await fs.writeFile(path.join(l1, 'a', 'keep'), 'keep');
  await fs.writeFile(path.join(l1, 'a', 'gone'), 'gone');
  await fs.writeFile(path.join(l1, 'd', 'old'), 'old');
  const l2 = path.join(tree.base, 'l2');
  await fs.mkdir(path.join(l2, 'a'), { recursive: true });
  await fs.mkdir(path.join(l2, 'd'), { recursive: true });
  await fs.writeFile(path.join(l2, 'a', '.wh.gone'), '');
  await fs.writeFile(path.join(l2, 'd', '.wh..wh..opq'), '');
  await fs.writeFile(path.join(l2, 'd', 'new'), 'new');
  const layers = [];
  for (const dir of [l1, l2]) {
    const tarFile = path.join(tree.base, path.basename(dir) + '.tgz');
    await execa('tar', ['-czf', tarFile, '-C', dir, '.']);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(await fs.readFile(tarFile)) });
  }
  const config = await put(Buffer.from('{}'));
  const manifest = await put(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: config }, layers })));
  await fs.writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ digest: manifest }] }));
  await fs.writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');

  t.is(await tree.ctl(tree.p('ctl'), `image import oci ${layout}`), 'ok');
  const root = tree.p('images', 'oci', 'rootfs');
  t.is(await fs.readFile(path.join(root, 'a', 'keep'), 'utf8'), 'keep');
  t.false(await exists(path.join(root, 'a', 'gone')));
  t.false(await exists(path.join(root, 'd', 'old')));
  t.is(await fs.readFile(path.join(root, 'd', 'new'), 'utf8'), 'new');
  t.false(await exists(path.join(root, 'a', '.wh.gone')));
});
