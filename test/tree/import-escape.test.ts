/**
 * Image import is confined to the image (issue 11.2, docs/security.md §2): tars and OCI
 * layouts crafted as an attacker would (links out, `..` and absolute names, hard links to
 * host files, device nodes, whiteouts through links) are refused or stay inside the image;
 * a host canary outside the image is untouched, and a refused import leaves nothing.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';

const tree = new Tree('escape');
let canaryDir = '';
let canaryFile = '';
const CANARY = 'canary content\n';

test.before(async () => {
  await tree.start();
  canaryDir = path.join(tree.base, 'canarydir');
  canaryFile = path.join(canaryDir, 'canaryfile');
  await fs.mkdir(canaryDir);
  await fs.writeFile(canaryFile, CANARY);
});

test.after.always(async () => {
  await tree.cleanup();
});

// ---- a tar writer that writes whatever it is told (names, links, devices) ----

interface Member {
  name: string;
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  data?: string;
  linkname?: string;
  mode?: number;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(m: Member, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(m.name, 0, 100, 'utf8');
  const type = m.type ?? '0';
  h.write(octal(m.mode ?? (type === '5' ? 0o755 : type === '2' ? 0o777 : 0o644), 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(1_700_000_000, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write(m.linkname ?? '', 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(octal(type === '3' ? 1 : 0, 8), 329, 'ascii'); // /dev/mem-like: 1,1
  h.write(octal(type === '3' ? 1 : 0, 8), 337, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7), 148, 'ascii');
  return h;
}

function tar(members: Member[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const data = Buffer.from(m.data ?? '');
    parts.push(header(m, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

let seq = 0;

/** An OCI layout with these layers (gzipped), one manifest without a ref name. */
async function ociLayout(layers: Member[][]): Promise<string> {
  const layout = path.join(tree.base, `oci-${++seq}`);
  const blobs = path.join(layout, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  const put = async (data: Buffer): Promise<{ digest: string; size: number }> => {
    const hex = createHash('sha256').update(data).digest('hex');
    await fs.writeFile(path.join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const descs = [];
  for (const l of layers) descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await put(gzipSync(tar(l)))) });
  const config = await put(Buffer.from('{"architecture":"amd64","os":"linux"}'));
  const manifest = await put(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: descs })));
  await fs.writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }] }));
  await fs.writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return layout;
}

async function tarFile(members: Member[]): Promise<string> {
  const file = path.join(tree.base, `evil-${++seq}.tar`);
  await fs.writeFile(file, tar(members));
  return file;
}

// ---- what must hold after every attempt ----

async function canaryIntact(t: import('ava').ExecutionContext): Promise<void> {
  t.deepEqual((await fs.readdir(canaryDir)).sort(), ['canaryfile']);
  t.is(await fs.readFile(canaryFile, 'utf8'), CANARY);
  const st = await fs.lstat(canaryFile);
  t.true(st.isFile());
  t.is(st.nlink, 1);
}

async function noTempLeft(t: import('ava').ExecutionContext): Promise<void> {
  const left = (await fs.readdir(path.join(tree.state, 'images'))).filter((n) => n.startsWith('.'));
  t.deepEqual(left, []);
}

