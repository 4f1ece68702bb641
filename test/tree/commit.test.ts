/**
 * `image commit NEWNAME CONTAINER` (docs/interface.md §4, §5.11) and image labels as default
 * properties (§5.9): a container's changes (a file added, one changed, one deleted, a
 * directory deleted, a symlink, a hard link, owners) saved as an image that a new container
 * sees; unchanged files shared with the original image (same inode); owners unshifted; a
 * commit while a process writes is a frozen snapshot; EEXIST, ENOENT; the original image
 * unchanged; a symlink planted by the container never read through on the host.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';
import { buildBusyboxRootfs } from '../../src/drivers/images/busybox.js';

const tree = new Tree('commit');
const LABELS = { role: 'base', 'org.example.tier': 'web', 'bad key': 'refused', empty: '' };
const SECRET = 'host secret, never in an image\n';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const img = (...p: string[]): string => path.join(tree.state, 'images', ...p);

/** An OCI layout of one layer (the files of `root`) whose config has `Labels`. */
async function ociLayout(dir: string, root: string): Promise<void> {
  const layerFile = path.join(tree.base, 'layer.tar');
  await execa('tar', ['--numeric-owner', '--xattrs', '-cf', layerFile, '-C', root, '.']);
  const layer = await fs.readFile(layerFile);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux',
    config: { Env: ['PATH=/bin', 'FROM=image'], Labels: LABELS },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] },
  }));
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

async function runOut(container: string, message: string): Promise<string> {
  const c = (...p: string[]): string => tree.p('containers', container, ...p);
  const id = await tree.ctl(c('ctl'), message);
  const status = await fs.readFile(c('procs', id, 'wait'), 'utf8');
  const out = await fs.readFile(c('procs', id, 'stdout'), 'utf8');
  if (status !== 'exited 0\n') throw new Error(`${message}: ${status} ${await fs.readFile(c('procs', id, 'stderr'), 'utf8')}`);
  return out;
}

const sh = (container: string, script: string): Promise<string> => runOut(container, `run -- /bin/sh -c '${script.replace(/'/g, "''")}'`);

async function destroy(...names: string[]): Promise<void> {
  for (const n of names) await tree.ctl(tree.p('ctl'), `destroy ${n}`).catch(() => undefined); // absent: nothing to do
}

async function removeImage(...names: string[]): Promise<void> {
  for (const n of names) await tree.ctl(tree.p('ctl'), `image remove ${n}`).catch(() => undefined); // absent: nothing to do
}

let baseDump = '';

/** The original image as the host sees it: every entry, its owner, mode, inode and content. */
async function hostDump(image: string): Promise<string> {
  const r = await execa('sh', ['-c', `cd ${img(image, 'rootfs')} && find . -printf '%p %M %U:%G %i %s\\n' | sort && find . -type f -exec md5sum {} + | sort`]);
  return r.stdout;
}

test.before(async () => {
  await tree.start();
  const root = path.join(tree.base, 'src');
  await buildBusyboxRootfs(root);
  await fs.mkdir(path.join(root, 'data', 'deldir', 'sub'), { recursive: true });
  for (const [f, text] of [['keep', 'kept\n'], ['change', 'original\n'], ['del', 'to delete\n'], ['owned', 'owned\n'], ['deldir/sub/x', 'x\n']]) {
    await fs.writeFile(path.join(root, 'data', f!), text!);
  }
  await fs.chown(path.join(root, 'data', 'owned'), 1000, 1001);
  await fs.writeFile(path.join(tree.base, 'secret'), SECRET);
  await fs.chmod(path.join(tree.base, 'secret'), 0o644);
  const oci = path.join(tree.base, 'oci');
  await ociLayout(oci, root);
  t0Import = await tree.ctl(tree.p('ctl'), `image import cbase ${oci}`);
  baseDump = await hostDump('cbase');
});

let t0Import = '';

test.after.always(async () => {
  await tree.cleanup();
});

