/**
 * Carrying out ctl messages (core/commands.ts) over the life cycle on fake drivers
 * (test/helpers/fakes.ts): replies, order, the first failure stops the rest and is logged
 * in the right events file with its errno kept. No root, no runtime.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Commands } from '../../src/core/commands.js';
import { core, tempStateDir, type Core } from '../helpers/fakes.js';

const dirs: string[] = [];
test.after.always(async () => {
  for (const d of dirs) await fs.rm(path.dirname(d), { recursive: true, force: true });
});

async function setup(): Promise<Core & { commands: Commands; imported: string[]; committed: string[] }> {
  const d = tempStateDir();
  dirs.push(d);
  const c = await core(d);
  const imported: string[] = [];
  const committed: string[] = [];
  const commands = new Commands({
    registry: c.registry, events: c.events, lifecycle: c.lifecycle,
    images: {
      async import(name: string) { imported.push(name); },
      async remove() {},
      async has(name: string) { return name === 'taken'; },
      isChanging: () => false,
      async commit(name: string, from: { container: string }) {
        committed.push(`${name} ${from.container}`);
        return { entries: 0, shared: 0, copied: 0, bytes: 0, skipped: 0 };
      },
    },
  });
  return { ...c, commands, imported, committed };
}

const read = (f: string) => fs.readFile(f, 'utf8').catch(() => '');

test('create replies with the name; a generated one too', async (t) => {
  const { commands, registry } = await setup();
  t.is(await commands.global('create web'), 'web');
  const name = await commands.global('create');
  t.regex(name, /^c-[0-9a-f]{6}$/);
  t.deepEqual(registry.names(), [name, 'web'].sort());
});

test('messages run in order and stop at the first failure, which is logged and keeps its errno', async (t) => {
  const { commands, registry, paths } = await setup();
  const e = await t.throwsAsync(commands.global('create a\ncreate a\ncreate b\n'));
  t.is((e as { errno?: string }).errno, 'EEXIST');
  t.deepEqual(registry.names(), ['a'], 'b never created');
  t.regex(await read(paths.events), /^error: container "?a"? exists$/m);

  const syntax = await t.throwsAsync(commands.global('frob'));
  t.is((syntax as { errno?: string }).errno, 'EINVAL');
  t.regex(await read(paths.events), /^error: .*frob/m);

  const quoted = await t.throwsAsync(commands.global('create "x y"'));
  t.regex(quoted!.message, /double quotes are literal/);
  t.is(await commands.global('image import alpine /tmp/a.tar'), 'ok');
});

test('an empty message is refused and logged', async (t) => {
  const { commands, paths } = await setup();
  const e = await t.throwsAsync(commands.global('\n\n'));
  t.is((e as { errno?: string }).errno, 'EINVAL');
  t.regex(await read(paths.events), /^error: empty message$/m);
});

test('container messages: errors go to its own events; a container being destroyed takes only destroy', async (t) => {
  const { commands, registry, world, paths } = await setup();
  await commands.global('create web');
  const e = await t.throwsAsync(commands.container('web', 'kill 7'));
  t.is((e as { errno?: string }).errno, 'ENOENT');
  t.regex(await read(paths.container('web').events), /^error: no such process/m);
  t.notRegex(await read(paths.events), /no such process/);

  world.failAt('runtime.delete', 1);
  await t.throwsAsync(commands.container('web', 'destroy'));
  t.is(registry.get('web').state, 'destroying');
  const refused = await t.throwsAsync(commands.container('web', 'stop 1'));
  t.is((refused as { errno?: string }).errno, 'EINVAL');
  t.regex(refused!.message, /being destroyed/);
  t.is(await commands.container('web', 'destroy'), 'ok');
  t.deepEqual(registry.names(), []);
  t.true(world.empty);
});

test('each message is named in events with its caller before its effects; without a caller, no such line', async (t) => {
  const { commands, paths } = await setup();
  // this very process: its comm is known to /proc
  const who = { uid: 0, gid: 0, pid: process.pid, groups: [] };
  const comm = (await fs.readFile(`/proc/${process.pid}/comm`, 'utf8')).trim().slice(0, 15).replace(/[^\x21-\x7e]/g, '?');
  t.is(await commands.global('create one\ncreate two', who), 'two');
  await t.throwsAsync(commands.global('frob', who));
  const lines = (await read(paths.events)).trim().split('\n');
  t.deepEqual(lines, [
    `ctl uid=0 pid=${process.pid} comm=${comm}: create one`, 'created one',
    `ctl uid=0 pid=${process.pid} comm=${comm}: create two`, 'created two',
    `ctl uid=0 pid=${process.pid} comm=${comm}: frob`, 'error: unknown message "frob"',
  ]);
  // a caller that is gone: named by uid and pid, comm "?"
  await commands.container('one', 'stop', { uid: 4242, gid: 4242, pid: 2 ** 22 + 7, groups: [] });
  t.regex(await read(paths.container('one').events), /^ctl uid=4242 pid=4194311 comm=\?: stop$/m);
  await commands.process('one', '1', 'closein', who).catch(() => undefined);
  t.regex(await read(paths.container('one').events), new RegExp(`^ctl uid=0 pid=${process.pid} comm=\\S+: process 1: closein\\nerror: `, 'm'));
  // no caller (a core caller of its own): no line
  await commands.global('create three');
  t.notRegex(await read(paths.events), /: create three$/m);
});

test('image commit: ENOENT for no such container, EEXIST for a taken name, both logged; nothing committed', async (t) => {
  const { commands, paths, committed } = await setup();
  const none = await t.throwsAsync(commands.global('image commit new ghost'));
  t.is((none as { errno?: string }).errno, 'ENOENT');
  t.is(await commands.global('create web'), 'web');
  const taken = await t.throwsAsync(commands.global('image commit taken web'));
  t.is((taken as { errno?: string }).errno, 'EEXIST');
  t.regex(await read(paths.events), /^error: no such container "?ghost"?$/m);
  t.regex(await read(paths.events), /^error: image "?taken"? exists$/m);
  t.deepEqual(committed, []);
});
