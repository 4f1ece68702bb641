/**
 * Images carry their configuration (docs/interface.md §3, §4 "run", §5.9): an OCI layout and
 * `docker save` archives built here from busybox-static, with a config that sets every field;
 * images/NAME/config; `run` with no program, with arguments, with entrypoint=; Env, WorkingDir
 * and User as the process sees them; export.tar imported back identically; bad configs refused.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';
import { buildBusyboxRootfs } from '../../src/drivers/images/busybox.js';

const tree = new Tree('imgcfg');

const CONFIG = {
  Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'FOO=image', 'BAR=image'],
  WorkingDir: '/app',
  User: 'app',
  Entrypoint: ['/bin/echo', 'ep'],
  Cmd: ['default', 'args'],
  ExposedPorts: { '53/udp': {}, '80/tcp': {} },
  Labels: { 'org.example.role': 'test', a: 'b' },
};

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let layerTar: Buffer;

/** The source root: the default image's files, a user `app`, and one of each kind of thing an export must keep. */
async function makeRoot(dir: string): Promise<void> {
  await buildBusyboxRootfs(dir);
  await fs.appendFile(path.join(dir, 'etc', 'passwd'), 'app:x:1000:1000:app:/home/app:/bin/sh\n');
  await fs.appendFile(path.join(dir, 'etc', 'group'), 'app:x:1000:\n');
  for (const d of ['app', 'home/app']) {
    await fs.mkdir(path.join(dir, d), { recursive: true });
    await fs.chown(path.join(dir, d), 1000, 1000);
  }
  await fs.chmod(path.join(dir, 'app'), 0o750);
  await fs.writeFile(path.join(dir, 'app', 'data'), 'data\n');
  await fs.chown(path.join(dir, 'app', 'data'), 1000, 1000);
  await fs.writeFile(path.join(dir, 'app', 'suid'), '#!/bin/sh\n');
  await fs.chmod(path.join(dir, 'app', 'suid'), 0o4755);
  await fs.link(path.join(dir, 'app', 'data'), path.join(dir, 'app', 'hard'));
  await fs.symlink('../etc/hostname', path.join(dir, 'app', 'link'));
  await execa('mkfifo', ['-m', '0640', path.join(dir, 'app', 'pipe')]);
  await execa('python3', ['-c', `import os; os.setxattr(${JSON.stringify(path.join(dir, 'app', 'data'))}, 'user.note', b'kept')`]);
  const long = path.join(dir, 'app', 'd'.repeat(60), 'e'.repeat(60));
  await fs.mkdir(long, { recursive: true });
  await fs.writeFile(path.join(long, 'f'.repeat(80)), 'a long name\n');
  // Whole seconds everywhere, directories last.
  await execa('find', [dir, '-exec', 'touch', '-h', '-d', '@1000000000', '{}', '+']);
}

/** An OCI image layout of one layer and a config blob (raw bytes given). */
async function ociLayout(dir: string, layer: Buffer, config: Buffer): Promise<void> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  const put = async (b: Buffer): Promise<string> => {
    await fs.writeFile(path.join(blobs, sha(b)), b);
    return `sha256:${sha(b)}`;
  };
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await put(layer), size: layer.length }],
  }));
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ digest: await put(manifest), size: manifest.length }] }));
  await fs.writeFile(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
}

function configBlob(config: unknown, layer: Buffer): Buffer {
  return Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] } }));
}

/** A `docker save` archive: before Docker 25 (ID/layer.tar, HEX.json) or since (blobs/sha256/HEX); gzipped when asked. */
async function dockerArchive(file: string, layer: Buffer, config: Buffer, style: 'old' | 'new', gzip = false): Promise<void> {
  const dir = `${file}.d`;
  let layerName: string;
  let configName: string;
  if (style === 'old') {
    layerName = `${sha(Buffer.from('layer-id'))}/layer.tar`;
    configName = `${sha(config)}.json`;
  } else {
    layerName = `blobs/sha256/${sha(layer)}`;
    configName = `blobs/sha256/${sha(config)}`;
  }
  await fs.mkdir(path.join(dir, path.dirname(layerName)), { recursive: true });
  await fs.mkdir(path.join(dir, path.dirname(configName)), { recursive: true });
  await fs.writeFile(path.join(dir, layerName), layer);
  await fs.writeFile(path.join(dir, configName), config);
  await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: ['cfg:latest'], Layers: [layerName] }]));
  await fs.writeFile(path.join(dir, 'repositories'), '{}');
  await execa('tar', [gzip ? '-czf' : '-cf', file, '-C', dir, '.']);
}

