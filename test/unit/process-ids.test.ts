/**
 * Process ids over a fake monitor (no root, no conmon, no runtime): automatic ids are
 * 1, 2, 3 …; a failed run gives its id to the next; named ids do not take a number; the
 * numbering goes on after a restart (adopt), failed runs included.
 */
import test from 'ava';
import { promises as fs, mkdtempSync, open } from 'node:fs';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { ProcessTable, type ProcessHost } from '../../src/core/processes.js';
import { EventLog } from '../../src/core/events.js';
import type { RootfsResolver } from '../../src/drivers/rootfs/resolver.js';
import type { StartRequest, Started } from '../../src/drivers/monitor/conmon.js';
import type { RunOptions } from '../../src/ctl/messages.js';
import type { Rlimits } from '../../src/model/rlimits.js';
import { BadRequest, SystemFailure } from '../../src/errors.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'wfs-procids-'));
test.after.always(() => fs.rm(base, { recursive: true, force: true }));

class StartFailed extends Error {}

/** A monitor that "runs" a process which ends at once with status 0, or fails to start when told. */
class FakeMonitor {
  failNext = 0;
  started: string[] = [];
  specs: Array<Record<string, unknown>> = [];
  private pid = 5000;

  start = async (r: StartRequest): Promise<Started> => {
    if (this.failNext > 0) {
      this.failNext--;
      throw new StartFailed(`cannot start ${r.uuid}`);
    }
    const pid = this.pid++;
    await fs.writeFile(r.paths.pid, `${pid}\n`);
    await fs.writeFile(r.paths.conmonPid, `${pid + 10000}\n`);
    await fs.writeFile(r.paths.exit, '0');
    this.started.push(path.basename(r.paths.dir));
    this.specs.push(r.processSpec);
    return { pid, conmonPid: pid + 10000, stdin: await fs.open('/dev/null', 'w') };
  };
}

/**
 * The container's root as the process table uses it (open, for dir= and the account
 * files), without the resolver's open_tree, which needs CAP_SYS_ADMIN: plain opens under
 * a directory of the test's own, unconfined.
 */
function plainRoot(dir: string): RootfsResolver {
  const root = {
    hostRoot: dir,
    open: (rel: string, flags: number, mode = 0) => promisify(open)(path.join(dir, rel), flags, mode),
    close: async () => undefined,
  };
  return root as unknown as RootfsResolver;
}

