/**
 * Grace times (core/grace.ts) over the life cycle on fake drivers: the decision, what holds
 * the clock (a running process, a run being started, what runs in the cgroup, a use the fs
 * layer reports, the probe's), the events line, the race with a run (the run wins or is
 * refused cleanly), and the clock starting again at adoption. Also the grace and properties
 * setters (core/properties.ts): recorded, logged, a refusal changes nothing.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { core, tempStateDir, World } from '../helpers/fakes.js';
import { GraceCheck, graceDue, graceReason, type GraceTargets } from '../../src/core/grace.js';
import { monotonicMs } from '../../src/core/clock.js';
import { Commands } from '../../src/core/commands.js';
import { setGrace, setProperties } from '../../src/core/properties.js';
import { loadRecord } from '../../src/core/record.js';
import { BadRequest } from '../../src/errors.js';
import type { Container } from '../../src/core/container.js';

const dirs: string[] = [];
test.after.always(async () => {
  for (const d of dirs) await fs.rm(path.dirname(d), { recursive: true, force: true });
});

const read = (f: string) => fs.readFile(f, 'utf8').catch(() => '');

async function setup(world = new World(), dir = tempStateDir()) {
  if (!dirs.includes(dir)) dirs.push(dir);
  const k = await core(dir, world);
  const probes: string[] = [];
  const targets: GraceTargets = {
    all: () => k.registry.all(),
    find: (n) => k.registry.find(n),
    destroy: (n, reason) => k.lifecycle.destroy(n, reason),
    probe: () => { probes.push('probe'); },
    joined: (n) => k.lifecycle.joiners(n).length > 0,
  };
  const logged: string[] = [];
  const grace = new GraceCheck(targets, (f, ...a) => logged.push([f, ...a.map(String)].join(' ')));
  const make = (name: string, g?: number): Promise<Container> =>
    k.lifecycle.create(name, { env: [], settings: {}, privileged: true, ...(g === undefined ? {} : { grace: g }) });
  /** As if unused for `seconds`. */
  const idle = (c: Container, seconds: number): void => { c.lastUse = monotonicMs() - seconds * 1000; };
  /** Wait for destroys the tick began. */
  const settled = async (c: Container): Promise<void> => { await c.destroying?.catch(() => undefined); };
  return { ...k, dir, world, grace, targets, probes, logged, make, idle, settled };
}

test('the decision: due once grace seconds have passed since the last use; never without a grace', (t) => {
  t.false(graceDue(1999, 0, 2));
  t.true(graceDue(2000, 0, 2));
  t.true(graceDue(1e9, 0, 2));
  t.false(graceDue(1e12, 0, undefined));
  t.is(graceReason(300), 'grace: no process and no use for 5m');
});

test('unused past its grace: destroyed, with a global events line saying why; others stay', async (t) => {
  const s = await setup();
  const a = await s.make('a', 2);
  const b = await s.make('b', 2);
  const c = await s.make('c'); // no grace
  s.idle(a, 1.5);
  s.idle(c, 1e6);
  t.deepEqual(await s.grace.tick(), []);
  s.idle(a, 2);
  s.idle(b, 1);
  t.deepEqual(await s.grace.tick(), ['a']);
  await s.settled(a);
  t.deepEqual(s.registry.names(), ['b', 'c']);
  t.regex(await read(s.paths.events), /^destroyed a \(grace: no process and no use for 2s\)$/m);
  t.false(s.world.runtime.has('a'));
  t.true(s.probes.length > 0, 'the fs layer was asked for uses first');
});

test('a use restarts the clock', async (t) => {
  const s = await setup();
  const a = await s.make('a', 2);
  s.idle(a, 5);
  a.touch();
  t.deepEqual(await s.grace.tick(), []);
  t.deepEqual(s.registry.names(), ['a']);
});

test('a use the probe collects (answered by the binding) keeps it', async (t) => {
  const s = await setup();
  const a = await s.make('a', 2);
  s.targets.probe = () => a.touch();
  s.idle(a, 5);
  t.deepEqual(await s.grace.tick(), []);
  t.deepEqual(s.registry.names(), ['a']);
});

test('a running process holds the clock: the grace time counts from its end', async (t) => {
  const s = await setup();
  const a = await s.make('a', 2);
  a.procs.runningIds = () => ['1'];
  s.idle(a, 100);
  t.deepEqual(await s.grace.tick(), []);
  t.true(monotonicMs() - a.lastUse < 1000, 'the clock was restarted');
  a.procs.runningIds = () => [];
  t.deepEqual(await s.grace.tick(), [], 'just ended: a whole grace time to go');
  s.idle(a, 2);
  t.deepEqual(await s.grace.tick(), ['a']);
  await s.settled(a);
});

test('what an ended run left running in the cgroup holds it too', async (t) => {
  const s = await setup();
  const a = await s.make('a', 2);
  a.procs.members = async () => [4242];
  s.idle(a, 100);
  t.deepEqual(await s.grace.tick(), []);
  t.deepEqual(s.registry.names(), ['a']);
});

test('a run being started keeps it; one started while the check waited too (the check looks again)', async (t) => {
  const s = await setup();
  const a = await s.make('a', 2);
  a.procs.starting = () => true;
  s.idle(a, 100);
  t.deepEqual(await s.grace.tick(), []);
  a.procs.starting = () => false;
  s.idle(a, 100);
  // A run reserves its id while the check awaits the cgroup's members.
  a.procs.members = async () => {
    a.procs.starting = () => true;
    return [];
  };
  t.deepEqual(await s.grace.tick(), []);
  t.deepEqual(s.registry.names(), ['a']);
});

