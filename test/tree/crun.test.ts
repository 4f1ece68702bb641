/** --runtime crun: the alternative OCI runtime runs the same tree (with the hybrid-cgroup workaround where needed). */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Tree } from '../helpers/tree.js';
import { pidAlive, cgroupDirsOf, exists, nsOf, sleep } from '../helpers/host.js';

test('containers run under crun and are destroyed without leftovers', async (t) => {
  const tree = new Tree('crun', { args: ['--runtime', 'crun'] });
  t.teardown(() => tree.cleanup());
  await tree.start();
  t.is(await tree.ctl(tree.p('ctl'), 'create c1'), 'c1');
  const pid = Number((await tree.status('c1')).pid);
  t.true(pidAlive(pid));
  t.not(await nsOf(pid, 'pid'), await nsOf('self', 'pid'));
  // crun sees a v1 host here: its own cgroups are the v1 ones (the v2 root is not its).
  const cgroups = (await cgroupDirsOf(pid)).filter((d) => d.endsWith('/c1'));
  t.true(cgroups.some((d) => /\/wardenfs\/[0-9a-f]+\/c1$/.test(d)));
  await fs.writeFile(tree.p('containers', 'c1', 'rootfs', 'tmp', 'x'), 'x');
  t.is(await fs.readFile(`/proc/${pid}/root/tmp/x`, 'utf8'), 'x');
  await fs.rmdir(tree.p('containers', 'c1'));
  for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
  t.false(pidAlive(pid));
  for (const d of cgroups) t.false(await exists(d), d);
  t.false(await exists(path.join(tree.state, 'runtime', 'c1')));
});

test('rlimit.NAME= under crun: the container defaults and a run\'s override, as the process sees them', async (t) => {
  const tree = new Tree('crun-rl', { args: ['--runtime', 'crun'] });
  t.teardown(() => tree.cleanup());
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create rl net=none rlimit.nofile=512:2048');
  const limits = async (message: string): Promise<string> => {
    const id = await tree.ctl(tree.p('containers', 'rl', 'ctl'), message);
    t.is(await fs.readFile(tree.p('procs', 'rl', id, 'wait'), 'utf8'), 'exited 0\n');
    return fs.readFile(tree.p('procs', 'rl', id, 'stdout'), 'utf8');
  };
  t.regex(await limits('run cat /proc/self/limits'), /^Max open files +512 +2048 /m);
  const over = await limits('run rlimit.nofile=100 rlimit.fsize=1048576:unlimited cat /proc/self/limits');
  t.regex(over, /^Max open files +100 +100 /m);
  t.regex(over, /^Max file size +1048576 +unlimited /m);
});

test('a terminal under crun: run tty=1, winsize, keystrokes', async (t) => {
  const tree = new Tree('crun-tty', { args: ['--runtime', 'crun'] });
  t.teardown(() => tree.cleanup());
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create ct');
  const proc = (id: string, f: string) => tree.p('containers', 'ct', 'procs', id, f);
  const id = await tree.ctl(tree.p('containers', 'ct', 'ctl'), `run tty=1 rows=20 cols=70 -- sh -c 'tty; stty size; read l; stty size; echo "got $l"'`);
  for (let i = 0; i < 100 && !/20 70\r\n/.test(await fs.readFile(proc(id, 'stdout.now'), 'utf8')); i++) await sleep(50);
  await fs.writeFile(proc(id, 'winsize'), '21 71\n');
  await fs.writeFile(proc(id, 'stdin'), 'hi\r');
  t.is(await fs.readFile(proc(id, 'wait'), 'utf8'), 'exited 0\n');
  t.regex(await fs.readFile(proc(id, 'stdout'), 'utf8'), /^\/dev\/pts\/\d+\r\n20 70\r\nhi\r\n21 71\r\ngot hi\r\n$/);
});