let n = 0;
async function table(dir?: string, rlimits?: Rlimits): Promise<{ procs: ProcessTable; monitor: FakeMonitor; host: ProcessHost; dir: string }> {
  const d = dir ?? path.join(base, `c${n++}`);
  const root = path.join(d, 'root');
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.mkdir(path.join(root, 'srv'), { recursive: true });
  await fs.writeFile(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await fs.writeFile(path.join(root, 'etc', 'group'), 'root:x:0:\n');
  const host: ProcessHost = {
    name: path.basename(d),
    paths: { dir: d },
    record: { env: ['PATH=/bin'], ...(rlimits ? { rlimits } : {}) },
    events: new EventLog(path.join(d, 'events')),
    cgroup: { procs: async () => [] },
    initPid: 1,
    rootfs: async () => plainRoot(root),
  };
  const monitor = new FakeMonitor();
  const procs = new ProcessTable(host, { runtime: { binary: '/nonexistent/runc', root: '/nonexistent' }, outputCap: 1 << 20, start: monitor.start });
  return { procs, monitor, host, dir: d };
}

const run = (o: Partial<RunOptions> = {}): RunOptions => ({ argv: ['true'], env: [], ...o });

/** The process's end, once reported (the marker file is written after `ended` settles). */
async function ended(procs: ProcessTable, id: string): Promise<string> {
  const p = procs.get(id);
  await p.ended;
  while (!(await fs.access(p.paths.reported).then(() => true, () => false))) await new Promise((r) => setTimeout(r, 5));
  return p.status.state;
}

test('automatic ids are 1, 2, 3 …; a failed run gives its id to the next', async (t) => {
  const { procs, monitor, dir } = await table();
  t.is(await procs.run(run()), '1');
  monitor.failNext = 1;
  await t.throwsAsync(procs.run(run()), { instanceOf: StartFailed });
  t.deepEqual(procs.ids(), ['1'], 'the failed run is not listed');
  t.false(await fs.access(path.join(dir, 'procs', '2')).then(() => true, () => false), 'its directory is gone');
  t.is(await procs.run(run()), '2');
  // A run refused before its start (no such directory) too.
  await t.throwsAsync(procs.run(run({ dir: '/nope' })), { message: /no such directory/ });
  t.is(await procs.run(run({ dir: '/srv' })), '3');
  // Two failures in a row: still the next number.
  monitor.failNext = 2;
  await t.throwsAsync(procs.run(run()));
  await t.throwsAsync(procs.run(run()));
  t.is(await procs.run(run()), '4');
  t.deepEqual(monitor.started, ['1', '2', '3', '4']);
  t.deepEqual(procs.ids(), ['1', '2', '3', '4']);
  for (const id of procs.ids()) t.is(await ended(procs, id), 'exited');
  t.is(await fs.readFile(path.join(dir, 'procs', '.next'), 'utf8'), '5');
});

test('named ids take no number; an automatic id skips a name that is a number', async (t) => {
  const { procs, monitor } = await table();
  t.is(await procs.run(run({ id: 'web' })), 'web');
  t.is(await procs.run(run()), '1');
  t.is(await procs.run(run({ id: '2' })), '2');
  t.is(await procs.run(run()), '3');
  await t.throwsAsync(procs.run(run({ id: 'web' })), { message: /exists/ });
  monitor.failNext = 1;
  await t.throwsAsync(procs.run(run({ id: 'db' })));
  t.is(await procs.run(run()), '4', 'a failed named run changes no number');
  t.is(await procs.run(run({ id: 'db' })), 'db', 'and its name is free');
  t.deepEqual(procs.ids(), ['1', '2', '3', '4', 'db', 'web']);
});

test('forgetting the last process does not give its id again', async (t) => {
  const { procs } = await table();
  t.is(await procs.run(run()), '1');
  await ended(procs, '1');
  await procs.forget('1');
  t.is(await procs.run(run()), '2');
});

test('after a restart the numbering goes on, and a failed run still gives its id to the next', async (t) => {
  const first = await table();
  t.is(await first.procs.run(run()), '1');
  t.is(await first.procs.run(run()), '2');
  await ended(first.procs, '2');
  const again = await table(first.dir);
  await again.procs.adopt();
  t.deepEqual(again.procs.ids(), ['1', '2']);
  t.is(again.procs.get('1').status.state, 'exited');
  again.monitor.failNext = 1;
  await t.throwsAsync(again.procs.run(run()));
  t.is(await again.procs.run(run()), '3');
});

test('the end of a process restarts its container\'s grace clock', async (t) => {
  const { procs, host } = await table();
  let touched = 0;
  host.touch = () => { touched++; };
  const id = await procs.run(run());
  await ended(procs, id);
  t.is(touched, 1);
});

test("rlimits: a run's over the container's reach the process spec; one the host cannot give starts nothing and keeps the id", async (t) => {
  const { procs, monitor } = await table(undefined, { nofile: { soft: 64, hard: 128 }, core: { soft: 0, hard: 0 } });
  t.is(await procs.run(run({ rlimits: { nofile: { soft: 100, hard: 100 } } })), '1');
  t.deepEqual(monitor.specs[0]!.rlimits, [
    { type: 'RLIMIT_NOFILE', soft: 100, hard: 100 },
    { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
  ]);
  t.is(await procs.run(run()), '2');
  t.deepEqual(monitor.specs[1]!.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 64, hard: 128 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }]);
  await t.throwsAsync(procs.run(run({ rlimits: { nofile: { soft: 1, hard: 1 } } })), { message: /too few to start a process/ });
  t.is(monitor.specs.length, 2);
  t.is(await procs.run(run()), '3');
});

test('a start that fails because a destroy began meanwhile is told as such (EINVAL), not as the runtime\'s failure', async (t) => {
  const { host, monitor } = await table();
  const h = host as { state?: 'active' | 'destroying' };
  let destroyDuringStart = true;
  const procs = new ProcessTable(host, {
    runtime: { binary: '/nonexistent/runc', root: '/nonexistent' }, outputCap: 1 << 20,
    start: async (r) => {
      if (h.state === 'active') return monitor.start(r);
      if (destroyDuringStart) h.state = 'destroying'; // the destroy begins while runc exec runs …
      throw new SystemFailure('exec failed: unable to start container process'); // … and the exec fails
    },
  });
  await t.throwsAsync(procs.run(run()), { instanceOf: BadRequest, message: /is being destroyed/ });
  // No destroy: the runtime's failure is what the caller hears.
  h.state = undefined;
  destroyDuringStart = false;
  await t.throwsAsync(procs.run(run()), { instanceOf: SystemFailure });
  h.state = 'active';
  t.is(await procs.run(run()), '1', 'the failed runs gave their id on');
});
