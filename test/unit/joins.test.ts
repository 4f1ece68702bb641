/**
 * A container that joins another's namespaces (CreateOptions.joins: a CRI container in its
 * pod, docs/cri.md), over fake drivers: it shares the pod's user namespace (its id range) and
 * network, has no address of its own, its bundle names the pod init's namespaces; the pod
 * cannot be destroyed under it; a restart starts the pod's init before its joiners'.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { core, tempStateDir, World } from '../helpers/fakes.js';
import type { CreateOptions } from '../../src/model/settings.js';
import { BadRequest, Busy, NotFound } from '../../src/errors.js';

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

interface Spec { hostname?: string; linux: { namespaces: Array<{ type: string; path?: string }>; sysctl: Record<string, string>; uidMappings?: unknown } }
const specOf = async (file: string): Promise<Spec> => JSON.parse(await fs.readFile(file, 'utf8')) as Spec;

for (const privileged of [false, true]) {
  test(`a joiner shares the pod's namespaces${privileged ? ' (privileged pod)' : ' (user namespace)'}`, async (t) => {
    const { world, lifecycle, paths } = await core(stateDir());
    const pod = await lifecycle.create('pod', opts({ privileged, hostname: 'web' }));
    const claims = [...world.claims];
    const c = await lifecycle.create('app', opts({ joins: 'pod', env: ['A=1'] }));
    t.is(c.record.joins, 'pod');
    t.is(c.record.net, 'none');
    t.is(c.record.address, undefined);
    t.deepEqual(c.record.idmap, pod.record.idmap, 'the pod\'s id range: its user namespace');
    t.deepEqual([...world.claims], claims, 'no range claimed for it');
    t.false(world.addresses.has('app'));
    const spec = await specOf(paths.container('app').config);
    const ns = Object.fromEntries(spec.linux.namespaces.map((n) => [n.type, n.path ?? null]));
    const joined = { network: `/proc/${pod.initPid}/ns/net`, ipc: `/proc/${pod.initPid}/ns/ipc`, uts: `/proc/${pod.initPid}/ns/uts` };
    t.deepEqual(ns, { ...(privileged ? {} : { user: `/proc/${pod.initPid}/ns/user` }), pid: null, mount: null, ...joined });
    t.is(spec.hostname, undefined, 'the UTS namespace is the pod\'s: no hostname set');
    t.deepEqual(spec.linux.sysctl, {}, 'the pod\'s netns has its sysctls');
    t.is(Boolean(spec.linux.uidMappings), !privileged, 'the same mappings as the namespace joined');
    t.is((await specOf(paths.container('pod').config)).hostname, 'web');

    // The pod cannot go while a container shares its namespaces; after it, it can.
    const e = await t.throwsAsync(lifecycle.destroy('pod'));
    t.true(e instanceof Busy, String(e));
    t.regex(e!.message, /app/);
    await lifecycle.destroy('app');
    await lifecycle.destroy('pod');
    t.true(world.empty);
  });
}

test('what a joiner cannot ask for, and what it cannot join, changes nothing', async (t) => {
  const { world, registry, lifecycle } = await core(stateDir());
  await lifecycle.create('pod', opts());
  await lifecycle.create('app', opts({ joins: 'pod' }));
  const refused: Array<[Partial<CreateOptions>, new (...a: never[]) => Error]> = [
    [{ joins: 'nosuch' }, NotFound],
    [{ joins: 'app' }, BadRequest],
    [{ joins: 'pod', net: 'bridge' }, BadRequest],
    [{ joins: 'pod', privileged: true }, BadRequest],
    [{ joins: 'pod', settings: { ports: [{ hostPort: 8080, containerPort: 80, proto: 'tcp' }] } }, BadRequest],
    [{ joins: 'pod', hostname: 'h' }, BadRequest],
    [{ hostname: 'bad_host' }, BadRequest],
  ];
  const calls = world.calls.length;
  for (const [o, cls] of refused) {
    const e = await t.throwsAsync(lifecycle.create('x', opts(o)));
    t.true(e instanceof cls, `${JSON.stringify(o)}: ${String(e)}`);
  }
  t.deepEqual(registry.names(), ['app', 'pod']);
  t.deepEqual(world.calls.slice(calls), [], 'refused before anything was made');
});

test('restart after a reboot: the pod\'s init starts before its joiner\'s, which joins the new one', async (t) => {
  const dir = stateDir();
  const world = new World();
  const first = await core(dir, world);
  await first.lifecycle.create('z-pod', opts({ hostname: 'kept' }));
  await first.lifecycle.create('a-app', opts({ joins: 'z-pod' })); // sorts first, must start second
  world.runtime.set('z-pod', { status: 'stopped', pid: 0 });
  world.runtime.set('a-app', { status: 'stopped', pid: 0 });
  world.calls.length = 0;
  const second = await core(dir, world);
  await second.lifecycle.adoptAll();
  t.deepEqual(second.registry.names(), ['a-app', 'z-pod']);
  const runs = world.calls.filter((c) => c.startsWith('runtime.run'));
  t.deepEqual(runs, ['runtime.run z-pod', 'runtime.run a-app']);
  const pod = second.registry.get('z-pod');
  t.is(pod.record.hostname, 'kept');
  const spec = await specOf(second.paths.container('a-app').config);
  t.true(spec.linux.namespaces.some((n) => n.type === 'network' && n.path === `/proc/${pod.initPid}/ns/net`));
});

test('a pod cannot be destroyed while a create that joins it is under way', async (t) => {
  const { world, lifecycle } = await core(stateDir());
  await lifecycle.create('pod', opts());
  const making = lifecycle.create('app', opts({ joins: 'pod' })); // not awaited: under way
  const e = await t.throwsAsync(lifecycle.destroy('pod'));
  t.true(e instanceof Busy, String(e));
  await making;
  await lifecycle.destroy('app');
  await lifecycle.destroy('pod');
  t.true(world.empty);
});
