/** Processes through the mounted tree (docs/interface.md §1, §3 procs/, §4 run/kill/stop, §5.3–5.4 streams). */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { spawn } from 'node:child_process';
import { Tree } from '../helpers/tree.js';
import { pidAlive, nsOf, sleep } from '../helpers/host.js';

const tree = new Tree('procs');
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

async function container(name: string): Promise<{ c: (...p: string[]) => string; run: (msg: string) => Promise<string>; read: (id: string, f: string) => Promise<string> }> {
  await tree.ctl(tree.p('ctl'), `create ${name}`);
  const c = (...p: string[]) => tree.p('containers', name, ...p);
  return {
    c,
    run: (msg) => tree.ctl(c('ctl'), `run ${msg}`),
    read: (id, f) => fs.readFile(c('procs', id, f), 'utf8'),
  };
}

test('serial processes: ids 1, 2, 3, stdout, stderr, exit codes, cmdline', async (t) => {
  const { c, run, read } = await container('serial');
  t.is(await run(`sh -c 'echo out; echo err >&2; exit 3'`), '1');
  t.is(await read('1', 'wait'), 'exited 3\n');
  t.is(await read('1', 'stdout'), 'out\n');
  t.is(await read('1', 'stderr'), 'err\n');
  t.is(await read('1', 'status'), 'exited 3\n');
  t.is(await read('1', 'cmdline'), `sh -c 'echo out; echo err >&2; exit 3'\n`);
  t.is(await run('true'), '2');
  t.is(await read('2', 'wait'), 'exited 0\n');
  // a failed run changes nothing, not even the next id
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run /no/such/program\n'), { code: 'ENOENT' });
  t.regex(await fs.readFile(c('events'), 'utf8'), /^error: cannot run "\/no\/such\/program": .*no such file or directory/m);
  t.is(await run('echo three'), '3');
  t.is(await read('3', 'wait'), 'exited 0\n');
  t.deepEqual(await fs.readdir(c('procs')), ['1', '2', '3']);
  const st = await tree.status('serial');
  t.is(st.processes, '0 running, 3 ended');
});

test('parallel processes share the init\'s namespaces and cgroups, see each other, and die alone', async (t) => {
  const { c, run, read } = await container('parallel');
  const init = Number((await tree.status('parallel')).pid);
  t.is(await run('id=a sleep 100'), 'a');
  t.is(await run('id=b sleep 100'), 'b');
  const pa = Number(await read('a', 'pid'));
  const pb = Number(await read('b', 'pid'));
  for (const ns of ['mnt', 'pid', 'uts', 'ipc', 'net']) {
    const want = await nsOf(init, ns);
    t.is(await nsOf(pa, ns), want, `a ${ns}`);
    t.is(await nsOf(pb, ns), want, `b ${ns}`);
    t.not(want, await nsOf('self', ns), `${ns} is the host's`);
  }
  const cg = await fs.readFile(`/proc/${init}/cgroup`, 'utf8');
  t.is(await fs.readFile(`/proc/${pa}/cgroup`, 'utf8'), cg);
  t.is(await fs.readFile(`/proc/${pb}/cgroup`, 'utf8'), cg);
  t.is((await tree.status('parallel')).processes, '2 running, 0 ended');

  t.is(await run('id=ps ps'), 'ps');
  await read('ps', 'wait');
  const ps = await read('ps', 'stdout');
  t.is(ps.split('\n').filter((l) => /sleep 100/.test(l)).length, 2, ps);

  await fs.writeFile(c('procs', 'a', 'ctl'), 'kill KILL\n');
  t.is(await read('a', 'wait'), 'killed KILL\n');
  t.is(await read('b', 'status'), 'running\n');
  t.true(pidAlive(pb));
  t.is(await tree.ctl(c('ctl'), 'kill b HUP'), 'ok');
  t.is(await read('b', 'wait'), 'killed HUP\n');
  t.regex(await fs.readFile(c('events'), 'utf8'), /^process b killed HUP$/m);
  t.is((await tree.status('parallel')).state, 'active');
  t.true(pidAlive(init));
});

