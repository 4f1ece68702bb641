/**
 * The once-a-second check (core/checks.ts, run by Warden) over containers made by the life
 * cycle on fake drivers (test/helpers/fakes.ts): every failure is logged; one on two ticks in
 * a row goes once to the container's events, again only after a check has passed; a
 * container being destroyed, or gone, is no fault of its own.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { core, tempStateDir } from '../helpers/fakes.js';
import { PeriodicCheck } from '../../src/core/checks.js';
import { SystemFailure } from '../../src/errors.js';
import type { Container } from '../../src/core/container.js';

const cleanups: string[] = [];
test.after.always(async () => {
  for (const d of cleanups) await fs.rm(path.dirname(d), { recursive: true, force: true });
});

/** A core with containers; their checks fail while their name is in `failing`. */
async function setup(...names: string[]) {
  const dir = tempStateDir();
  cleanups.push(dir);
  const k = await core(dir);
  const failing = new Set<string>();
  const checked: string[] = [];
  const logged: string[] = [];
  const make = async (name: string): Promise<Container> => {
    const c = await k.lifecycle.create(name, { env: [], settings: {}, privileged: true });
    c.procs.check = async () => {
      checked.push(name);
      if (failing.has(name)) throw new SystemFailure(`${name} is unwell`);
    };
    return c;
  };
  const made = new Map<string, Container>();
  for (const n of names) made.set(n, await make(n));
  const check = new PeriodicCheck(k.registry, (format, ...args) => logged.push([format, ...args.map(String)].join(' | ')));
  /** The error lines of a container's events. */
  const errors = async (name: string): Promise<string[]> =>
    (await fs.readFile(k.paths.container(name).events, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('error:'));
  return { ...k, failing, checked, logged, check, made, make, errors };
}

test('a failure on one tick only is logged, not written to the events', async (t) => {
  const s = await setup('web');
  s.failing.add('web');
  await s.check.tick();
  s.failing.delete('web');
  await s.check.tick();
  t.deepEqual(s.checked, ['web', 'web']);
  t.is(s.logged.length, 1);
  t.regex(s.logged[0]!, /^check of %s failed: %O \| web \| .*web is unwell/);
  t.deepEqual(await s.errors('web'), []);
});

test('a failure on two ticks in a row goes once to the events; every failure is logged', async (t) => {
  const s = await setup('web', 'db');
  s.failing.add('web');
  for (let i = 0; i < 5; i++) await s.check.tick();
  t.deepEqual(await s.errors('web'), ['error: checking the processes failed: web is unwell']);
  t.deepEqual(await s.errors('db'), [], 'the other container is not touched');
  t.is(s.logged.filter((l) => l.includes('| web |')).length, 5);
});

test('again only after a check has passed in between', async (t) => {
  const s = await setup('web');
  s.failing.add('web');
  await s.check.tick();
  await s.check.tick();
  s.failing.delete('web');
  await s.check.tick();
  s.failing.add('web');
  await s.check.tick();
  t.is((await s.errors('web')).length, 1, 'one failure after the pass: not yet');
  await s.check.tick();
  await s.check.tick();
  t.is((await s.errors('web')).length, 2);
});

test('failures that alternate with passes are never written', async (t) => {
  const s = await setup('web');
  for (let i = 0; i < 6; i++) {
    if (i % 2 === 0) s.failing.add('web');
    else s.failing.delete('web');
    await s.check.tick();
  }
  t.is(s.logged.length, 3);
  t.deepEqual(await s.errors('web'), []);
});

test('a container being destroyed is not checked, and one destroyed during its check is not reported', async (t) => {
  const s = await setup('web', 'db');
  s.failing.add('web');
  await s.check.tick();
  // The second failing check races with a destroy that began meanwhile.
  const web = s.made.get('web')!;
  web.procs.check = async () => {
    s.checked.push('web');
    web.state = 'destroying';
    throw new SystemFailure('gone under it');
  };
  await s.check.tick();
  t.deepEqual(await s.errors('web'), []);
  s.checked.length = 0;
  await s.check.tick();
  t.deepEqual(s.checked, ['db'], 'a destroying container is skipped');
});

test('a destroyed container is forgotten: a new one of the same name starts from nothing', async (t) => {
  const s = await setup('web');
  s.failing.add('web');
  await s.check.tick();
  await s.lifecycle.destroy('web');
  await s.check.tick();
  await s.make('web');
  await s.check.tick();
  t.deepEqual(await s.errors('web'), [], 'one failure of the new container, one of the old: not two in a row');
  await s.check.tick();
  t.is((await s.errors('web')).length, 1);
});

test('a container destroyed and made again between two ticks starts from nothing too', async (t) => {
  const s = await setup('web');
  s.failing.add('web');
  await s.check.tick();
  await s.lifecycle.destroy('web');
  await s.make('web');
  await s.check.tick();
  t.deepEqual(await s.errors('web'), [], 'the old container\'s failure does not count for the new one');
  await s.check.tick();
  t.is((await s.errors('web')).length, 1);
});

test('an events file that cannot be written: logged, the tick still ends', async (t) => {
  const s = await setup('web');
  const web = s.made.get('web')!;
  (web as { events: { error(m: string): Promise<void> } }).events = { error: () => Promise.reject(new Error('disk full')) };
  s.failing.add('web');
  await s.check.tick();
  await t.notThrowsAsync(s.check.tick());
  t.true(s.logged.some((l) => l.startsWith('events of %s: %s | web | Error: disk full')), s.logged.join('\n'));
});