/** Every entry of an image's root as the host sees it in the state dir: type, mode, owner, mtime, content, link, hard-link group, kept xattrs. */
async function dump(image: string): Promise<unknown> {
  const root = path.join(tree.state, 'images', image, 'rootfs');
  const script = `
import os, sys, json, hashlib, stat
root = sys.argv[1]; out = []; inos = {}
for d, dirs, files in os.walk(root):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(d, n); st = os.lstat(p)
        e = [os.path.relpath(p, root), st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns]
        if stat.S_ISLNK(st.st_mode): e.append(os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            e.append(hashlib.sha256(open(p, 'rb').read()).hexdigest())
            e.append(inos.setdefault(st.st_ino, e[0]))
        if not stat.S_ISLNK(st.st_mode):
            e.append(sorted([k, os.getxattr(p, k, follow_symlinks=False).hex()] for k in os.listxattr(p, follow_symlinks=False) if k.startswith('user.') or k == 'security.capability'))
        out.append(e)
print(json.dumps(out))
`;
  const { stdout } = await execa('python3', ['-c', script, root]);
  return JSON.parse(stdout);
}

async function runOut(container: string, message: string): Promise<string> {
  const c = (...p: string[]): string => tree.p('containers', container, ...p);
  const id = await tree.ctl(c('ctl'), message);
  const status = await fs.readFile(c('procs', id, 'wait'), 'utf8');
  const out = await fs.readFile(c('procs', id, 'stdout'), 'utf8');
  if (status !== 'exited 0\n') throw new Error(`${message}: ${status} ${await fs.readFile(c('procs', id, 'stderr'), 'utf8')}`);
  return out;
}

test.before(async () => {
  await tree.start();
  const src = path.join(tree.base, 'src');
  await makeRoot(src);
  const layerFile = path.join(tree.base, 'layer.tar');
  await execa('tar', ['--format=pax', '--xattrs', '--xattrs-include=user.*', '--numeric-owner', '-C', src, '-cf', layerFile, '.']);
  layerTar = await fs.readFile(layerFile);
  const config = configBlob(CONFIG, layerTar);
  await ociLayout(path.join(tree.base, 'oci'), layerTar, config);
  await dockerArchive(path.join(tree.base, 'old.tar'), layerTar, config, 'old');
  await dockerArchive(path.join(tree.base, 'new.tar.gz'), layerTar, config, 'new', true);
  // A plain archive whose layer blob is gzipped (its name the digest of the gzipped bytes).
  const { gzipSync } = await import('node:zlib');
  await dockerArchive(path.join(tree.base, 'newgz.tar'), gzipSync(layerTar), config, 'new');
});

test.after.always(async () => {
  await tree.cleanup();
});

