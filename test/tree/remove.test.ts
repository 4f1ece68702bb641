/**
 * rm -rf of a container's directory (issue 20, item 1): the container's files are in
 * rootfs/NAME, and containers/NAME/rootfs is a symlink to them that cannot be removed, so
 * rm -rf never descends into them; nothing is deleted and the container keeps running.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { Tree } from '../helpers/tree.js';
import { exists } from '../helpers/host.js';

const tree = new Tree('remove');
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

/** Every path of a container's root with its size, as `find` sees it on the host side of the tree. */
async function layer(name: string): Promise<string> {
  const r = await tree.sh(`cd "$M/rootfs/${name}" && find . -printf '%p %y %s\\n' | sort`);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return r.stdout;
}

test.serial('containers/NAME/rootfs is a link to rootfs/NAME; files go in and out through both', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create lnk');
  t.deepEqual((await fs.readdir(tree.p())).sort(), ['by-property', 'containers', 'ctl', 'events', 'images', 'metrics', 'procs', 'rootfs']);
  t.is(await fs.readlink(tree.p('containers', 'lnk', 'procs')), '../../procs/lnk');
  t.deepEqual(await fs.readdir(tree.p('procs')), ['lnk']);
  t.deepEqual(await fs.readdir(tree.p('rootfs')), ['lnk']);
  t.is(await fs.readlink(tree.p('containers', 'lnk', 'rootfs')), '../../rootfs/lnk');
  const st = await fs.lstat(tree.p('containers', 'lnk', 'rootfs'));
  t.true(st.isSymbolicLink());
  t.is(st.size, '../../rootfs/lnk'.length);
  const r = await tree.sh(`echo hi > /tmp/wfs-remove-src.$$ && cp /tmp/wfs-remove-src.$$ "$M/containers/lnk/rootfs/tmp/greeting" && rm /tmp/wfs-remove-src.$$ && ls "$M/containers/lnk/rootfs/" && ls "$M/containers/lnk/rootfs"`);
  t.is(r.exitCode, 0, r.stderr);
  t.true(r.stdout.split('\n').includes('bin') && r.stdout.split('\n').includes('tmp'), r.stdout);
  t.is(await fs.readFile(tree.p('rootfs', 'lnk', 'tmp', 'greeting'), 'utf8'), 'hi\n');
  await t.throwsAsync(fs.unlink(tree.p('containers', 'lnk', 'rootfs')), { code: 'EPERM' });
  await t.throwsAsync(fs.rmdir(tree.p('rootfs', 'lnk')), { code: 'EPERM' });
  await t.throwsAsync(fs.rename(tree.p('containers', 'lnk', 'rootfs'), tree.p('containers', 'lnk', 'other')), { code: 'EPERM' });
  await fs.rmdir(tree.p('containers', 'lnk'));
  t.deepEqual(await fs.readdir(tree.p('rootfs')), []);
  await t.throwsAsync(fs.stat(tree.p('rootfs', 'lnk')), { code: 'ENOENT' });
});

test.serial('rm -rf containers/NAME (and containers/*) deletes nothing; the container runs on; rmdir destroys it', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create keep');
  await tree.ctl(tree.p('ctl'), 'create keep2');
  const c = (...p: string[]) => tree.p('containers', 'keep', ...p);
  await fs.writeFile(c('rootfs', 'tmp', 'mine'), 'precious\n');
  const sleeper = await tree.ctl(c('ctl'), 'run sleep 100');
  const done = await tree.ctl(c('ctl'), 'run true');
  await fs.readFile(c('procs', done, 'wait'), 'utf8');
  const before = await layer('keep');
  const before2 = await layer('keep2');
  t.true(before.split('\n').length > 100, 'the busybox layer has its hundreds of links');

  for (const gesture of ['rm -rf "$M/containers/keep"', 'rm -rf "$M"/containers/*', 'rm -r "$M/containers/keep"']) {
    const r = await tree.sh(`${gesture} </dev/null`);
    t.not(r.exitCode, 0, gesture);
    t.regex(r.stderr, /rootfs/, gesture);
    t.is(await layer('keep'), before, `${gesture}: every file is still there`);
    t.is(await layer('keep2'), before2, `${gesture}: keep2's files too`);
    t.is(await fs.readFile(c('rootfs', 'tmp', 'mine'), 'utf8'), 'precious\n');
    t.is((await tree.status('keep')).state, 'active');
    t.is(await fs.readFile(c('procs', sleeper, 'status'), 'utf8'), 'running\n');
    t.deepEqual((await fs.readdir(c('procs'))).sort(), [sleeper, done].sort(), `${gesture}: no process forgotten`);
    const id = await tree.ctl(c('ctl'), 'run cat /tmp/mine');
    t.is(await fs.readFile(c('procs', id, 'wait'), 'utf8'), 'exited 0\n');
    t.is(await fs.readFile(c('procs', id, 'stdout'), 'utf8'), 'precious\n');
    await fs.rmdir(c('procs', id));
  }

  // what destroys a container: rmdir (or destroy); no leftovers
  await fs.rmdir(c());
  await fs.rmdir(tree.p('containers', 'keep2'));
  t.deepEqual(await fs.readdir(tree.p('containers')), []);
  t.deepEqual(await fs.readdir(tree.p('rootfs')), []);
  t.false(await exists(`${tree.state}/containers/keep`));
});
