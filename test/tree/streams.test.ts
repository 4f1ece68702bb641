/**
 * Reads that can end while a process runs (issue 20.6): O_NONBLOCK, stdout.now/stderr.now;
 * writers blocked on stdin count against the blocked-reader bound (issue 11.6); procs/:
 * .running, rm -r procs/ID, retention of ended processes (issue 20.10).
 */
import test from 'ava';
import { promises as fs, constants as C } from 'node:fs';
import { spawn } from 'node:child_process';
import { Tree } from '../helpers/tree.js';
import { sleep } from '../helpers/host.js';
import { KEEP_ENDED } from '../../src/core/processes.js';

const tree = new Tree('streams');
/** A second tree where only one reader (or writer) may wait at a time. */
const bound = new Tree('streamsb', { args: ['--max-blocked-readers', '1'] });
test.before(async () => {
  await Promise.all([tree.start(), bound.start()]);
});
test.after.always(async () => {
  await Promise.all([tree.cleanup(), bound.cleanup()]);
});

async function container(t: Tree, name: string): Promise<{ c: (...p: string[]) => string; run: (msg: string) => Promise<string> }> {
  await t.ctl(t.p('ctl'), `create ${name}`);
  const c = (...p: string[]) => t.p('containers', name, ...p);
  return { c, run: (msg) => t.ctl(c('ctl'), `run ${msg}`) };
}

async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('O_NONBLOCK: what is there, then EAGAIN at the end of a running process; EOF once it ended', async (t) => {
  const { c, run } = await container(tree, 'nonblock');
  const id = await run(`sh -c 'echo first; echo oops >&2; sleep 1000'`);
  const out = c('procs', id, 'stdout');
  await until('output', async () => (await fs.stat(out)).size === 6);
  const fh = await fs.open(out, C.O_RDONLY | C.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(100);
    t.is((await fh.read(buf, 0, 100, 0)).bytesRead, 6);
    const started = Date.now();
    await t.throwsAsync(fh.read(buf, 0, 100, 6), { code: 'EAGAIN' });
    t.true(Date.now() - started < 1000);
  } finally {
    await fh.close();
  }
  // dd iflag=nonblock: the output so far, then an error instead of waiting
  const r = await tree.sh(`timeout 5 dd if="${out}" iflag=nonblock bs=64k status=none`);
  t.is(r.stdout, 'first');
  t.not(r.exitCode, 124, 'dd did not block');
  t.regex(r.stderr, /Resource temporarily unavailable/);
  // wait with O_NONBLOCK: EAGAIN while it runs
  const w = await fs.open(c('procs', id, 'wait'), C.O_RDONLY | C.O_NONBLOCK);
  await t.throwsAsync(w.read(Buffer.alloc(10), 0, 10, 0), { code: 'EAGAIN' });
  await w.close();
  await fs.writeFile(c('procs', id, 'ctl'), 'kill KILL\n');
  t.is(await fs.readFile(c('procs', id, 'wait'), 'utf8'), 'killed KILL\n');
  const r2 = await tree.sh(`timeout 5 dd if="${out}" iflag=nonblock bs=64k status=none`);
  t.is(r2.exitCode, 0, r2.stderr);
  t.is(r2.stdout, 'first');
});

test('stdout.now and stderr.now: the output so far, then EOF, while the process runs', async (t) => {
  const { c, run } = await container(tree, 'now');
  const id = await run(`sh -c 'for i in 1 2 3 4 5; do echo line $i; done; echo err >&2; sleep 1000'`);
  const p = (f: string) => c('procs', id, f);
  await until('output', async () => (await fs.stat(p('stderr'))).size === 4);
  t.deepEqual((await fs.readdir(c('procs', id))).filter((f) => f.endsWith('.now')).sort(), ['stderr.now', 'stdout.now']);
  const all = 'line 1\nline 2\nline 3\nline 4\nline 5\n';
  for (const [cmd, want] of [
    [`cat "${p('stdout.now')}"`, all.trimEnd()],
    [`wc -l < "${p('stdout.now')}"`, '5'],
    [`head -c 1000 "${p('stdout.now')}"`, all.trimEnd()],
    [`tail -n 2 "${p('stdout.now')}"`, 'line 4\nline 5'],
    [`cat "${p('stderr.now')}"`, 'err'],
  ] as const) {
    const started = Date.now();
    const r = await tree.sh(`timeout 5 ${cmd}`);
    t.is(r.exitCode, 0, `${cmd}: ${r.stderr}`);
    t.is(r.stdout.trim(), want, cmd);
    t.true(Date.now() - started < 2000, `${cmd} returned at once`);
  }
  // the plain stream still waits (cat is still blocked after a second)
  const r = await tree.sh(`timeout 1 cat "${p('stdout')}"`);
  t.is(r.exitCode, 124);
  t.is(r.stdout, all.trimEnd());
  await t.throwsAsync(fs.writeFile(p('stdout.now'), 'x'), { code: 'EPERM' });
  await fs.writeFile(p('ctl'), 'kill KILL\n');
  await fs.readFile(p('wait'));
  t.is(await fs.readFile(p('stdout.now'), 'utf8'), all);
});

