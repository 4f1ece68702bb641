/**
 * Per-process limits (docs/interface.md §4, `run` options): `rlimit.NAME=` of run and create,
 * as the process itself sees them in /proc/self/limits and through `ulimit`; a container's
 * defaults, a run's override, refusals that run nothing, and defaults kept across a restart.
 */
import test, { type ExecutionContext } from 'ava';
import { promises as fs } from 'node:fs';
import { Tree } from '../helpers/tree.js';

/** Write one message with one write(); the errno code of its refusal, or 'ok'. */
async function refusal(file: string, message: string): Promise<string> {
  try {
    await fs.writeFile(file, message + '\n');
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/** Whether this test (and so the daemon it starts) has CAP_SYS_RESOURCE, which raising a hard limit needs. */
async function canRaise(): Promise<boolean> {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(await fs.readFile('/proc/self/status', 'utf8'))![1]!;
  return ((BigInt(`0x${eff}`) >> 24n) & 1n) === 1n;
}

/** The test's own hard limit of open files (the daemon inherits it). */
async function ownHardNofile(): Promise<string> {
  const line = (await fs.readFile('/proc/self/limits', 'utf8')).split('\n').find((l) => l.startsWith('Max open files'))!;
  return line.slice(26).trim().split(/\s+/)[1]!;
}

const tree = new Tree('rlimits');
test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create rl rlimit.nofile=512:2048 rlimit.core=0 rlimit.nproc=300');
});
test.after.always(async () => {
  await tree.cleanup();
});

const ctl = () => tree.p('containers', 'rl', 'ctl');

/** Run a command in the container and return its stdout once it has ended. */
async function output(message: string): Promise<string> {
  const id = await tree.ctl(ctl(), message);
  t_assertId(id);
  const status = (await fs.readFile(tree.p('procs', 'rl', id, 'wait'), 'utf8')).trim();
  const out = await fs.readFile(tree.p('procs', 'rl', id, 'stdout'), 'utf8');
  if (status !== 'exited 0') throw new Error(`${message}: ${status}: ${out} ${await fs.readFile(tree.p('procs', 'rl', id, 'stderr'), 'utf8')}`);
  return out;
}

function t_assertId(id: string): void {
  if (!/^\d+$/.test(id)) throw new Error(`run did not return an id: ${id}`);
}

/**
 * RLIMIT_NOFILE as runc 1.1.5 (Debian 12) leaves it: the hard limit always as asked; the soft
 * one as asked, except when runc's parent sets the exec's limits (prlimit) before the Go
 * runtime of `runc init` has raised its own soft nofile to the hard one (Go 1.19+ does so at
 * start): then soft = hard. A race of runc's, seen in 2 of about 10 full runs here; logged,
 * not hidden (docs/processes.md, "rlimits").
 */
function nofile(t: ExecutionContext, got: string[] | undefined, soft: string, hard: string): void {
  t.is(got?.[1], hard, 'hard nofile as asked');
  if (got?.[0] !== soft) {
    t.is(got?.[0], hard, 'soft nofile as asked, or raised to the hard one by runc 1.1.5\'s race');
    t.log(`runc raised the soft nofile to the hard one (${got?.[0]}): its rlimit race`);
  }
}

/** /proc/self/limits of a process as name → [soft, hard] ("Max open files" → ['512', '2048']). */
function limitsOf(text: string): Map<string, [string, string]> {
  const m = new Map<string, [string, string]>();
  for (const line of text.split('\n').slice(1)) {
    const r = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (r) m.set(r[1]!, [r[2]!, r[3]!]);
  }
  return m;
}

test.serial('the container defaults reach every run: /proc/self/limits and ulimit inside', async (t) => {
  const limits = limitsOf(await output('run cat /proc/self/limits'));
  nofile(t, limits.get('Max open files'), '512', '2048');
  t.deepEqual(limits.get('Max core file size'), ['0', '0']);
  t.deepEqual(limits.get('Max processes'), ['300', '300']);
  const [soft, hard] = (await output("run sh -c 'ulimit -n; ulimit -Hn'")).trim().split('\n');
  nofile(t, [soft!, hard!], '512', '2048');
});