test.serial('an OCI layout and docker save archives keep their config: images/NAME/config', async (t) => {
  t.is(await tree.ctl(tree.p('ctl'), `image import cfgoci ${path.join(tree.base, 'oci')}`), 'ok');
  t.is(await tree.ctl(tree.p('ctl'), `image import cfgold ${path.join(tree.base, 'old.tar')}`), 'ok');
  t.is(await tree.ctl(tree.p('ctl'), `image import cfgnew ${path.join(tree.base, 'new.tar.gz')}`), 'ok');
  t.is(await tree.ctl(tree.p('ctl'), `image import cfgnewgz ${path.join(tree.base, 'newgz.tar')}`), 'ok');
  const want = JSON.stringify({ ...CONFIG, Labels: { a: 'b', 'org.example.role': 'test' } }, null, 2) + '\n';
  for (const name of ['cfgoci', 'cfgold', 'cfgnew', 'cfgnewgz']) {
    t.deepEqual((await fs.readdir(tree.p('images', name))).sort(), ['config', 'export.tar', 'rootfs'], name);
    t.is(await fs.readFile(tree.p('images', name, 'config'), 'utf8'), want, name);
  }
  // The three carry the same files: the docker archives were read as layers, not as rootfs tarballs.
  const base = await dump('cfgoci');
  t.deepEqual(await dump('cfgold'), base);
  t.deepEqual(await dump('cfgnew'), base);
  t.deepEqual(await dump('cfgnewgz'), base);
  t.false((await fs.readdir(tree.p('images', 'cfgold', 'rootfs'))).includes('manifest.json'));
  // An image without one: {}.
  t.is(await fs.readFile(tree.p('images', 'busybox', 'config'), 'utf8'), '{}\n');
  const r = await tree.sh('cat $M/images/cfgoci/config');
  t.is(r.stdout + '\n', want);
});