test('cat stdout streams a three-second process live and ends with it', async (t) => {
  const { c, run } = await container('stream');
  // The process prints its second line only once the test has seen the first through cat
  // (it waits for /go, made then): a cat that reads it has streamed it live, however loaded
  // the machine is. Then a third line a second later, and the end.
  const id = await run(`sh -c 'echo tick 1; while [ ! -e /go ]; do sleep 0.1; done; echo tick 2; sleep 1; echo tick 3'`);
  const lines: Array<[string, number]> = [];
  let went = 0;
  await new Promise<void>((resolve, reject) => {
    const cat = spawn('cat', [c('procs', id, 'stdout')]);
    let buf = '';
    cat.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push([buf.slice(0, i), Date.now()]);
        buf = buf.slice(i + 1);
        if (lines.length === 1) {
          went = Date.now();
          fs.writeFile(c('rootfs', 'go'), '').catch(reject);
        }
      }
    });
    cat.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`cat exited ${code}`))));
  });
  t.deepEqual(lines.map(([l]) => l), ['tick 1', 'tick 2', 'tick 3']);
  t.true(went > 0 && lines[1]![1] >= went, 'tick 2 came after /go was made, to the same cat');
  t.true(lines[2]![1] - lines[1]![1] >= 900, `tick 3 came about a second after tick 2 (${lines[2]![1] - lines[1]![1]} ms)`);
  // every reader, whenever it opens, gets everything from byte 0
  t.is(await fs.readFile(c('procs', id, 'stdout'), 'utf8'), 'tick 1\ntick 2\ntick 3\n');
});

test('tail -f picks up output as it grows', async (t) => {
  const { c, run } = await container('tailf');
  const id = await run(`sh -c 'for i in 1 2 3 4; do echo line $i; sleep 0.7; done; sleep 30'`);
  const r = await tree.sh(`timeout 5 tail -f "${c('procs', id, 'stdout')}"`);
  t.is(r.exitCode, 124);
  t.is(r.stdout, 'line 1\nline 2\nline 3\nline 4'); // execa strips the last newline
  await fs.writeFile(c('procs', id, 'ctl'), 'kill\n');
});

