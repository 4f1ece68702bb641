/** Nothing is lost when the daemon dies (docs/interface.md §2, §5.3): output, exit statuses, stdin, running processes. */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { spawn } from 'node:child_process';
import { Tree } from '../helpers/tree.js';
import { pidAlive, sleep } from '../helpers/host.js';

test.serial('the daemon SIGKILLed while processes run, end and print; restarted: nothing lost', async (t) => {
  const tree = new Tree('restart');
  t.teardown(() => tree.cleanup());
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create r');
  const c = (...p: string[]) => tree.p('containers', 'r', ...p);
  const run = (m: string) => tree.ctl(c('ctl'), `run ${m}`);

  // prints 1..30 every 0.1 s: most of it while the daemon is down
  const printer = await run(`sh -c 'i=0; while [ $i -lt 30 ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; sleep 0.1; done; exit 7'`);
  const ender = await run(`sh -c 'sleep 1; exit 5'`); // ends while the daemon is down
  const sleeper = await run('sleep 100'); // still running after the restart
  const reader = await run(`sh -c 'while read l; do echo "got $l"; done; echo EOF'`); // must see no spurious EOF
  await fs.writeFile(c('procs', reader, 'stdin'), 'before\n');
  const sleeperPid = Number(await fs.readFile(c('procs', sleeper, 'pid'), 'utf8'));

  await tree.stop('SIGKILL');
  await sleep(4000);
  t.true(pidAlive(sleeperPid), 'processes outlive the daemon');

  await tree.start();
  const read = (id: string, f: string) => fs.readFile(c('procs', id, f), 'utf8');
  t.deepEqual((await fs.readdir(c('procs'))).sort(), [printer, ender, sleeper, reader].sort());
  t.is(await read(printer, 'wait'), 'exited 7\n');
  const want = (tag: string) => Array.from({ length: 30 }, (_, i) => `${tag} ${i + 1}\n`).join('');
  t.is(await read(printer, 'stdout'), want('out'));
  t.is(await read(printer, 'stderr'), want('err'));
  t.is(await read(ender, 'status'), 'exited 5\n');
  t.is(await read(sleeper, 'status'), 'running\n');
  t.is(await read(reader, 'status'), 'running\n', 'no spurious EOF on stdin');

  await fs.writeFile(c('procs', reader, 'stdin'), 'after\n');
  await fs.writeFile(c('procs', reader, 'ctl'), 'closein\n');
  t.is(await read(reader, 'wait'), 'exited 0\n');
  t.is(await read(reader, 'stdout'), 'got before\ngot after\nEOF\n');

  await fs.writeFile(c('procs', sleeper, 'ctl'), 'kill KILL\n');
  t.is(await read(sleeper, 'wait'), 'killed KILL\n');
  t.false(pidAlive(sleeperPid));
  t.is((await tree.status('r')).processes, '0 running, 4 ended');
  // numbering goes on
  t.is(await run('true'), '5');
});

test.serial('blocked readers are bounded: past the bound a read fails with EAGAIN', async (t) => {
  const tree = new Tree('bound', { args: ['--max-blocked-readers', '2'] });
  t.teardown(() => tree.cleanup());
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create b');
  const c = (...p: string[]) => tree.p('containers', 'b', ...p);
  const id = await tree.ctl(c('ctl'), 'run sleep 100');
  const cats = [0, 1].map(() => spawn('cat', [c('procs', id, 'stdout')], { stdio: 'ignore' }));
  await sleep(500);
  const r = await tree.sh(`cat "${c('procs', id, 'wait')}"`);
  t.not(r.exitCode, 0);
  t.regex(r.stderr, /Resource temporarily unavailable/);
  // the daemon still serves everything else
  t.is(await fs.readFile(c('procs', id, 'status'), 'utf8'), 'running\n');
  for (const cat of cats) cat.kill('SIGINT');
  await sleep(500);
  await fs.writeFile(c('procs', id, 'ctl'), 'kill\n');
  t.is(await fs.readFile(c('procs', id, 'wait'), 'utf8'), 'killed TERM\n');
});

test.serial('output on disk is bounded by --output-cap', async (t) => {
  const tree = new Tree('cap', { args: ['--output-cap', '1M'] });
  t.teardown(() => tree.cleanup());
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create cap');
  const c = (...p: string[]) => tree.p('containers', 'cap', ...p);
  // 8 MiB of output, then the process stays so that the daemon's periodic check sees it running
  const id = await tree.ctl(c('ctl'), `run sh -c 'dd if=/dev/zero bs=1M count=8 2>/dev/null | tr "\\\\0" x; sleep 100'`);
  const file = `${tree.state}/containers/cap/procs/${id}/stdout`;
  let st = await fs.stat(file);
  for (let i = 0; i < 50 && (st.size < 8 * 1024 * 1024 || st.blocks * 512 > 2 * 1024 * 1024); i++) {
    await sleep(200);
    st = await fs.stat(file);
  }
  t.is(st.size, 8 * 1024 * 1024, 'offsets stay: the size is everything written');
  t.true(st.blocks * 512 <= 2 * 1024 * 1024, `on disk: ${st.blocks * 512} bytes`);
  // the newest bytes are all there
  const fh = await fs.open(c('procs', id, 'stdout'), 'r');
  const tail = Buffer.alloc(4096);
  await fh.read(tail, 0, 4096, 8 * 1024 * 1024 - 4096);
  await fh.close();
  t.is(tail.toString(), 'x'.repeat(4096));
  await fs.writeFile(c('procs', id, 'ctl'), 'kill KILL\n');
});