async function refused(t: import('ava').ExecutionContext, name: string, source: string, why: RegExp): Promise<void> {
  const before = await fs.readFile(tree.p('events'), 'utf8');
  const err = await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import ${name} ${source}\n`));
  t.is((err as NodeJS.ErrnoException).code, 'EINVAL', `${name}: ${err?.message}`);
  const events = (await fs.readFile(tree.p('events'), 'utf8')).slice(before.length);
  t.regex(events, why);
  t.false((await fs.readdir(tree.p('images'))).includes(name));
  t.false(await fs.lstat(path.join(tree.state, 'images', name)).then(() => true, () => false));
  await canaryIntact(t);
  await noTempLeft(t);
}

async function imported(t: import('ava').ExecutionContext, name: string, source: string): Promise<string> {
  t.is(await tree.ctl(tree.p('ctl'), `image import ${name} ${source}`), 'ok');
  await canaryIntact(t);
  await noTempLeft(t);
  return path.join(tree.state, 'images', name, 'rootfs');
}

const rel = (p: string): string => p.slice(1); // a host path as a name inside the image

// ---- OCI layouts: what one layer makes, the next goes through ----

test.serial('layer 2 writes through a link that layer 1 pointed at a host directory: refused, nothing written', async (t) => {
  const layout = await ociLayout([
    [{ name: 'evil', type: '2', linkname: canaryDir }],
    [{ name: 'evil/x', data: 'pwned\n' }, { name: 'evil/canaryfile', data: 'pwned\n' }],
  ]);
  await refused(t, 'linkthen', layout, /error: cannot import .*evil\/x/);
});

test.serial('the same link, when the image holds that directory itself, writes inside the image', async (t) => {
  const layout = await ociLayout([
    [{ name: rel(canaryDir), type: '5' }, { name: 'evil', type: '2', linkname: canaryDir }],
    [{ name: 'evil/x', data: 'inside\n' }],
  ]);
  const root = await imported(t, 'linkinside', layout);
  t.is(await fs.readFile(path.join(root, rel(canaryDir), 'x'), 'utf8'), 'inside\n');
  t.is(await fs.readlink(path.join(root, 'evil')), canaryDir);
  // progress of a layout's import, layer by layer, in the events
  t.regex(await fs.readFile(tree.p('events'), 'utf8'), /^image import linkinside: layer 1\/2 sha256:[0-9a-f]{12}\n(.*\n)*image import linkinside: layer 2\/2 .*\n(.*\n)*image imported linkinside$/m);
});

test.serial('whiteouts through a link to a host directory delete nothing on the host', async (t) => {
  const layout = await ociLayout([
    [{ name: 'evil', type: '2', linkname: canaryDir }, { name: 'up', type: '2', linkname: '../../../../../../..' + canaryDir }],
    [{ name: 'evil/.wh.canaryfile' }, { name: 'up/.wh.canaryfile' }],
    [{ name: 'evil/.wh..wh..opq' }, { name: 'up/.wh..wh..opq' }],
  ]);
  const root = await imported(t, 'whlink', layout);
  // the links themselves stay: the whiteouts named nothing of a lower layer
  t.is(await fs.readlink(path.join(root, 'evil')), canaryDir);
});

test.serial('a whiteout of the link itself removes the link, not what it points at', async (t) => {
  const layout = await ociLayout([
    [{ name: 'evil', type: '2', linkname: canaryDir }, { name: 'd', type: '5' }, { name: 'd/in', type: '2', linkname: canaryDir }],
    [{ name: '.wh.evil' }, { name: 'd/.wh..wh..opq' }, { name: 'd/mine', data: 'mine\n' }],
  ]);
  const root = await imported(t, 'whself', layout);
  t.false(await fs.lstat(path.join(root, 'evil')).then(() => true, () => false));
  t.deepEqual(await fs.readdir(path.join(root, 'd')), ['mine']);
});

test.serial('OCI layers: absolute and ".." names, hard links out, devices are refused', async (t) => {
  await refused(t, 'ociabs', await ociLayout([[{ name: `${canaryDir}/x`, data: 'x' }]]), /absolute member name/);
  await refused(t, 'ocidots', await ociLayout([[{ name: '../../../../../../../..' + canaryDir + '/x', data: 'x' }]]), /with "\.\." refused/);
  await refused(t, 'ocilink', await ociLayout([[{ name: 'l', type: '1', linkname: canaryFile }]]), /absolute hard link target/);
  await refused(t, 'ocidev', await ociLayout([[{ name: 'mem', type: '3' }]]), /device node "mem" refused/);
});

test.serial('a layer that is not the blob its digest names is refused, even with bytes after the end blocks', async (t) => {
  const layout = await ociLayout([[{ name: 'f', data: 'f\n' }]]);
  const blobs = path.join(layout, 'blobs', 'sha256');
  for (const hex of await fs.readdir(blobs)) {
    const data = await fs.readFile(path.join(blobs, hex));
    // the gzipped layer: a second gzip member after it decompresses to more (ignored) bytes
    if (data[0] === 0x1f && data[1] === 0x8b) await fs.writeFile(path.join(blobs, hex), Buffer.concat([data, gzipSync(Buffer.alloc(4096))]));
  }
  await refused(t, 'baddigest', layout, /does not match its digest/);
});

// ---- plain tarballs ----

test.serial('tar: "../" and absolute member names are refused and write nothing', async (t) => {
  const outside = path.join(tree.base, 'x-dots');
  await refused(t, 'tardots', await tarFile([{ name: 'a', type: '5' }, { name: '../../../../../../..' + outside, data: 'pwned\n' }]), /with "\.\." refused/);
  t.false(await fs.lstat(outside).then(() => true, () => false));
  await refused(t, 'tarabs', await tarFile([{ name: `${canaryDir}/abs`, data: 'pwned\n' }]), /absolute member name/);
  await refused(t, 'tarover', await tarFile([{ name: canaryFile, data: 'pwned\n' }]), /absolute member name/);
});

test.serial('tar: hard links to host files (/etc/passwd, the canary, through ".." or a link) are refused', async (t) => {
  const passwd = await fs.stat('/etc/passwd');
  await refused(t, 'hlpasswd', await tarFile([{ name: 'p', type: '1', linkname: '/etc/passwd' }]), /hard link target/);
  await refused(t, 'hlrel', await tarFile([{ name: 'p', type: '1', linkname: 'etc/passwd' }]), /not a file of the image/);
  await refused(t, 'hldots', await tarFile([{ name: 'p', type: '1', linkname: '../../../../../..' + canaryFile }]), /with "\.\." refused/);
  await refused(t, 'hlvia', await tarFile([
    { name: 'l', type: '2', linkname: canaryDir }, { name: 'p', type: '1', linkname: 'l/canaryfile' },
  ]), /not a file of the image/);
  t.is((await fs.stat('/etc/passwd')).nlink, passwd.nlink);
});

test.serial('tar: a link then a file through it stays in the image or is refused', async (t) => {
  await refused(t, 'tarlink', await tarFile([
    { name: 'evil', type: '2', linkname: canaryDir }, { name: 'evil/canaryfile', data: 'pwned\n' },
  ]), /cannot apply member "evil\/canaryfile"/);
  // a member replacing the link writes a new file in the image; the host file is not truncated
  const root = await imported(t, 'tarrepl', await tarFile([
    { name: 'f', type: '2', linkname: canaryFile }, { name: 'f', data: 'replaced\n' },
  ]));
  t.is(await fs.readFile(path.join(root, 'f'), 'utf8'), 'replaced\n');
});

test.serial('tar: device nodes are refused; FIFOs are kept', async (t) => {
  await refused(t, 'tardev', await tarFile([{ name: 'dev', type: '5' }, { name: 'dev/mem', type: '3' }]), /device node "dev\/mem" refused/);
  await refused(t, 'tarblk', await tarFile([{ name: 'sda', type: '4' }]), /device node "sda" refused/);
  const root = await imported(t, 'tarfifo', await tarFile([{ name: 'fifo', type: '6', mode: 0o600 }]));
  t.true((await fs.lstat(path.join(root, 'fifo'))).isFIFO());
});

test.serial('a directory source with a device node is refused', async (t) => {
  const dir = path.join(tree.base, 'dir-with-dev');
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'ok'), 'ok');
  await execa('mknod', [path.join(dir, 'null'), 'c', '1', '3']);
  await refused(t, 'dirdev', dir, /device node "null" refused/);
});

test.serial('a directory source: links in it are copied as links, never followed', async (t) => {
  const dir = path.join(tree.base, 'dir-with-links');
  await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
  await fs.symlink(canaryDir, path.join(dir, 'out'));
  await fs.writeFile(path.join(dir, 'sub', 'a'), 'a');
  await fs.link(path.join(dir, 'sub', 'a'), path.join(dir, 'b'));
  const root = await imported(t, 'dirlinks', dir);
  t.is(await fs.readlink(path.join(root, 'out')), canaryDir);
  const a = await fs.stat(path.join(root, 'sub', 'a'));
  t.is(a.ino, (await fs.stat(path.join(root, 'b'))).ino);
});

// ---- sources in the tree's own mount ----

test.serial('a source under the mountpoint (or through a link into it) is refused at once', async (t) => {
  const link = path.join(tree.base, 'link-into-mount');
  await fs.symlink(tree.p('images', 'busybox', 'rootfs'), link);
  for (const [name, source] of [
    ['inmount', tree.p('images', 'busybox', 'rootfs')],
    ['inmountdots', path.join(tree.base, 'canarydir', '..', 'mnt', 'images')],
    ['vialink', link],
    ['viachild', path.join(link, 'bin')],
    ['holdsmount', tree.base],
  ]) {
    const started = Date.now();
    const err = await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import ${name} ${source}\n`));
    t.is((err as NodeJS.ErrnoException).code, 'EINVAL', name);
    t.true(Date.now() - started < 5000, `${name} took ${Date.now() - started} ms`);
    t.false((await fs.readdir(tree.p('images'))).includes(name!));
  }
  t.regex(await fs.readFile(tree.p('events'), 'utf8'), /error: cannot import ".*link-into-mount": it is inside the tree's own mount/);
  await noTempLeft(t);
  // the tree still answers
  t.true((await fs.readdir(tree.p('images'))).includes('busybox'));
});

test.serial('the tree bind-mounted elsewhere is recognised by its device and refused', async (t) => {
  const bind = path.join(tree.base, 'bind');
  await fs.mkdir(bind);
  await execa('mount', ['--bind', tree.p('images', 'busybox', 'rootfs'), bind]);
  try {
    const started = Date.now();
    const err = await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import viabind ${bind}\n`));
    t.is((err as NodeJS.ErrnoException).code, 'EINVAL');
    t.true(Date.now() - started < 5000);
    t.regex(await fs.readFile(tree.p('events'), 'utf8'), /error: cannot import ".*bind": it is inside the tree's own mount/);
    t.false((await fs.readdir(tree.p('images'))).includes('viabind'));
    await noTempLeft(t);
  } finally {
    await execa('umount', [bind], { reject: false });
  }
});