test.serial('a committed image holds the container\'s changes, shares the unchanged files and keeps owners and config', async (t) => {
  t.is(t0Import, 'ok');
  try {
    t.is(await tree.ctl(tree.p('ctl'), 'create cc1 image=cbase net=none prop.role=mine'), 'cc1');
    // Labels are the default properties; the create's own prop. wins; what cannot be a property is left out and said.
    t.is(await fs.readFile(tree.p('containers', 'cc1', 'properties'), 'utf8'), 'org.example.tier=web\nrole=mine\n');
    t.regex(await fs.readFile(tree.p('containers', 'cc1', 'events'), 'utf8'), /labels not made properties: "bad key" "empty"/);
    await sh('cc1', [
      'echo new > /data/added', 'echo changed > /data/change', 'rm /data/del', 'rm -r /data/deldir',
      'ln -s keep /data/sym', 'ln /data/added /data/hard', 'chown 1000:1001 /data/added',
      'mkdir -p /data/newdir && echo f > /data/newdir/f && chown 1002 /data/newdir', 'mkfifo /data/fifo',
      `ln -s ${path.join(tree.base, 'secret')} /data/evil`, 'ln -s / /data/evildir', 'echo cap > /data/cap',
    ].join(' && '));
    // A file capability set by the container's root (in its user namespace: the kernel stores it as
    // v3 with the host id of that root) must come out as the v2 an imported image carries.
    const sleeper = await tree.ctl(tree.p('containers', 'cc1', 'ctl'), 'run -- sleep 60');
    const pid = (await fs.readFile(tree.p('containers', 'cc1', 'procs', sleeper, 'pid'), 'utf8')).trim();
    const capFile = path.join(tree.state, 'containers', 'cc1', 'rootfs', 'data', 'cap');
    const V2_NET_BIND = '0100000200040000000000000000000000000000';
    await execa('nsenter', ['--user', '-t', pid, '--', 'python3', '-c', `import os; os.setxattr(${JSON.stringify(capFile)}, 'security.capability', bytes.fromhex('${V2_NET_BIND}'))`]);
    const hostCap = await execa('python3', ['-c', `import os; print(os.getxattr(${JSON.stringify(capFile)}, 'security.capability').hex())`]);
    t.is(hostCap.stdout.length, 48, 'the host reads a v3 capability');
    await tree.ctl(tree.p('containers', 'cc1', 'procs', sleeper, 'ctl'), 'kill KILL');
    // An extended attribute an image keeps, set by the host through the container's overlay mount.
    const merged = path.join(tree.state, 'containers', 'cc1', 'rootfs');
    await execa('python3', ['-c', `import os; os.setxattr(${JSON.stringify(path.join(merged, 'data', 'change'))}, 'user.note', b'kept')`]);
    t.is(await tree.ctl(tree.p('ctl'), 'image commit cimg cc1'), 'ok');
    // Times to the nanosecond, and the attribute.
    for (const f of ['change', 'added', 'newdir', 'sym']) {
      t.is((await fs.lstat(img('cimg', 'rootfs', 'data', f), { bigint: true })).mtimeNs, (await fs.lstat(path.join(merged, 'data', f), { bigint: true })).mtimeNs, f);
    }
    const note = await execa('python3', ['-c', `import os; print(os.getxattr(${JSON.stringify(img('cimg', 'rootfs', 'data', 'change'))}, 'user.note').decode())`]);
    t.is(note.stdout, 'kept');
    const cap = await execa('python3', ['-c', `import os; print(os.getxattr(${JSON.stringify(img('cimg', 'rootfs', 'data', 'cap'))}, 'security.capability').hex())`]);
    t.is(cap.stdout, V2_NET_BIND);
    const events = await fs.readFile(tree.p('events'), 'utf8');
    t.regex(events, /^image commit cimg: freezing cc1$/m);
    t.regex(events, /^image commit cimg: \d+ entries, \d+ files shared with image cbase, \d+ copied/m);
    t.regex(events, /^image committed cimg from cc1$/m);
    t.true((await fs.readdir(tree.p('images'))).includes('cimg'));
    // The config comes along (labels too).
    t.is(JSON.stringify(JSON.parse(await fs.readFile(tree.p('images', 'cimg', 'config'), 'utf8')).Labels), JSON.stringify(Object.fromEntries(Object.entries(LABELS).sort())));

    // On the host: unchanged files are the original's inodes; changed ones are not; owners are the container's own.
    const st = (...p: string[]) => fs.lstat(img(...p));
    t.is((await st('cimg', 'rootfs', 'data', 'keep')).ino, (await st('cbase', 'rootfs', 'data', 'keep')).ino);
    t.is((await st('cimg', 'rootfs', 'bin', 'busybox')).ino, (await st('cbase', 'rootfs', 'bin', 'busybox')).ino);
    t.not((await st('cimg', 'rootfs', 'data', 'change')).ino, (await st('cbase', 'rootfs', 'data', 'change')).ino);
    const added = await st('cimg', 'rootfs', 'data', 'added');
    t.is(`${added.uid}:${added.gid}`, '1000:1001');
    t.is(added.ino, (await st('cimg', 'rootfs', 'data', 'hard')).ino);
    t.is(added.nlink, 2);
    t.is((await st('cimg', 'rootfs', 'data', 'newdir')).uid, 1002);
    t.is((await st('cimg', 'rootfs', 'data')).uid, 0);
    t.true((await st('cimg', 'rootfs', 'data', 'fifo')).isFIFO());
    // The planted links are links, never what they point to on the host.
    t.true((await st('cimg', 'rootfs', 'data', 'evil')).isSymbolicLink());
    t.is(await fs.readlink(img('cimg', 'rootfs', 'data', 'evil')), path.join(tree.base, 'secret'));
    t.true((await st('cimg', 'rootfs', 'data', 'evildir')).isSymbolicLink());
    const grep = await execa('grep', ['-rlF', SECRET.trim(), img('cimg', 'rootfs')], { reject: false });
    t.is(grep.stdout, '', 'no file of the image holds the host file');

    // A container of the new image sees the changes.
    t.is(await tree.ctl(tree.p('ctl'), 'create cc2 image=cimg net=none'), 'cc2');
    t.is(await sh('cc2', 'cat /data/change /data/added /data/hard /data/keep /data/newdir/f'), 'changed\nnew\nnew\nkept\nf\n');
    t.is(await sh('cc2', 'ls /data'), 'added\ncap\nchange\nevil\nevildir\nfifo\nhard\nkeep\nnewdir\nowned\nsym\n');
    t.is(await sh('cc2', 'test ! -e /data/del && test ! -e /data/deldir && echo gone'), 'gone\n');
    t.is(await sh('cc2', 'stat -c "%u:%g" /data/added /data/owned /data/newdir; readlink /data/sym; cat /data/sym'), '1000:1001\n1000:1001\n1002:0\nkeep\nkept\n');
    t.is(await sh('cc2', 'echo $FROM'), 'image\n');
    t.is(await fs.readFile(tree.p('containers', 'cc2', 'properties'), 'utf8'), 'org.example.tier=web\nrole=base\n');

    // The original image is unchanged.
    t.is(await hostDump('cbase'), baseDump);
    // The new image outlives the original's removal (shared files stay).
    await destroy('cc1');
    t.is(await tree.ctl(tree.p('ctl'), 'create cc3 image=cimg net=none'), 'cc3');
    await destroy('cc2', 'cc3');
  } finally {
    await destroy('cc1', 'cc2', 'cc3');
    await removeImage('cimg');
  }
});