test.serial("a run's value overrides the container's, both halves; others stay the container's", async (t) => {
  const limits = limitsOf(await output('run rlimit.nofile=100 rlimit.stack=unlimited rlimit.fsize=1048576:unlimited cat /proc/self/limits'));
  t.deepEqual(limits.get('Max open files'), ['100', '100']);
  t.deepEqual(limits.get('Max stack size'), ['unlimited', 'unlimited']);
  t.deepEqual(limits.get('Max file size'), ['1048576', 'unlimited']);
  t.deepEqual(limits.get('Max processes'), ['300', '300']);
  // The limit is in force: a file larger than fsize cannot be written (SIGXFSZ or EFBIG).
  const id = await tree.ctl(ctl(), "run rlimit.fsize=4096 sh -c 'dd if=/dev/zero of=/tmp/big bs=1024 count=8 2>/dev/null; wc -c < /tmp/big'");
  await fs.readFile(tree.p('procs', 'rl', id, 'wait'), 'utf8');
  const sz = await fs.stat(tree.p('rootfs', 'rl', 'tmp', 'big'));
  t.is(sz.size, 4096);
});

test.serial('refused values are EINVAL with the reason, and nothing runs', async (t) => {
  const before = (await fs.readdir(tree.p('procs', 'rl'))).sort();
  const cases: Array<[string, RegExp]> = [
    ['run rlimit.nofile=4096:1024 true', /the soft limit 4096 is above the hard limit 1024/],
    ['run rlimit.nofiles=10 true', /unknown rlimit "nofiles": want one of as core cpu/],
    ['run rlimit.nofile=lots true', /bad rlimit.nofile "lots": want a number/],
    ['run rlimit.cpu=1:2:3 true', /bad rlimit.cpu "1:2:3"/],
    ['run rlimit.nofile=unlimited true', /above what the host allows \(\d+, fs.nr_open\)/],
    ['run rlimit.nofile=1:99999999999 true', /the hard limit 99999999999 is above what the host allows/],
    ['run rlimit.nofile=2 true', /too few to start a process/],
    ['run rlimit.as=99999999999999999999 true', /at most 9007199254740991/],
  ];
  const own = await ownHardNofile();
  if (!(await canRaise()) && own !== 'unlimited') {
    // Without CAP_SYS_RESOURCE the kernel refuses to raise a hard limit: refused first, with the reason.
    cases.push([`run rlimit.nofile=${Number(own) + 1} true`, new RegExp(`the hard limit ${Number(own) + 1} is above the daemon's own \\(${own}\\)`)]);
  }
  for (const [message, why] of cases) {
    t.is(await refusal(ctl(), message), 'EINVAL', message);
    const events = await fs.readFile(tree.p('containers', 'rl', 'events'), 'utf8');
    t.regex(events.trimEnd().split('\n').pop()!, why, message);
  }
  t.deepEqual((await fs.readdir(tree.p('procs', 'rl'))).sort(), before);
  // At create: the same refusals, and no container is made.
  t.is(await refusal(tree.p('ctl'), 'create rlbad rlimit.nofile=9:8'), 'EINVAL');
  t.false((await fs.readdir(tree.p('containers'))).includes('rlbad'));
  t.regex((await fs.readFile(tree.p('events'), 'utf8')).trimEnd().split('\n').pop()!, /soft limit 9 is above the hard limit 8/);
});

test.serial('a hard limit above the daemon\'s own is given when the daemon may raise it', async (t) => {
  if (!(await canRaise())) {
    t.pass('no CAP_SYS_RESOURCE here: the refusal is checked above');
    return;
  }
  const limits = limitsOf(await output('run rlimit.nofile=65536 rlimit.nproc=unlimited cat /proc/self/limits'));
  t.deepEqual(limits.get('Max open files'), ['65536', '65536']);
  t.deepEqual(limits.get('Max processes'), ['unlimited', 'unlimited']);
});

test.serial('the container defaults are kept across a daemon restart', async (t) => {
  await tree.stop();
  await tree.start();
  const limits = limitsOf(await output('run cat /proc/self/limits'));
  nofile(t, limits.get('Max open files'), '512', '2048');
  t.deepEqual(limits.get('Max processes'), ['300', '300']);
});
