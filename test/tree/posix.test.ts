/**
 * POSIX fidelity of rootfs/NAME/ against the container's own overlay mount (issue 13.3), as
 * root: every case of the table runs on both (test/helpers/posixdiff.ts) and must give the
 * same results, errnos, stat fields and time changes step by step — or the difference
 * documented in docs/rootfs.md ("Differences from the overlay"), which the case asserts.
 * The containers are privileged (no user namespace), so owners are the same numbers on both
 * sides; a container's id shift is tested in test/tree/users.test.ts.
 * The table (test/helpers/posixcases.ts) runs again as another user in
 * test/tree/posix-as.test.ts, on a tree mounted --allow-other.
 */
import test from 'ava';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { Tree } from '../helpers/tree.js';
import { exists } from '../../src/util/files.js';
import { execa } from 'execa';
import { buildOps, runCase, runOps, type Runner, type Sides } from '../helpers/posixdiff.js';
import { cases, chain, mkChain } from '../helpers/posixcases.js';
import { PROJECT } from '../helpers/tree.js';

const tree = new Tree('posix');
let bin = '';
let sides: Sides;
let userns: Sides;

/** posixops run by the container's root inside container `name` (a static build copied into its root). */
function insideRunner(name: string): Runner {
  return async (base, lines, tick) => {
    const c = (...p: string[]) => tree.p('containers', name, ...p);
    const id = await tree.ctl(c('ctl'), `run /.posixops ${base} ${tick}`);
    await fs.writeFile(c('procs', id, 'stdin'), lines.map((l) => l + '\n').join(''));
    await tree.ctl(c('procs', id, 'ctl'), 'closein');
    const status = await fs.readFile(c('procs', id, 'wait'), 'utf8');
    const out = await fs.readFile(c('procs', id, 'stdout'), 'utf8');
    if (status !== 'exited 0\n') throw new Error(`posixops inside ${name}: ${status} ${await fs.readFile(c('procs', id, 'stderr'), 'utf8')}`);
    return out;
  };
}

test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create pxa privileged=true');
  await tree.ctl(tree.p('ctl'), 'create pxb privileged=true');
  bin = await buildOps(tree.base);
  // the reference for a container in a user namespace (the default) is its own root, inside
  await tree.ctl(tree.p('ctl'), 'create pxn');
  await execa('gcc', ['-static', '-O1', '-o', path.join(tree.state, 'containers', 'pxn', 'rootfs', '.posixops'), path.join(PROJECT, 'test/fixtures/posixops.c')]);
  userns = { overlay: path.join(tree.state, 'containers', 'pxn', 'rootfs'), tree: tree.p('rootfs', 'pxn'), dir: 'tmp/posixdiff', inside: insideRunner('pxn') };
  sides = {
    overlay: path.join(tree.state, 'containers', 'pxa', 'rootfs'),
    tree: tree.p('rootfs', 'pxa'),
    otherOverlay: path.join(tree.state, 'containers', 'pxb', 'rootfs'),
    otherTree: tree.p('rootfs', 'pxb'),
    dir: 'tmp/posixdiff',
  };
});
test.after.always(async () => {
  await tree.cleanup();
});


for (const c of cases) {
  test(`posix: ${c.name}`, async (t) => {
    const r = await runCase(bin, sides, c);
    if (r.diffs.length) t.fail(`the tree differs from the overlay:\n${r.diffs.join('\n')}`);
    else t.pass();
  });
  if (c.steps.some((l) => l.includes('{O}')) || c.notInside) continue; // another container's root is not inside this one
  test(`posix, user namespace, against the container's root inside: ${c.name}`, async (t) => {
    const r = await runCase(bin, userns, c);
    if (r.diffs.length) t.fail(`the tree differs from the container's root inside:\n${r.diffs.join('\n')}`);
    else t.pass();
  });
}