test('a run after the decision is refused cleanly, never half-started', async (t) => {
  const s = await setup();
  const commands = new Commands({ registry: s.registry, events: s.events, lifecycle: s.lifecycle, images: { async import() {}, async remove() {}, async has() { return false; }, isChanging: () => false, async commit() { throw new Error('no commit here'); } } });
  const a = await s.make('a', 2);
  let started = 0;
  a.procs.run = async () => { started++; return '1'; };
  s.idle(a, 3);
  t.deepEqual(await s.grace.tick(), ['a']);
  t.is(a.state, 'destroying', 'marked before the tick returned');
  const e = await t.throwsAsync(commands.container('a', 'run true'));
  t.true(e instanceof BadRequest || (e as { errno?: string }).errno === 'ENOENT', String(e));
  await s.settled(a);
  t.is(started, 0);
  t.deepEqual(s.registry.names(), []);
});

test('a failed grace destroy is logged in the container events; it is not retried by grace', async (t) => {
  const s = await setup();
  const a = await s.make('a', 2);
  s.world.failAt('unmount', 1);
  s.idle(a, 3);
  t.deepEqual(await s.grace.tick(), ['a']);
  await s.settled(a);
  await new Promise((r) => setTimeout(r, 50));
  t.regex(await read(a.paths.events), /^error: destroy after the grace time failed: /m);
  t.deepEqual(await s.grace.tick(), [], 'no longer active');
});

test('set at create and through the grace file: recorded, logged; none turns it off; a refusal changes nothing', async (t) => {
  const s = await setup();
  const a = await s.make('a', 300);
  t.is((await loadRecord(a.paths))?.grace, 300);
  await setGrace(a, '2s\n');
  t.is(a.record.grace, 2);
  t.is((await loadRecord(a.paths))?.grace, 2);
  await t.throwsAsync(setGrace(a, 'soon'), { instanceOf: BadRequest, message: /^bad grace "soon"/ });
  t.is(a.record.grace, 2);
  await setGrace(a, 'none');
  t.is(a.record.grace, undefined);
  t.is((await loadRecord(a.paths))?.grace, undefined);
  s.idle(a, 1e6);
  t.deepEqual(await s.grace.tick(), []);
  const ev = await read(a.paths.events);
  t.regex(ev, /^grace 2s$/m);
  t.regex(ev, /^error: bad grace "soon"/m);
  t.regex(ev, /^grace none$/m);
});

test('properties through the table: a later line wins, a bad line changes nothing, recorded', async (t) => {
  const s = await setup();
  const a = await s.make('a');
  await setProperties(a, ['app=web', 'tier=front', 'app=api']);
  t.deepEqual(a.record.properties, { app: 'api', tier: 'front' });
  await t.throwsAsync(setProperties(a, ['app=x', 'bad/key=1']), { instanceOf: BadRequest });
  t.deepEqual(a.record.properties, { app: 'api', tier: 'front' });
  t.deepEqual((await loadRecord(a.paths))?.properties, { app: 'api', tier: 'front' });
  await setProperties(a, []);
  t.is(a.record.properties, undefined);
  t.is((await loadRecord(a.paths))?.properties, undefined);
  t.regex(await read(a.paths.events), /^properties 2$/m);
});

test('after a restart: grace and properties kept; the clock starts again at adoption', async (t) => {
  const world = new World();
  const s = await setup(world);
  const a = await s.make('a', 2);
  await setProperties(a, ['app=web']);
  s.idle(a, 100);
  const again = await setup(world, s.dir);
  await again.lifecycle.adoptAll();
  const b = again.registry.get('a');
  t.is(b.record.grace, 2);
  t.deepEqual(b.record.properties, { app: 'web' });
  t.deepEqual(await again.grace.tick(), [], 'a fresh clock');
  again.idle(b, 2);
  t.deepEqual(await again.grace.tick(), ['a']);
  await again.settled(b);
});

test('a probe that fails: not destroyed on a guess, logged', async (t) => {
  const s = await setup();
  const a = await s.make('a', 2);
  s.targets.probe = () => { throw new Error('binding gone'); };
  s.idle(a, 5);
  t.deepEqual(await s.grace.tick(), []);
  t.deepEqual(s.registry.names(), ['a']);
  t.true(s.logged.some((l) => l.includes('binding gone')));
});

test('a container whose namespaces another joins (a CRI pod with containers) is in use: kept, no error every tick', async (t) => {
  const s = await setup();
  const pod = await s.make('pod', 2);
  await s.lifecycle.create('app', { env: [], settings: {}, joins: 'pod' });
  s.idle(pod, 10);
  t.deepEqual(await s.grace.tick(), []);
  t.deepEqual(s.registry.names(), ['app', 'pod']);
  t.notRegex(await read(pod.events.file), /error/);
  // Once its last joiner is gone, its grace time counts from then.
  await s.lifecycle.destroy('app');
  t.deepEqual(await s.grace.tick(), []);
  s.idle(pod, 2);
  t.deepEqual(await s.grace.tick(), ['pod']);
  await s.settled(pod);
  t.deepEqual(s.registry.names(), []);
});
