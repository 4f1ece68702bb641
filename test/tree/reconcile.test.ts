/**
 * What happens while the daemon is down reaches events (issue 20, item 5): at restart,
 * every end found is written once, oldest first, marked "(at restart)"; a second restart
 * writes nothing again. Create and destroy are lines in the global events.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { Tree } from '../helpers/tree.js';
import { pidAlive, sleep } from '../helpers/host.js';

test('ends while the daemon is down are in events once, in order, marked; create and destroy are global events', async (t) => {
  const tree = new Tree('reconcile');
  t.teardown(() => tree.cleanup());
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create rc memory.max=128M');
  t.regex(await fs.readFile(tree.p('events'), 'utf8'), /^created rc$/m);
  const c = (...p: string[]) => tree.p('containers', 'rc', ...p);
  const run = (m: string) => tree.ctl(c('ctl'), `run ${m}`);
  const events = () => fs.readFile(c('events'), 'utf8');

  const late = await run(`sh -c 'sleep 5; exit 5'`);
  const early = await run(`sh -c 'sleep 2; exit 6'`);
  const hog = await run(`sh -c 'sleep 2.5; exec dd if=/dev/zero of=/dev/null bs=200M count=1'`);
  const victim = await run('sleep 100');
  const survivor = await run('sleep 100');
  const before = await run('true');
  await fs.readFile(c('procs', before, 'wait'), 'utf8');
  const victimPid = Number(await fs.readFile(c('procs', victim, 'pid'), 'utf8'));

  await tree.stop('SIGKILL');
  await sleep(300);
  process.kill(victimPid, 'SIGKILL'); // first to end
  await sleep(6500);
  t.false(pidAlive(victimPid));

  await tree.start();
  const found = [
    `process ${victim} killed KILL (at restart)`,
    `process ${early} exited 6 (at restart)`,
    `oom: the memory limit was hit while process ${hog} ran (at restart)`,
    `process ${hog} killed KILL (at restart)`,
    // conmon marks every process that ran in the cgroup during the OOM kill
    `oom: the memory limit was hit while process ${late} ran (at restart)`,
    `process ${late} exited 5 (at restart)`,
  ];
  const tail = (text: string) => text.trim().split('\n').filter((l) => l.endsWith('(at restart)'));
  t.deepEqual(tail(await events()), found);
  t.is((await events()).split('\n').filter((l) => l === `process ${before} exited 0`).length, 1, 'an end seen live is not written again');
  t.is(await fs.readFile(c('procs', late, 'status'), 'utf8'), 'exited 5\n');
  t.is(await fs.readFile(c('procs', survivor, 'status'), 'utf8'), 'running\n');

  // a second restart, gentle this time, then a hard one: nothing is written again
  t.is(await tree.stop(), 0);
  await tree.start();
  await tree.stop('SIGKILL');
  await tree.start();
  t.deepEqual(tail(await events()), found);

  // an end seen live after the restart is not marked
  await fs.writeFile(c('procs', survivor, 'ctl'), 'kill\n');
  t.is(await fs.readFile(c('procs', survivor, 'wait'), 'utf8'), 'killed TERM\n');
  t.regex(await events(), new RegExp(`^process ${survivor} killed TERM$`, 'm'));

  await fs.rmdir(c());
  t.regex(await fs.readFile(tree.p('events'), 'utf8'), /^created rc\n(.*\n)*destroyed rc$/m);
});
