/**
 * The life cycle over fake drivers (test/helpers/fakes.ts): create and destroy undo every
 * step done before a failing one and leave no half container in the registry; a restart
 * adopts a running init, starts a stopped one again and sweeps a directory without
 * container.json. No root, no runtime, no mounts.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { core, tempStateDir, Injected, World, INSTANCE, type Step } from '../helpers/fakes.js';
import type { CreateOptions } from '../../src/model/settings.js';
import { allocateRange } from '../../src/drivers/rootfs/idrange.js';

const exists = (p: string) => fs.access(p).then(() => true, () => false);
const opts = (o: Partial<CreateOptions> = {}): CreateOptions => ({ env: [], settings: {}, ...o });
const cleanups: string[] = [];
test.after.always(async () => {
  for (const d of cleanups) await fs.rm(path.dirname(d), { recursive: true, force: true });
});
function stateDir(): string {
  const d = tempStateDir();
  cleanups.push(d);
  return d;
}

const createSteps = (privileged: boolean): Step[] => privileged
  ? ['allocate', 'images.has', 'images.config', 'mount', 'net.setup', 'runtime.run']
  : ['claim', 'allocate', 'images.has', 'images.config', 'chown', 'mount', 'runtime.run', 'net.setup'];

for (const privileged of [true, false]) {
  for (const step of createSteps(privileged)) {
    test(`create failing at ${step}${privileged ? ' (privileged)' : ' (user namespace)'}: every earlier step undone, nothing listed`, async (t) => {
      const { world, registry, lifecycle, paths } = await core(stateDir());
      world.failAt(step, 1);
      const e = await t.throwsAsync(lifecycle.create('web', opts({ privileged })));
      t.true(e instanceof Injected && e.step === step, String(e));
      t.deepEqual(registry.names(), []);
      t.false(registry.taken('web'), 'the name is free again');
      t.false(await exists(paths.container('web').dir), 'no directory left');
      t.true(world.empty, `nothing held: ${JSON.stringify({ mounted: [...world.mounted], runtime: [...world.runtime.keys()], links: [...world.links], addresses: [...world.addresses], claims: [...world.claims] })}`);
      t.regex(await fs.readFile(paths.events, 'utf8').catch(() => ''), /^$/, 'no created event');

      // The same create then succeeds, with what the failed one had taken.
      const c = await lifecycle.create('web', opts({ privileged }));
      t.deepEqual(registry.names(), ['web']);
      t.deepEqual([...world.addresses], [['web', c.record.address]]);
      if (!privileged) t.is(c.record.idmap!.base, allocateRange(INSTANCE, new Set()).base, 'the id range the failed create had');
      t.true(await exists(paths.container('web').record));
      t.is(world.runtime.get('web')?.pid, c.initPid);
    });
  }
}

test('a failed create gives its id range to the next', async (t) => {
  const { world, lifecycle } = await core(stateDir());
  world.failAt('runtime.run', 1);
  await t.throwsAsync(lifecycle.create('a', opts()));
  const a = await lifecycle.create('a2', opts());
  const b = await lifecycle.create('b', opts());
  t.not(a.record.idmap!.base, b.record.idmap!.base);
  const again = await core(stateDir());
  const first = await again.lifecycle.create('x', opts());
  t.is(a.record.idmap!.base, first.record.idmap!.base, 'the range of a fresh tree\'s first container');
});

test('a create whose clean-up fails too: still nothing listed, and the next start sweeps it', async (t) => {
  const dir = stateDir();
  const { world, registry, lifecycle, paths } = await core(dir);
  world.failAt('runtime.run', 1);
  world.failAt('unmount', 1);
  await t.throwsAsync(lifecycle.create('web', opts({ privileged: true })), { instanceOf: Injected });
  t.deepEqual(registry.names(), []);
  t.false(registry.taken('web'));
  t.false(await exists(paths.container('web').record), 'no record: a half-made container');
  t.true(await exists(paths.container('web').dir), 'its directory is left for the sweep');
  t.is(world.mounted.size, 1);

  const restarted = await core(dir, world);
  await restarted.lifecycle.adoptAll();
  t.deepEqual(restarted.registry.names(), []);
  t.false(await exists(paths.container('web').dir), 'swept');
  t.true(world.empty);
});

const destroySteps: Step[] = ['runtime.delete', 'monitors.end', 'cgroups.remove', 'net.teardown', 'unmount', 'claims.release'];

for (const step of destroySteps) {
  test(`destroy failing at ${step}: the container stays listed, a second destroy completes`, async (t) => {
    const { world, registry, lifecycle, paths } = await core(stateDir());
    const c = await lifecycle.create('web', opts());
    world.failAt(step, 1);
    await t.throwsAsync(lifecycle.destroy('web'), { instanceOf: Injected });
    t.deepEqual(registry.names(), ['web'], 'still listed');
    t.is(c.state, 'destroying');
    t.false(await exists(paths.container('web').record), 'the record went first: a restart would sweep it');
    await lifecycle.destroy('web');
    t.deepEqual(registry.names(), []);
    t.false(await exists(paths.container('web').dir));
    t.true(world.empty);
    t.regex(await fs.readFile(paths.events, 'utf8'), /^destroyed web$/m);
  });
}

test('reset releases each id claim by the base its record names, not by reading every claim on the host', async (t) => {
  const { world, lifecycle, paths } = await core(stateDir());
  const a = await lifecycle.create('a', opts());
  const b = await lifecycle.create('b', opts());
  const p = await lifecycle.create('p', opts({ privileged: true }));
  t.is(p.record.idmap, undefined);
  await lifecycle.teardownAll();
  const released = new Map(world.releases);
  t.is(released.get(paths.container('a').dir), a.record.idmap!.base);
  t.is(released.get(paths.container('b').dir), b.record.idmap!.base);
  t.true(released.has(paths.container('p').dir) && released.get(paths.container('p').dir) === undefined, 'a privileged one has no base: every claim of its owner');
  t.deepEqual([...world.claims], [], 'every claim released');
});

test('reset does no network work for a net=none container (its record on disk says so)', async (t) => {
  const { world, lifecycle } = await core(stateDir());
  await lifecycle.create('n', opts({ net: 'none' }));
  await lifecycle.create('br', opts());
  await lifecycle.teardownAll();
  t.false(world.calls.includes('net.teardown n'), world.calls.join(', '));
  t.true(world.calls.includes('net.teardown br'), 'a bridge container\'s network is torn down');
  t.true(world.empty);
});

test('two destroys at once are one', async (t) => {
  const { world, registry, lifecycle } = await core(stateDir());
  await lifecycle.create('web', opts());
  await Promise.all([lifecycle.destroy('web'), lifecycle.destroy('web')]);
  t.deepEqual(registry.names(), []);
  t.is(world.calls.filter((c) => c === 'runtime.delete web').length, 1);
});

test('restart: a running init is adopted, a stopped one started again, a directory without container.json swept', async (t) => {
  const dir = stateDir();
  const world = new World();
  const first = await core(dir, world);
  const alive = await first.lifecycle.create('alive', opts());
  const stopped = await first.lifecycle.create('stopped', opts({ privileged: true }));
  const gone = await first.lifecycle.create('gone', opts());
  // The host rebooted for one (the runtime knows it stopped), forgot another entirely,
  // and a create was interrupted before it wrote its record.
  world.runtime.set('stopped', { status: 'stopped', pid: 0 });
  world.runtime.delete('gone');
  const half = first.paths.container('half');
  await fs.mkdir(path.join(half.dir, 'bundle'), { recursive: true });
  world.runtime.set('half', { status: 'created', pid: 4242 });
  world.mounted.add(half.rootfs);
  // A record whose name is not its directory's is not taken up either.
  const odd = first.paths.container('odd');
  await fs.mkdir(odd.dir, { recursive: true });
  await fs.writeFile(odd.record, JSON.stringify({ ...alive.record, name: 'other' }));

  world.calls.length = 0;
  const second = await core(dir, world);
  await second.lifecycle.adoptAll();
  t.deepEqual(second.registry.names(), ['alive', 'gone', 'stopped']);

  const a = second.registry.get('alive');
  t.is(a.initPid, alive.initPid, 'adopted as it runs');
  t.false(world.calls.includes('runtime.run alive'), 'not started again');
  const asSaved = (r: object) => JSON.parse(JSON.stringify(r)) as unknown;
  t.deepEqual(a.record, asSaved(alive.record));

  for (const [name, before] of [['stopped', stopped], ['gone', gone]] as const) {
    const c = second.registry.get(name);
    t.true(world.calls.includes(`runtime.run ${name}`), `${name} started again`);
    t.not(c.initPid, before.initPid);
    t.is(world.runtime.get(name)?.pid, c.initPid);
    t.deepEqual(c.record, asSaved(before.record), 'on the same record');
    t.regex(await fs.readFile(c.paths.events, 'utf8'), new RegExp(`^restarted pid=${c.initPid}$`, 'm'));
  }
  t.true(world.calls.indexOf('runtime.delete stopped') < world.calls.indexOf('runtime.run stopped'), 'the stopped one deleted first');
  for (const name of ['alive', 'stopped', 'gone']) t.true(world.calls.includes(`net.adopt ${name}`));

  t.false(await exists(half.dir), 'half-made: swept');
  t.false(world.runtime.has('half'));
  t.false(world.mounted.has(half.rootfs));
  t.false(await exists(odd.dir), 'a record of another name: swept');
});

test('restart: a container that cannot be started again stays on disk, unlisted', async (t) => {
  const dir = stateDir();
  const world = new World();
  const first = await core(dir, world);
  await first.lifecycle.create('web', opts());
  world.runtime.delete('web');
  world.failAt('runtime.run', 1);
  const second = await core(dir, world);
  await second.lifecycle.adoptAll();
  t.deepEqual(second.registry.names(), []);
  t.true(await exists(second.paths.container('web').record), 'left for reset');
});

test('create copies the image\'s run configuration into the container\'s record, which keeps it', async (t) => {
  const dir = stateDir();
  const { world, lifecycle, paths } = await core(dir);
  world.imageConfigs.set('busybox', { Entrypoint: ['/bin/echo'], Cmd: ['hi'], Env: ['A=1'] });
  const c = await lifecycle.create('cfg', opts());
  t.deepEqual(c.record.imageConfig, { Entrypoint: ['/bin/echo'], Cmd: ['hi'], Env: ['A=1'] });
  // The image changes (or goes): the container's copy on disk stays as it was.
  world.imageConfigs.set('busybox', { Cmd: ['other'] });
  const rec = JSON.parse(await fs.readFile(paths.container('cfg').record, 'utf8')) as { imageConfig: unknown };
  t.deepEqual(rec.imageConfig, { Entrypoint: ['/bin/echo'], Cmd: ['hi'], Env: ['A=1'] });
  // An image without one: no key at all.
  world.imageConfigs.delete('busybox');
  t.false('imageConfig' in (await lifecycle.create('plain', opts())).record);
});

test('restart: a settings change cut off by the daemon\'s end (marker on disk) is undone from the record; no marker, nothing applied', async (t) => {
  const dir = stateDir();
  const world = new World();
  const first = await core(dir, world);
  const cut = await first.lifecycle.create('cut', opts({ settings: { 'memory.max': 100 << 20, 'pids.max': 300 } }));
  await first.lifecycle.create('calm', opts());
  // The kernel got a new limit, the record did not: the daemon died in between (core/changes.ts).
  await fs.writeFile(cut.paths.changing, '');
  const cgroupRoot = path.join(path.dirname(dir), 'cgroup');
  const cgDir = (name: string) => path.join(cgroupRoot, 'wardenfs', INSTANCE, name);
  for (const name of ['cut', 'calm']) {
    await fs.mkdir(cgDir(name), { recursive: true });
    await fs.writeFile(path.join(cgDir(name), 'memory.max'), String(200 << 20));
  }
  world.calls.length = 0;
  const second = await core(dir, world);
  await second.lifecycle.adoptAll();
  t.deepEqual(second.registry.names(), ['calm', 'cut']);
  t.is(await fs.readFile(path.join(cgDir('cut'), 'memory.max'), 'utf8'), String(100 << 20), 'the record\'s limit again');
  t.is(await fs.readFile(path.join(cgDir('cut'), 'pids.max'), 'utf8'), '300');
  t.is(await fs.readFile(path.join(cgDir('cut'), 'cpu.max'), 'utf8'), 'max 100000');
  t.true(world.calls.includes('net.reapply cut'), 'its network applied again');
  t.false(await exists(cut.paths.changing), 'the marker is gone');
  t.regex(await fs.readFile(cut.paths.events, 'utf8'), /^settings applied again from the record/m);
  t.false(world.calls.includes('net.reapply calm'), 'no marker: nothing applied again');
  t.is(await fs.readFile(path.join(cgDir('calm'), 'memory.max'), 'utf8'), String(200 << 20));
});

test('a create cut off right after its id claim (its clean-up never ran): the next start sweeps the claim', async (t) => {
  const dir = stateDir();
  const { world, lifecycle, paths } = await core(dir);
  // The step after the claim fails, and so does the clean-up's first host step: what is
  // left is what a daemon killed after the claim leaves.
  world.failAt('allocate', 1);
  world.failAt('runtime.delete', 1);
  await t.throwsAsync(lifecycle.create('cut', opts()), { instanceOf: Injected });
  t.is(world.claims.size, 1, 'the claim is held');
  t.true(await exists(paths.container('cut').dir), 'its directory is there for the sweep');
  const restarted = await core(dir, world);
  await restarted.lifecycle.adoptAll();
  t.deepEqual(restarted.registry.names(), []);
  t.is(world.claims.size, 0, 'swept with its directory');
  t.false(await exists(paths.container('cut').dir));
});