test.serial('run: Entrypoint + Cmd by default, arguments replace Cmd, entrypoint= overrides; Env, WorkingDir, User as the process sees them', async (t) => {
  for (const [name, image] of [['cfgc1', 'cfgoci'], ['cfgc2', 'cfgold']] as const) {
    await tree.ctl(tree.p('ctl'), `create ${name} image=${image} env=BAR=container`);
    const ctl = tree.p('containers', name, 'ctl');
    t.is(await runOut(name, 'run'), 'ep default args\n', name);
    t.is(await runOut(name, 'run -- x y'), 'ep x y\n');
    t.is(await runOut(name, 'run one'), 'ep one\n');
    // entrypoint=: the image's Cmd goes too.
    t.is(await runOut(name, 'run entrypoint=/bin/pwd'), '/app\n');
    t.is(await runOut(name, "run entrypoint=/bin/sh -- -c 'echo $0 $1' a b"), 'a b\n');
    t.regex(await runOut(name, 'run entrypoint= -- id'), /^uid=1000\(app\) gid=1000\(app\)/);
    const env = (await runOut(name, 'run env=BAZ=run entrypoint= -- env')).split('\n');
    for (const e of ['FOO=image', 'BAR=container', 'BAZ=run', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/home/app', 'USER=app']) t.true(env.includes(e), `${name}: ${e} in ${env.join(' ')}`);
    t.false(env.includes('BAR=image'));
    // The run's own dir= and user= win.
    t.is(await runOut(name, "run user=root dir=/tmp entrypoint=/bin/sh -- -c 'id -u; pwd'"), '0\n/tmp\n');
    // cmdline shows what ran.
    const id = await tree.ctl(ctl, 'run');
    await fs.readFile(tree.p('containers', name, 'procs', id, 'wait'), 'utf8');
    t.is(await fs.readFile(tree.p('containers', name, 'procs', id, 'cmdline'), 'utf8'), '/bin/echo ep default args\n');
  }
  // The container keeps the config it was made from, in its own record.
  const rec = JSON.parse(await fs.readFile(path.join(tree.state, 'containers', 'cfgc1', 'container.json'), 'utf8')) as { imageConfig: unknown };
  t.deepEqual(rec.imageConfig, { ...CONFIG, Labels: { a: 'b', 'org.example.role': 'test' } });
  for (const name of ['cfgc1', 'cfgc2']) await tree.ctl(tree.p('ctl'), `destroy ${name}`);
});

test.serial('run with no program on an image without Entrypoint or Cmd is EINVAL', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create cfgbb');
  try {
    await t.throwsAsync(fs.writeFile(tree.p('containers', 'cfgbb', 'ctl'), 'run\n'), { code: 'EINVAL' });
    t.regex(await fs.readFile(tree.p('containers', 'cfgbb', 'events'), 'utf8'), /^error: no program to run: /m);
    t.deepEqual(await fs.readdir(tree.p('containers', 'cfgbb', 'procs')), []);
    await t.throwsAsync(fs.writeFile(tree.p('containers', 'cfgbb', 'ctl'), 'run entrypoint=\n'), { code: 'EINVAL' });
  } finally {
    await tree.ctl(tree.p('ctl'), 'destroy cfgbb');
  }
});

test.serial('export.tar streams a docker save archive that imports back identically, config included', async (t) => {
  const out = path.join(tree.base, 'export.tar');
  const r = await tree.sh(`cat $M/images/cfgoci/export.tar > ${out}`);
  t.is(r.exitCode, 0, r.stderr);
  const list = (await execa('tar', ['-tf', out])).stdout.split('\n');
  t.true(list.includes('manifest.json'));
  t.true(list.some((n) => /^[0-9a-f]{64}\/layer\.tar$/.test(n)));
  t.true(list.some((n) => /^[0-9a-f]{64}\.json$/.test(n)));
  t.is(await tree.ctl(tree.p('ctl'), `image import cfgback ${out}`), 'ok');
  t.deepEqual(await dump('cfgback'), await dump('cfgoci'));
  t.is(await fs.readFile(tree.p('images', 'cfgback', 'config'), 'utf8'), await fs.readFile(tree.p('images', 'cfgoci', 'config'), 'utf8'));
  // What GNU tar reads of the layer is the image: names, owners, the set-uid bit, the hard link, the xattr.
  const layerName = list.find((n) => n.endsWith('/layer.tar'))!;
  const layer = (await execa('tar', ['-xOf', out, layerName], { encoding: 'buffer' })).stdout;
  const layerFile = path.join(tree.base, 'exported-layer.tar');
  await fs.writeFile(layerFile, layer);
  const v = (await execa('tar', ['--xattrs', '--xattrs-include=user.*', '-tvf', layerFile, '--numeric-owner'])).stdout;
  t.regex(v, /^-rwsr-xr-x\s+0\/0 .* app\/suid$/m);
  t.regex(v, /^-rw-r--r--\*\s+1000\/1000 .* app\/data$/m); // * : it has extended attributes
  t.regex(v, /^hrw-r--r--\s+1000\/1000 .* app\/hard link to app\/data$/m);
  t.regex(v, /^prw-r-----\s+0\/0 .* app\/pipe$/m);
  t.regex(v, /^lrwxrwxrwx\s+0\/0 .* app\/link -> \.\.\/etc\/hostname$/m);
  // cp reads it to the end too, and a second export is the same bytes.
  const again = path.join(tree.base, 'export2.tar');
  t.is((await tree.sh(`cp $M/images/cfgoci/export.tar ${again}`)).exitCode, 0);
  t.true((await fs.readFile(again)).equals(await fs.readFile(out)));
  // The default image (no config) exports and imports too.
  const bb = path.join(tree.base, 'bb.tar');
  t.is((await tree.sh(`cat $M/images/busybox/export.tar > ${bb}`)).exitCode, 0);
  t.is(await tree.ctl(tree.p('ctl'), `image import cfgbb2 ${bb}`), 'ok');
  t.deepEqual(await dump('cfgbb2'), await dump('busybox'));
  t.is(await fs.readFile(tree.p('images', 'cfgbb2', 'config'), 'utf8'), '{}\n');
  for (const n of ['cfgback', 'cfgbb2']) await tree.ctl(tree.p('ctl'), `image remove ${n}`);
});

const BAD: Array<[string, unknown, RegExp]> = [
  ['Env not a list', { Env: 'PATH=/bin' }, /"Env" must be a list of strings/],
  ['Env entry without =', { Env: ['PATH'] }, /"Env" entry "PATH" is not NAME=VALUE/],
  ['Env with NUL', { Env: ['A=b\u0000c'] }, /"Env" holds a NUL character/],
  ['Entrypoint of numbers', { Entrypoint: [1, 2] }, /"Entrypoint" must hold strings/],
  ['Cmd a string', { Cmd: 'sh' }, /"Cmd" must be a list of strings/],
  ['WorkingDir relative', { WorkingDir: 'app' }, /"WorkingDir" "app" is not an absolute path/],
  ['User nonsense', { User: 'a:b:c' }, /"User" "a:b:c" is not USER or USER:GROUP/],
  ['ExposedPorts a list', { ExposedPorts: ['80/tcp'] }, /"ExposedPorts" must be an object/],
  ['ExposedPorts bad port', { ExposedPorts: { '99999/tcp': {} } }, /"ExposedPorts" has a bad port "99999\/tcp"/],
  ['Labels of numbers', { Labels: { a: 1 } }, /"Labels" must hold strings/],
  ['config too large', { Labels: Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`l${i}`, 'x'.repeat(1000)])) }, /more than 262144 bytes/],
  ['too many entries', { Env: Array.from({ length: 2000 }, (_, i) => `V${i}=1`) }, /"Env" has more than 1024 entries/],
  ['config not an object', 'nope', /"config" must be an object/],
];