test('a container whose tree is deeper than PATH_MAX is destroyed whole (Node\'s recursive rm stops at ENAMETOOLONG)', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create pxdeep privileged=true');
  const made = await runOps(bin, tree.p('rootfs', 'pxdeep', 'tmp'), mkChain(24));
  t.true(made.every((s) => s.result === 'R ok'), made.map((s) => s.result).join(' '));
  const dir = path.join(tree.state, 'containers', 'pxdeep');
  t.true(await exists(path.join(dir, 'upper', 'tmp', chain(0, 1))));
  await fs.rmdir(tree.p('containers', 'pxdeep'));
  t.false(await exists(dir), 'the container dir is gone');
  t.false((await fs.readFile('/proc/self/mounts', 'utf8')).includes(dir), 'its overlay is unmounted');
});

test('user namespace: what the host makes through the tree is owned as what the container\'s root makes inside, a setgid directory\'s group included', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create pxu');
  const R = (...p: string[]) => tree.p('rootfs', 'pxu', 'tmp', ...p);
  await fs.mkdir(R('sg'));
  await fs.chown(R('sg'), 0, 5);
  await fs.chmod(R('sg'), 0o2775);
  await fs.mkdir(R('plain'));
  // the host, through the tree
  for (const d of ['sg', 'plain']) {
    await fs.writeFile(R(d, 'host-f'), '');
    await fs.mkdir(R(d, 'host-d'));
    await fs.symlink('x', R(d, 'host-l'));
    t.is((await runOps(bin, R(d), ['mkfifo host-p 0644']))[0]!.result, 'R ok');
  }
  // the container's root, inside
  const id = await tree.ctl(tree.p('containers', 'pxu', 'ctl'), `run sh -c 'for d in sg plain; do touch /tmp/$d/in-f; mkdir /tmp/$d/in-d; ln -s x /tmp/$d/in-l; mkfifo /tmp/$d/in-p; done'`);
  t.is(await fs.readFile(tree.p('containers', 'pxu', 'procs', id, 'wait'), 'utf8'), 'exited 0\n');
  const owner = async (p: string) => {
    const st = await fs.lstat(p);
    return `${st.uid}:${st.gid} ${(st.mode & 0o7000).toString(8)}`;
  };
  for (const d of ['sg', 'plain']) {
    for (const kind of ['f', 'd', 'l', 'p']) {
      t.is(await owner(R(d, `host-${kind}`)), await owner(R(d, `in-${kind}`)), `${d}/${kind}`);
    }
  }
  t.is(await owner(R('sg', 'host-f')), '0:5 0');
  t.is(await owner(R('sg', 'host-d')), '0:5 2000', 'a directory inherits the setgid bit too');
  t.is(await owner(R('plain', 'host-f')), '0:0 0');
});

test('user namespace, documented: the host writes and makes device nodes as host root, which the container\'s root inside cannot', async (t) => {
  const inside = insideRunner('pxn');
  const R = (...p: string[]) => tree.p('rootfs', 'pxn', 'tmp', ...p);
  await fs.mkdir(R('ns-doc'), { recursive: true });
  // the container's root loses setuid and setgid on write (it has no CAP_FSETID outside its namespace)
  const steps = ['creat f 06755', 'chmod f 06755', 'open 0 f O_WRONLY', 'write 0 x', 'close 0', 'stat f', 'mkchr c 0600'];
  const ins = (await inside('/tmp/ns-doc', steps, 0)).split('\n').filter((l) => l.startsWith('R '));
  t.regex(ins[5]!, /^R ok file 0755 /, 'inside: the write cleared the bits');
  t.is(ins[6], 'R EPERM', 'inside: no device nodes');
  await fs.rm(R('ns-doc', 'f'));
  const host = await runOps(bin, R('ns-doc'), steps);
  t.regex(host[5]!.result, /^R ok file 6755 /, 'through the tree: the bits stay');
  t.is(host[6]!.result, 'R ok', 'through the tree: host root makes the node');
});
