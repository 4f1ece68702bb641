/**
 * Grace time through the mounted tree (docs/interface.md §5.10): a container unused for its
 * grace is destroyed with a global events line; uses of its tree (files answered by the
 * daemon and rootfs/ files the FUSE binding answers itself) and a running process keep it;
 * `ls -l containers/` is no use; the grace file.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { Tree } from '../helpers/tree.js';
import { sleep } from '../helpers/host.js';

const tree = new Tree('grace');
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

const C = (name: string, ...p: string[]) => tree.p('containers', name, ...p);
/** Listing containers/ uses none of them. */
const listed = async () => fs.readdir(tree.p('containers'));
const events = () => fs.readFile(tree.p('events'), 'utf8');

/** Poll `listed()` (no use) until `name` is gone; the time it took in ms, or -1. */
async function goneWithin(name: string, ms: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (!(await listed()).includes(name)) return Date.now() - start;
    await sleep(200);
  }
  return -1;
}

// Serial: ava runs it before the others, which need the daemon up.
test.serial('a daemon restart keeps the grace time; the clock starts again at adoption', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create gr0 net=none grace=3s');
  await tree.stop();
  await sleep(4000); // longer than its grace, with no daemon
  await tree.start();
  const back = Date.now();
  t.true((await listed()).includes('gr0'), 'adopted, not destroyed at once');
  t.not(await goneWithin('gr0', 10_000), -1);
  t.true(Date.now() - back >= 2000, 'a whole grace time after the adoption (the start took some of it)');
  t.regex(await events(), /^destroyed gr0 \(grace: no process and no use for 3s\)$/m);
});

test('unused for its grace: destroyed, with an events line; ls -l containers/ is no use', async (t) => {
  t.is(await tree.ctl(tree.p('ctl'), 'create gr1 net=none grace=2s'), 'gr1');
  const start = Date.now();
  // stat of every container (ls -l) while waiting: not a use
  let gone = false;
  while (!gone && Date.now() - start < 10_000) {
    const r = await tree.sh('ls -l "$M/containers/" >/dev/null');
    t.is(r.exitCode, 0, r.stderr);
    gone = !(await listed()).includes('gr1');
    if (!gone) await sleep(300);
  }
  t.true(gone, 'destroyed');
  t.true(Date.now() - start >= 1900, 'not before its grace time');
  t.regex(await events(), /^destroyed gr1 \(grace: no process and no use for 2s\)$/m);
  await t.throwsAsync(fs.stat(C('gr1')), { code: 'ENOENT' });
  await t.throwsAsync(fs.stat(`${tree.state}/containers/gr1`), { code: 'ENOENT' });
});

test('kept alive by reading its rootfs/ files (answered by the binding) and by its files', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create gr2 net=none grace=4s');
  await tree.ctl(tree.p('ctl'), 'create gr3 net=none grace=4s');
  // 4 s of grace against a use every ~0.5 s: room for a loaded machine's slow shell spawns
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    // gr2: a rootfs file, by rootfs/NAME (no synthetic node on the way): after the first
    // request registered the root, the lookups, the open and the reads are answered in C
    const r = await tree.sh('cat "$M/rootfs/gr2/etc/passwd" >/dev/null');
    t.is(r.exitCode, 0, r.stderr);
    // gr3: a file of its own directory, answered by the daemon
    await fs.readFile(C('gr3', 'status'), 'utf8');
    await sleep(500);
  }
  t.true((await listed()).includes('gr2'), 'gr2 kept by its rootfs/ reads');
  t.true((await listed()).includes('gr3'), 'gr3 kept by reading its status');
  // left alone now: both go
  t.not(await goneWithin('gr2', 12_000), -1);
  t.not(await goneWithin('gr3', 12_000), -1);
});

test('kept alive by a running process; the grace time counts from its end', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create gr4 net=none grace=2s');
  await tree.ctl(C('gr4', 'ctl'), 'run sleep 5');
  const ran = Date.now();
  // nothing touches it while the process runs
  await sleep(4000);
  t.true((await listed()).includes('gr4'), 'kept while its process runs');
  const took = await goneWithin('gr4', 12_000);
  t.not(took, -1, 'destroyed once the process ended and its grace passed');
  t.true(Date.now() - ran >= 5000 + 1900, 'not before the end plus its grace');
  t.regex(await events(), /^destroyed gr4 \(grace: /m);
});

test('the grace file: read, set, none turns it off, a bad value is EINVAL and changes nothing', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create gr5 net=none');
  t.is(await fs.readFile(C('gr5', 'grace'), 'utf8'), 'none\n');
  await fs.writeFile(C('gr5', 'grace'), '1h30m\n');
  t.is(await fs.readFile(C('gr5', 'grace'), 'utf8'), '1h30m\n');
  await t.throwsAsync(fs.writeFile(C('gr5', 'grace'), 'soon\n'), { code: 'EINVAL' });
  t.is(await fs.readFile(C('gr5', 'grace'), 'utf8'), '1h30m\n');
  await fs.writeFile(C('gr5', 'grace'), '2s');
  await fs.writeFile(C('gr5', 'grace'), 'none');
  await sleep(4000);
  t.true((await listed()).includes('gr5'), 'none: kept');
  const ev = await fs.readFile(C('gr5', 'events'), 'utf8');
  t.regex(ev, /^grace 1h30m$/m);
  t.regex(ev, /^error: bad grace "soon/m);
  t.regex(ev, /^grace none$/m);
  // set on an existing container: it goes
  await fs.writeFile(C('gr5', 'grace'), '1s');
  t.not(await goneWithin('gr5', 8000), -1);
});

test('a run racing the destroy by grace wins or fails cleanly, never half', async (t) => {
  const names = [0, 1, 2, 3, 4, 5].map((i) => `grx${i}`);
  for (const n of names) await tree.ctl(tree.p('ctl'), `create ${n} net=none grace=1s`);
  // each run is written at another moment around its container's deadline (the tick is once a second)
  const outcomes = await Promise.all(names.map(async (n, i) => {
    await sleep(500 + i * 400);
    try {
      return { n, id: await tree.ctl(C(n, 'ctl'), 'run sleep 3') };
    } catch (e) {
      return { n, code: (e as NodeJS.ErrnoException).code };
    }
  }));
  t.log(outcomes.map((o) => `${o.n}: ${o.id !== undefined ? 'ran' : o.code}`).join(', '));
  for (const o of outcomes) {
    if (o.id !== undefined) {
      // it won: the container stays while the process runs
      t.true((await listed()).includes(o.n), `${o.n} kept`);
      t.is(await fs.readFile(C(o.n, 'procs', o.id, 'status'), 'utf8'), 'running\n', o.n);
    } else {
      t.true(o.code === 'EINVAL' || o.code === 'ENOENT', `${o.n}: ${o.code}`);
    }
  }
  // in the end every one goes, and nothing of theirs is left on the host
  for (const n of names) {
    t.not(await goneWithin(n, 15_000), -1, n);
    await t.throwsAsync(fs.stat(`${tree.state}/containers/${n}`), { code: 'ENOENT' });
  }
});