test('stdin is delivered, closein gives EOF', async (t) => {
  const { c, run, read } = await container('stdin');
  const id = await run(`sh -c 'while read l; do echo "got $l"; done; echo EOF'`);
  await fs.writeFile(c('procs', id, 'stdin'), 'one\n');
  const r = await tree.sh(`echo two > "${c('procs', id, 'stdin')}"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await read(id, 'status'), 'running\n');
  await fs.writeFile(c('procs', id, 'ctl'), 'closein\n');
  t.is(await read(id, 'wait'), 'exited 0\n');
  t.is(await read(id, 'stdout'), 'got one\ngot two\nEOF\n');
  await t.throwsAsync(fs.writeFile(c('procs', id, 'stdin'), 'late\n'), { code: 'EPIPE' });
});

test('dir=, env= and user= are honoured; container env too', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create opts env=FROM_CONTAINER=yes');
  const c = (...p: string[]) => tree.p('containers', 'opts', ...p);
  const id = await tree.ctl(c('ctl'), `run dir=/tmp user=1000:1001 env=GREETING='hello world' sh -c 'pwd; id -u; id -g; echo "$GREETING"; echo $FROM_CONTAINER'`);
  t.is(await fs.readFile(c('procs', id, 'wait'), 'utf8'), 'exited 0\n');
  t.is(await fs.readFile(c('procs', id, 'stdout'), 'utf8'), '/tmp\n1000\n1001\nhello world\nyes\n');
});

test('duplicate id EEXIST; kill of unknown id ENOENT; bad signal EINVAL', async (t) => {
  const { c, run } = await container('dupid');
  t.is(await run('id=x sleep 100'), 'x');
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run id=x true\n'), { code: 'EEXIST' });
  t.true((await fs.readFile(c('events'), 'utf8')).includes('error: process "x" exists\n'));
  await t.throwsAsync(fs.writeFile(c('ctl'), 'kill nope\n'), { code: 'ENOENT' });
  await t.throwsAsync(fs.writeFile(c('procs', 'x', 'ctl'), 'kill NOSIG\n'), { code: 'EINVAL' });
  await t.throwsAsync(fs.writeFile(c('procs', 'x', 'ctl'), 'frob\n'), { code: 'EINVAL' });
  t.is(await fs.readFile(c('procs', 'x', 'status'), 'utf8'), 'running\n');
  await fs.writeFile(c('procs', 'x', 'ctl'), 'kill 9\n');
  t.is(await fs.readFile(c('procs', 'x', 'wait'), 'utf8'), 'killed KILL\n');
});

test('rmdir forgets an ended process and refuses a running one', async (t) => {
  const { c, run, read } = await container('forget');
  const done = await run('true');
  const live = await run('sleep 100');
  await read(done, 'wait');
  await t.throwsAsync(fs.rmdir(c('procs', live)), { code: 'EBUSY' });
  await fs.rmdir(c('procs', done));
  t.deepEqual(await fs.readdir(c('procs')), [live]);
  await fs.writeFile(c('procs', live, 'ctl'), 'kill KILL\n');
  await read(live, 'wait');
  await fs.rmdir(c('procs', live));
  t.deepEqual(await fs.readdir(c('procs')), []);
});

test('stop ends every process (TERM, then KILL) and the container runs new ones', async (t) => {
  const { c, run, read } = await container('stopper');
  const polite = await run('sleep 100');
  const stubborn = await run(`sh -c 'trap "" TERM; while true; do sleep 0.1; done'`);
  await sleep(300);
  const started = Date.now();
  t.is(await tree.ctl(c('ctl'), 'stop 1'), 'ok');
  t.true(Date.now() - started < 8000);
  t.is(await read(polite, 'status'), 'killed TERM\n');
  t.is(await read(stubborn, 'status'), 'killed KILL\n');
  const again = await run('echo again');
  t.is(await read(again, 'wait'), 'exited 0\n');
  t.is(await read(again, 'stdout'), 'again\n');
});

test('a reader blocked on a quiet process ends at once on Ctrl-C (SIGINT) and on timeout', async (t) => {
  const { c, run, read } = await container('ctrlc');
  const id = await run('sleep 100');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const file of ['stdout', 'wait']) {
      const cat = spawn('cat', [c('procs', id, file)], { stdio: 'ignore' });
      await sleep(400);
      const sent = Date.now();
      cat.kill(signal);
      const code = await new Promise<number | null>((resolve) => cat.once('exit', (_c, s) => resolve(s === signal ? 0 : 1)));
      t.is(code, 0, `${file}: cat ended by ${signal}`);
      t.true(Date.now() - sent < 1500, `${file}: ${signal} took ${Date.now() - sent} ms`);
    }
  }
  const r = await tree.sh(`timeout 1 cat "${c('procs', id, 'stdout')}"`);
  t.is(r.exitCode, 124);
  t.is(await read(id, 'status'), 'running\n');
});

test('destroy with running processes leaves no process or monitor behind; the monitor holds the stdin writer', async (t) => {
  const { c, run, read } = await container('busy');
  const ids = [await run('sleep 100'), await run(`sh -c 'while read l; do :; done'`)];
  const pids = await Promise.all(ids.map(async (id) => Number(await read(id, 'pid'))));
  const dirs = ids.map((id) => `${tree.state}/containers/busy/procs/${id}`);
  const monitors = await Promise.all(dirs.map(async (d) => Number(await fs.readFile(`${d}/conmon.pid`, 'utf8'))));
  for (const [i, m] of monitors.entries()) {
    // wardenfs's monitor, the process's parent (its subreaper), holding a writer on the stdin FIFO: no holder process
    t.regex((await fs.readFile(`/proc/${m}/cmdline`, 'utf8')).split('\0')[0]!, /\/wardenfs-monitor$/);
    t.is(Number(/^PPid:\s*(\d+)/m.exec(await fs.readFile(`/proc/${pids[i]}/status`, 'utf8'))?.[1]), m);
    const fds = await fs.readdir(`/proc/${m}/fd`);
    const targets = await Promise.all(fds.map((fd) => fs.readlink(`/proc/${m}/fd/${fd}`).catch(() => '')));
    t.true(targets.includes(`${dirs[i]}/stdin`), `monitor ${m} holds ${dirs[i]}/stdin: ${targets.join(' ')}`);
    await t.throwsAsync(fs.stat(`${dirs[i]}/holder.pid`), { code: 'ENOENT' });
  }
  for (const p of [...pids, ...monitors]) t.true(pidAlive(p), `${p} alive before`);
  await fs.rmdir(tree.p('containers', 'busy'));
  for (let i = 0; i < 50 && [...pids, ...monitors].some(pidAlive); i++) await sleep(100);
  for (const p of [...pids, ...monitors]) t.false(pidAlive(p), `${p} left behind`);
  await t.throwsAsync(fs.stat(c('procs')), { code: 'ENOENT' });
});
