/**
 * The bind mount driver (src/drivers/rootfs/bindmount.ts, native/rootfs/hostmount.c) against
 * a process in a mount namespace of its own (unshare -m), as a container's init is: the
 * kernel walk of the attach refuses a symbolic link anywhere in the path (what a container
 * swaps in after the daemon's check), the mount lands in that namespace only, `ro` is
 * read-only there, and detach removes it. Root: setns, open_tree, move_mount.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openHostTree, attachTree, detachTree } from '../../src/drivers/rootfs/bindmount.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'wfs-bindmount-'));
let ns: ChildProcess | undefined;

test.before(async () => {
  await fs.mkdir(path.join(base, 'src'));
  await fs.writeFile(path.join(base, 'src', 'f'), 'source\n');
  await fs.mkdir(path.join(base, 'target'));
  await fs.mkdir(path.join(base, 'victim'));
  await fs.symlink(path.join(base, 'victim'), path.join(base, 'link'));
  ns = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '300'], { stdio: 'ignore' });
  // wait until it is in its own namespace
  for (let i = 0; i < 50; i++) {
    if (ns.pid && (await fs.readlink(`/proc/${ns.pid}/ns/mnt`).catch(() => '')) !== (await fs.readlink('/proc/self/ns/mnt'))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
});
test.after.always(async () => {
  ns?.kill('SIGKILL');
  await fs.rm(base, { recursive: true, force: true });
});

const mountsOf = (pid: number | 'self'): Promise<string> => fs.readFile(`/proc/${pid}/mountinfo`, 'utf8');

test.serial('the walk refuses a symbolic link, at the end or on the way (ELOOP); nothing is mounted', async (t) => {
  const tree = await openHostTree(path.join(base, 'src'), false);
  try {
    t.is(tree.path, path.join(base, 'src'));
    t.true(tree.dir);
    for (const at of [path.join(base, 'link'), path.join(base, 'link', 'x')]) {
      await t.throwsAsync(attachTree(tree, ns!.pid!, at), { code: 'ELOOP' }, at);
    }
  } finally {
    await tree.close();
  }
  t.false((await mountsOf(ns!.pid!)).includes(path.join(base, 'victim')));
  t.deepEqual(await fs.readdir(path.join(base, 'victim')), []);
});

test.serial('attached read-only in that namespace only; detached again', async (t) => {
  const pid = ns!.pid!;
  const target = path.join(base, 'target');
  const tree = await openHostTree(path.join(base, 'src'), false);
  try {
    await attachTree(tree, pid, target);
  } finally {
    await tree.close();
  }
  const line = (await mountsOf(pid)).split('\n').find((l) => l.split(' ')[4] === target);
  t.truthy(line, 'mounted in the namespace');
  t.regex(line!.split(' ')[5]!, /(^|,)ro(,|$)/);
  t.regex(line!.split(' ')[5]!, /nosuid/);
  t.regex(line!.split(' ')[5]!, /nodev/);
  t.false((await mountsOf('self')).includes(target), 'not on the host');
  // through the namespace's root, the file is there
  t.is(await fs.readFile(`/proc/${pid}/root${target}/f`, 'utf8'), 'source\n');
  await detachTree(pid, target);
  t.false((await mountsOf(pid)).includes(target));
  // detaching again: nothing is mounted there (EINVAL)
  await t.throwsAsync(detachTree(pid, target), { code: 'EINVAL' });
});

test.serial('a missing host path is ENOENT', async (t) => {
  await t.throwsAsync(openHostTree(path.join(base, 'nothing'), true), { code: 'ENOENT' });
});