test.serial('commit refuses a taken name (EEXIST) and a missing container (ENOENT), making nothing', async (t) => {
  try {
    t.is(await tree.ctl(tree.p('ctl'), 'create cc4 image=cbase net=none'), 'cc4');
    await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'image commit cbase cc4\n'), { code: 'EEXIST' });
    await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'image commit cnew ghost\n'), { code: 'ENOENT' });
    await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'image commit cnew\n'), { code: 'EINVAL' });
    t.false((await fs.readdir(tree.p('images'))).includes('cnew'));
    t.deepEqual((await fs.readdir(img())).filter((n) => n.startsWith('.')), [], 'no half-made image');
    t.is(await hostDump('cbase'), baseDump);
    // The container goes on (it was not left frozen by the refusal).
    t.is(await sh('cc4', 'echo alive'), 'alive\n');
  } finally {
    await destroy('cc4');
  }
});

test.serial('a commit while a process writes is a frozen snapshot; the process goes on after', async (t) => {
  try {
    t.is(await tree.ctl(tree.p('ctl'), 'create cc5 image=cbase net=none privileged=true'), 'cc5');
    // Many files between a and z, so that the copy of a and of z are far apart in time.
    await sh('cc5', 'mkdir -p /w/m && for i in $(seq 1 400); do echo $i > /w/m/$i; done');
    // z is written before a, each by an atomic rename: at any instant z = a or z = a + 1.
    const id = await tree.ctl(tree.p('containers', 'cc5', 'ctl'),
      "run -- /bin/sh -c 'i=0; while :; do i=$((i+1)); echo $i > /w/.z; mv /w/.z /w/z; echo $i > /w/.a; mv /w/.a /w/a; done'");
    await new Promise((r) => setTimeout(r, 500));
    t.is(await tree.ctl(tree.p('ctl'), 'image commit csnap cc5'), 'ok');
    const a = Number(await fs.readFile(img('csnap', 'rootfs', 'w', 'a'), 'utf8'));
    const z = Number(await fs.readFile(img('csnap', 'rootfs', 'w', 'z'), 'utf8'));
    t.true(a > 0);
    t.true(z === a || z === a + 1, `a=${a} z=${z}`);
    t.is((await fs.readdir(img('csnap', 'rootfs', 'w', 'm'))).length, 400);
    // Thawed: the writer goes on.
    const before = Number(await fs.readFile(path.join(tree.state, 'containers', 'cc5', 'upper', 'w', 'a'), 'utf8'));
    await new Promise((r) => setTimeout(r, 300));
    const after = Number(await fs.readFile(path.join(tree.state, 'containers', 'cc5', 'upper', 'w', 'a'), 'utf8'));
    t.true(after > before, `${before} → ${after}`);
    // A privileged container's ids are the host's: kept as they are.
    t.is((await fs.lstat(img('csnap', 'rootfs', 'data', 'owned'))).uid, 1000);
    await tree.ctl(tree.p('containers', 'cc5', 'procs', id, 'ctl'), 'kill KILL');
  } finally {
    await destroy('cc5');
    await removeImage('csnap');
  }
});

