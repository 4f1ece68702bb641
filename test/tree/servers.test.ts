/**
 * Processes that leave their parent, as servers do (issue 20, item 2): `stop` ends every
 * process of the container but its init, `kill ID` signals the run's whole session, and
 * `status` counts what really runs.
 */
import test, { type ExecutionContext } from 'ava';
import { promises as fs } from 'node:fs';
import { Tree } from '../helpers/tree.js';
import { cgroupDirsOf, pidAlive, sleep } from '../helpers/host.js';

const tree = new Tree('servers');
const defaultTree = tree;
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

type Container = Awaited<ReturnType<typeof container>>;

async function container(name: string, tree = defaultTree) {
  await tree.ctl(tree.p('ctl'), `create ${name}`);
  const c = (...p: string[]) => tree.p('containers', name, ...p);
  const init = Number((await tree.status(name)).pid);
  // The container's cgroup as the host has it, independently of wardenfs's code.
  const dirs = await cgroupDirsOf(init);
  const cg = dirs.find((d) => d.includes('/pids/')) ?? dirs.find((d) => d.includes('/wardenfs/'))!;
  const members = async () => (await fs.readFile(`${cg}/cgroup.procs`, 'utf8')).split('\n').filter(Boolean).map(Number)
    .filter((p) => pidAlive(p));
  const cmdlines = async () => Promise.all((await members()).filter((p) => p !== init)
    .map(async (p) => (await fs.readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim()));
  return {
    tree, c, init, members, cmdlines,
    run: (msg: string) => tree.ctl(c('ctl'), `run ${msg}`),
    read: (id: string, f: string) => fs.readFile(c('procs', id, f), 'utf8'),
  };
}

async function until(what: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await what()) return true;
  return what();
}

test('a daemonizing run: status counts what runs; stop leaves only the init in the cgroup', async (t) => {
  const { c, init, members, cmdlines, run, read } = await container('daemon');
  const id = await run(`sh -c 'sleep 1000 & sleep 1001 & exit 0'`);
  t.is(await read(id, 'wait'), 'exited 0\n');
  t.true(await until(async () => (await cmdlines()).length === 2), (await cmdlines()).join(', '));
  let st = await tree.status('daemon');
  t.is(st.runs, '0 running, 1 ended');
  t.is(st.processes, '2 running, 1 ended');
  t.is(await fs.readFile(c('cgroup', 'pids.current'), 'utf8'), '3\n'); // the init and two sleeps

  // a run that is still there, and one that ignores TERM: stop ends them all
  const live = await run('sleep 1002');
  const stubborn = await run(`sh -c 'trap "" TERM; while true; do sleep 0.1; done'`);
  await sleep(300);
  const started = Date.now();
  t.is(await tree.ctl(c('ctl'), 'stop 1'), 'ok');
  t.true(Date.now() - started < 8000);
  t.deepEqual(await members(), [init], 'only the init is left in the cgroup');
  t.is(await read(live, 'status'), 'killed TERM\n');
  t.is(await read(stubborn, 'status'), 'killed KILL\n');
  st = await tree.status('daemon');
  t.is(st.runs, '0 running, 3 ended');
  t.is(st.processes, '0 running, 3 ended');
  t.is((await tree.status('daemon')).state, 'active');
  t.true(pidAlive(init));
  // stop with nothing running is ok; the container runs new processes
  t.is(await tree.ctl(c('ctl'), 'stop 1'), 'ok');
  const again = await run('echo again');
  t.is(await read(again, 'wait'), 'exited 0\n');
});

async function killSession(t: ExecutionContext, container: Container, name: string): Promise<void> {
  const { tree, c, cmdlines, run, read } = container;
  const id = await run(`sh -c 'sleep 1000; true'`);
  const other = await run('sleep 1003'); // another run: untouched
  t.true(await until(async () => (await cmdlines()).some((l) => l === 'sleep 1000')));
  t.is(await tree.ctl(c('ctl'), `kill ${id}`), 'ok');
  t.is(await read(id, 'wait'), 'killed TERM\n');
  t.true(await until(async () => !(await cmdlines()).some((l) => l === 'sleep 1000')), (await cmdlines()).join(', '));
  t.is(await read(other, 'status'), 'running\n');
  t.deepEqual(await cmdlines(), ['sleep 1003']);

  // the same through procs/ID/ctl, with a background child the shell waits for
  const grp = await run(`sh -c 'sleep 1004 & wait'`);
  t.true(await until(async () => (await cmdlines()).includes('sleep 1004')));
  await fs.writeFile(c('procs', grp, 'ctl'), 'kill KILL\n');
  t.is(await read(grp, 'wait'), 'killed KILL\n');
  t.true(await until(async () => !(await cmdlines()).includes('sleep 1004')), (await cmdlines()).join(', '));
  t.is((await tree.status(name)).processes, '1 running, 2 ended');
}

test('kill ID signals the whole session of the run: a child of sh is not left behind', async (t) => {
  await killSession(t, await container('session'), 'session');
});

test('under crun too (its runs do not lead their session)', async (t) => {
  const crun = new Tree('servers-crun', { args: ['--runtime', 'crun'] });
  t.teardown(() => crun.cleanup());
  await crun.start();
  await killSession(t, await container('session', crun), 'session');
});