test('a writer blocked on a full stdin holds a place of the blocked-reader bound', async (t) => {
  const { c, run } = await container(bound, 'stdinbound');
  const sink = await run('id=sink sleep 1000'); // never reads its stdin
  const quiet = await run('id=quiet sleep 1000'); // never writes
  // fill the 64 KiB pipe and block: dd writes 4 × 64 KiB
  const dd = spawn('dd', ['if=/dev/zero', `of=${c('procs', sink, 'stdin')}`, 'bs=65536', 'count=4', 'status=none'], { stdio: 'ignore' });
  const ddExit = new Promise<number | null>((resolve) => dd.once('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
  await sleep(1000);
  t.is(dd.exitCode, null, 'dd is blocked');
  // the only place is taken by the writer: a reader that would wait is refused at once
  const r = await bound.sh(`timeout 5 cat "${c('procs', quiet, 'stdout')}"`);
  t.not(r.exitCode, 124);
  t.regex(r.stderr, /Resource temporarily unavailable/);
  // interrupting the writer gives its place back
  dd.kill('SIGKILL');
  t.is(await Promise.race([ddExit, sleep(3000).then(() => 'stuck')]), -1);
  await sleep(200);
  const r2 = await bound.sh(`timeout 1 cat "${c('procs', quiet, 'stdout')}"`);
  t.is(r2.exitCode, 124, r2.stderr);
  await fs.writeFile(c('ctl'), 'stop 1\n');
});

test('procs/.running lists the running ids; rm -rf procs/ID removes an ended process and refuses a running one', async (t) => {
  const { c, run } = await container(tree, 'rmr');
  const a = await run('id=a sleep 1000');
  const b = await run('id=b true');
  await fs.readFile(c('procs', b, 'wait'));
  t.is(await fs.readFile(c('procs', '.running'), 'utf8'), 'a\n');
  t.deepEqual(await fs.readdir(c('procs')), ['a', 'b'], 'not listed: the listing stays the ids');
  // running: every unlink is refused, the directory stays whole
  let r = await tree.sh(`rm -rf "${c('procs', a)}"`);
  t.not(r.exitCode, 0);
  t.regex(r.stderr, /busy/i);
  t.true((await fs.readdir(c('procs', a))).includes('stdout'));
  t.is(await fs.readFile(c('procs', a, 'status'), 'utf8'), 'running\n');
  // ended: gone, like rmdir
  r = await tree.sh(`rm -rf "${c('procs', b)}"`);
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(await fs.readdir(c('procs')), ['a']);
  r = await tree.sh(`rm -r "${c('procs', a)}" < /dev/null`);
  t.not(r.exitCode, 0);
  await fs.writeFile(c('procs', a, 'ctl'), 'kill KILL\n');
  await fs.readFile(c('procs', a, 'wait'));
  t.is(await fs.readFile(c('procs', '.running'), 'utf8'), '');
  r = await tree.sh(`rm -r "${c('procs', a)}" < /dev/null`);
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(await fs.readdir(c('procs')), []);
  // synthetic files elsewhere still refuse unlink
  await t.throwsAsync(fs.unlink(c('status')), { code: 'EPERM' });
  await t.throwsAsync(fs.unlink(c('procs', '.running')), { code: 'EPERM' });
});

test(`the last ${KEEP_ENDED} ended processes are kept; running ones always`, async (t) => {
  t.timeout(180_000);
  const { c, run } = await container(tree, 'keep');
  await run('id=long sleep 1000');
  const n = KEEP_ENDED + 5;
  for (let i = 1; i <= n; i++) {
    const id = await run(`id=p${i} true`);
    await fs.readFile(c('procs', id, 'wait'));
  }
  await sleep(300);
  const ids = await fs.readdir(c('procs'));
  t.is(ids.length, KEEP_ENDED + 1);
  t.true(ids.includes('long'));
  for (let i = 1; i <= 5; i++) t.false(ids.includes(`p${i}`), `p${i} forgotten`);
  t.true(ids.includes('p6') && ids.includes(`p${n}`));
  t.is((await tree.status('keep')).processes, `1 running, ${KEEP_ENDED} ended`);
  const dirs = await fs.readdir(`${tree.state}/containers/keep/procs`);
  t.false(dirs.includes('p1'), 'its files are gone from the state dir');
});