/** Whether the container's cgroup is frozen, from the kernel's own file (v1 freezer or v2 cgroup.events). */
async function frozen(name: string): Promise<boolean> {
  const rec = JSON.parse(await fs.readFile(path.join(tree.state, 'containers', name, 'container.json'), 'utf8')) as { cgroupsPath: string };
  const v1 = path.join('/sys/fs/cgroup/freezer', rec.cgroupsPath, 'freezer.state');
  const text = await fs.readFile(v1, 'utf8').catch(() => undefined);
  if (text !== undefined) return text.trim() === 'FROZEN';
  return /^frozen 1$/m.test(await fs.readFile(path.join('/sys/fs/cgroup', rec.cgroupsPath, 'cgroup.events'), 'utf8'));
}

test.serial('a daemon killed mid-commit leaves no image; the next start thaws the container', async (t) => {
  try {
    t.is(await tree.ctl(tree.p('ctl'), 'create cc6 image=cbase net=none'), 'cc6');
    await sh('cc6', 'mkdir /many && cd /many && i=0; while [ $i -lt 20000 ]; do echo $i > f$i; i=$((i+1)); done');
    const upperA = path.join(tree.state, 'containers', 'cc6', 'upper', 'w', 'a');
    const wid = await tree.ctl(tree.p('containers', 'cc6', 'ctl'), "run -- /bin/sh -c 'mkdir -p /w; i=0; while :; do i=$((i+1)); echo $i > /w/.a; mv /w/.a /w/a; done'");
    const commit = fs.writeFile(tree.p('ctl'), 'image commit ckill cc6\n').catch((e: unknown) => e);
    for (let i = 0; i < 200 && !/^image commit ckill: freezing cc6$/m.test(await fs.readFile(tree.p('events'), 'utf8')); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, 150));
    t.true((await fs.readdir(img())).some((n) => n.startsWith('.import-ckill-')), 'the commit is under way');
    t.true(await frozen('cc6'));
    await tree.stop('SIGKILL');
    await commit;
    t.true(await frozen('cc6'), 'left frozen by the killed daemon');
    await tree.start();
    t.false((await fs.readdir(tree.p('images'))).includes('ckill'));
    t.deepEqual((await fs.readdir(img())).filter((n) => n.startsWith('.')), [], 'the half-made image is swept');
    t.false(await frozen('cc6'), 'thawed at adoption');
    t.notRegex(await fs.readFile(tree.p('containers', 'cc6', 'events'), 'utf8'), /^restarted/m, 'adopted as it was, not restarted');
    const before = Number(await fs.readFile(upperA, 'utf8'));
    await new Promise((r) => setTimeout(r, 300));
    const goesOn = Number(await fs.readFile(upperA, 'utf8')) > before;
    t.true(goesOn, `the writer goes on: ${await fs.readFile(tree.p('containers', 'cc6', 'procs', wid, 'status'), 'utf8')} ${await fs.readFile(tree.p('containers', 'cc6', 'events'), 'utf8')}`);

    // A run during a commit waits for it (a frozen container cannot exec), then runs.
    const commit2 = tree.ctl(tree.p('ctl'), 'image commit cafter cc6');
    for (let i = 0; i < 200 && !/^image commit cafter: freezing cc6$/m.test(await fs.readFile(tree.p('events'), 'utf8')); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, 50));
    t.true(await frozen('cc6'), 'the commit is under way');
    t.is(await runOut('cc6', 'run -- echo after'), 'after\n');
    t.is(await commit2, 'ok');
    t.is((await fs.readdir(img('cafter', 'rootfs', 'many'))).length, 20000);
  } finally {
    await destroy('cc6');
    await removeImage('cafter');
  }
});