test.serial('bad configs are refused at import, and nothing is imported', async (t) => {
  const small = path.join(tree.base, 'small');
  await fs.mkdir(path.join(small, 'etc'), { recursive: true });
  await fs.writeFile(path.join(small, 'etc', 'x'), 'x');
  const smallLayer = path.join(tree.base, 'small.tar');
  await execa('tar', ['-C', small, '-cf', smallLayer, '.']);
  const layer = await fs.readFile(smallLayer);
  for (const [i, [what, config, message]] of BAD.entries()) {
    const name = `cfgbad${i}`;
    const dir = path.join(tree.base, `bad-oci-${i}`);
    await ociLayout(dir, layer, configBlob(config, layer));
    await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import ${name} ${dir}\n`), { code: 'EINVAL' }, what);
    const events = await fs.readFile(tree.p('events'), 'utf8');
    const last = events.trim().split('\n').pop()!;
    t.regex(last, /^error: cannot import ".*": bad image config: /, what);
    t.regex(last, message, what);
    t.false((await fs.readdir(tree.p('images'))).includes(name), what);
  }
  // The same through a docker save archive, and a config blob that is not JSON.
  const file = path.join(tree.base, 'bad.tar');
  await dockerArchive(file, layer, configBlob({ User: '../x' }, layer), 'old');
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import cfgbaddocker ${file}\n`), { code: 'EINVAL' });
  t.regex((await fs.readFile(tree.p('events'), 'utf8')).trim().split('\n').pop()!, /bad image config: "User" "\.\.\/x"/);
  const notJson = path.join(tree.base, 'notjson.tar');
  await dockerArchive(notJson, layer, Buffer.from('{"config": '), 'new');
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import cfgbadjson ${notJson}\n`), { code: 'EINVAL' });
  t.regex((await fs.readFile(tree.p('events'), 'utf8')).trim().split('\n').pop()!, /bad image config: not JSON/);
  const images = await fs.readdir(tree.p('images'));
  t.false(images.some((n) => n.startsWith('cfgbad')));
  t.deepEqual((await fs.readdir(path.join(tree.state, 'images'))).filter((n) => n.startsWith('.')), []);
});

/** A docker save archive made by hand: the files given (name → content, or a symlink target as { link }). */
async function handArchive(file: string, files: Record<string, Buffer | string | { link: string }>): Promise<void> {
  const dir = `${file}.d`;
  for (const [name, v] of Object.entries(files)) {
    await fs.mkdir(path.join(dir, path.dirname(name)), { recursive: true });
    if (typeof v === 'object' && !Buffer.isBuffer(v)) await fs.symlink(v.link, path.join(dir, name));
    else await fs.writeFile(path.join(dir, name), v);
  }
  await execa('tar', ['-cf', file, '-C', dir, '.']);
}

test.serial('docker save archives: a layer given twice through a link member; names and links out of the archive refused', async (t) => {
  const small = path.join(tree.base, 'small2');
  await fs.mkdir(path.join(small, 'etc'), { recursive: true });
  await fs.writeFile(path.join(small, 'etc', 'y'), 'y');
  const smallLayer = path.join(tree.base, 'small2.tar');
  await execa('tar', ['-C', small, '-cf', smallLayer, '.']);
  const layer = await fs.readFile(smallLayer);
  const config = configBlob({ Cmd: ['/bin/true'] }, layer);
  const id1 = sha(Buffer.from('1'));
  const id2 = sha(Buffer.from('2'));
  const configName = `${sha(config)}.json`;
  const manifest = (layers: string[], n = 1): string => JSON.stringify(Array.from({ length: n }, (_, i) => ({ Config: configName, RepoTags: [`x${i}:latest`], Layers: layers })));
  // Docker writes a layer used twice once, and links the second name to it.
  const dup = path.join(tree.base, 'dup.tar');
  await handArchive(dup, { [`${id1}/layer.tar`]: layer, [`${id2}/layer.tar`]: { link: `../${id1}/layer.tar` }, [configName]: config, 'manifest.json': manifest([`${id1}/layer.tar`, `${id2}/layer.tar`]) });
  t.is(await tree.ctl(tree.p('ctl'), `image import cfgdup ${dup}`), 'ok');
  t.is(await fs.readFile(tree.p('images', 'cfgdup', 'rootfs', 'etc', 'y'), 'utf8'), 'y');
  t.regex(await fs.readFile(tree.p('images', 'cfgdup', 'config'), 'utf8'), /"Cmd": \[\n {4}"\/bin\/true"/);
  await tree.ctl(tree.p('ctl'), 'image remove cfgdup');

  const cases: Array<[string, Record<string, Buffer | string | { link: string }>, RegExp]> = [
    ['a layer named with ..', { [configName]: config, 'manifest.json': manifest(['../../etc/passwd']) }, /layer name "\.\.\/\.\.\/etc\/passwd" with "\.\." refused/],
    ['an absolute layer name', { [configName]: config, 'manifest.json': manifest(['/etc/passwd']) }, /absolute layer name "\/etc\/passwd" refused/],
    ['a layer linked to a host file', { [`${id1}/layer.tar`]: { link: '/etc/passwd' }, [configName]: config, 'manifest.json': manifest([`${id1}/layer.tar`]) }, /leads out of the image archive/],
    ['a layer linked out with ..', { [`${id1}/layer.tar`]: { link: '../../../../etc/passwd' }, [configName]: config, 'manifest.json': manifest([`${id1}/layer.tar`]) }, /leads out of the image archive/],
    ['a layer the archive lacks', { [configName]: config, 'manifest.json': manifest([`${id1}/layer.tar`]) }, /the image archive has no "[0-9a-f]{64}\/layer\.tar"/],
    ['two images', { [`${id1}/layer.tar`]: layer, [configName]: config, 'manifest.json': manifest([`${id1}/layer.tar`], 2) }, /holds 2 images \(x0:latest, x1:latest\)/],
    ['a config that is not its digest', { [`${id1}/layer.tar`]: layer, [configName]: config.toString().replace('true', 'echo'), 'manifest.json': manifest([`${id1}/layer.tar`]) }, /does not match its digest/],
    ['a layer blob that is not its digest', { [`blobs/sha256/${sha(Buffer.from('other'))}`]: layer, [configName]: config, 'manifest.json': manifest([`blobs/sha256/${sha(Buffer.from('other'))}`]) }, /layer "blobs\/sha256\/[0-9a-f]{64}" does not match its digest/],
    ['a manifest that is not a list', { [`${id1}/layer.tar`]: layer, [configName]: config, 'manifest.json': '{"Config": "x"}' }, /lists no image/],
  ];
  for (const [i, [what, files, message]] of cases.entries()) {
    const file = path.join(tree.base, `hostile-${i}.tar`);
    await handArchive(file, files);
    await t.throwsAsync(fs.writeFile(tree.p('ctl'), `image import cfghostile${i} ${file}\n`), { code: 'EINVAL' }, what);
    t.regex((await fs.readFile(tree.p('events'), 'utf8')).trim().split('\n').pop()!, message, what);
  }
  t.false((await fs.readdir(tree.p('images'))).some((n) => n.startsWith('cfghostile')));
  t.deepEqual((await fs.readdir(path.join(tree.state, 'images'))).filter((n) => n.startsWith('.')), []);
});
