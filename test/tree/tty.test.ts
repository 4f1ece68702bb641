/**
 * A terminal inside a container (docs/interface.md §4 run tty=1, §5.4 winsize, §2 attach and
 * exec): what the process sees, what stdout carries, resizing, a human at a real pty
 * (test/fixtures/ptydrive.py plays one), and a daemon restart under a running terminal.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Tree, CLI, PROJECT } from '../helpers/tree.js';
import { pidAlive, sleep } from '../helpers/host.js';

const tree = new Tree('tty');
test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create tt');
});
test.after.always(async () => {
  await tree.cleanup();
});

const c = (...p: string[]) => tree.p('containers', 'tt', ...p);
const run = (m: string) => tree.ctl(c('ctl'), `run ${m}`);
const read = (id: string, f: string) => fs.readFile(c('procs', id, f), 'utf8');
const type = (id: string, keys: string) => fs.writeFile(c('procs', id, 'stdin'), keys);

/** Wait until the process's stdout matches (the terminal's output is copied as it comes). */
async function until(id: string, re: RegExp, ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const out = await read(id, 'stdout.now'); // what there is now (stdout would wait for more)
    if (re.test(out)) return out;
    if (Date.now() > deadline) throw new Error(`stdout of ${id} never matched ${re}: ${JSON.stringify(out)}`);
    await sleep(50);
  }
}

const DRIVE = path.join(PROJECT, 'test/fixtures/ptydrive.py');
type Step = ['expect', string, number] | ['send', string] | ['resize', number, number];
/** A human at a terminal of rows x cols running `wardenfs ARGS`. */
function human(rows: number, cols: number, steps: Step[], args: string[]) {
  return execa('python3', [DRIVE, String(rows), String(cols), JSON.stringify(steps), '--', process.execPath, CLI, ...args], { reject: false, timeout: 60_000 });
}

test('tty=1: the process has a terminal of the asked size; without it, none', async (t) => {
  const id = await run(`tty=1 rows=30 cols=100 -- sh -c 'tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-three'`);
  t.is(await read(id, 'wait'), 'exited 0\n');
  const out = await read(id, 'stdout');
  t.regex(out, /^\/dev\/pts\/\d+\r\n30 100\r\nall-three\r\n$/, 'the terminal turns \\n into \\r\\n, as a terminal does');
  t.is(await read(id, 'stderr'), '', 'stderr is the runtime\'s alone: the program\'s stderr is the terminal');
  t.is(await read(id, 'winsize'), '30 100\n');
  const plain = await run(`sh -c 'tty; echo $?'`);
  t.is(await read(plain, 'wait'), 'exited 0\n');
  t.is(await read(plain, 'stdout'), 'not a tty\n1\n');
  await t.throwsAsync(fs.readFile(c('procs', plain, 'winsize')), { code: 'ENOENT' }, 'no winsize without a terminal');
  // the default size
  const d = await run(`tty=1 stty size`);
  t.is(await read(d, 'wait'), 'exited 0\n');
  t.is(await read(d, 'stdout'), '24 80\r\n');
});

test.serial('bad tty options are refused and change nothing', async (t) => {
  const before = await fs.readdir(c('procs'));
  for (const m of ['tty=2 sh', 'tty=1 rows=0 sh', 'tty=1 cols=1001 sh', 'rows=10 sh', 'tty=1 rows=x sh']) {
    await t.throwsAsync(fs.writeFile(c('ctl'), `run ${m}\n`), { code: 'EINVAL' }, m);
  }
  t.regex(await fs.readFile(c('events'), 'utf8'), /^error: rows= and cols= need tty=1$/m);
  // a program that is not there: the runtime's answer, as without a terminal
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run tty=1 /no/such/program\n'), { code: 'ENOENT' });
  t.regex(await fs.readFile(c('events'), 'utf8'), /^error: cannot run "\/no\/such\/program": .*no such file or directory/m);
  t.deepEqual(await fs.readdir(c('procs')), before);
});

test('stdin takes keystrokes, winsize resizes live (SIGWINCH inside), bad sizes are refused', async (t) => {
  // the signal interrupts `read`, the trap runs, the loop reads on
  const id = await run(`tty=1 rows=10 cols=40 -- sh -c 'trap "stty size" WINCH; echo ready; while :; do read l && echo "got $l"; done'`);
  await until(id, /ready/);
  await type(id, 'hello\r');
  await until(id, /got hello\r\n/);
  await fs.writeFile(c('procs', id, 'winsize'), '33 77\n');
  t.is(await read(id, 'winsize'), '33 77\n');
  await until(id, /33 77\r\n/);
  await type(id, 'x\r');
  await until(id, /got x\r\n/);
  for (const bad of ['0 10', '10', '10 20 30', 'a b', '1001 5']) {
    await t.throwsAsync(fs.writeFile(c('procs', id, 'winsize'), bad + '\n'), { code: 'EINVAL' }, bad);
  }
  t.is(await read(id, 'winsize'), '33 77\n');
  // Ctrl-C through stdin is the terminal's interrupt
  await type(id, '\x03');
  t.is(await read(id, 'wait'), 'killed INT\n');
  await t.throwsAsync(fs.writeFile(c('procs', id, 'winsize'), '20 20\n'), { code: 'EINVAL' }, 'not running any more');
});

test('closein types Ctrl-D: a program reading its input ends', async (t) => {
  const id = await run(`tty=1 -- sh -c 'cat; echo done'`);
  await type(id, 'line\r');
  await until(id, /line\r\nline\r\n/); // the terminal's echo, then cat's copy
  await fs.writeFile(c('procs', id, 'ctl'), 'closein\n');
  t.is(await read(id, 'wait'), 'exited 0\n');
  t.regex(await read(id, 'stdout'), /done\r\n$/);
  await t.throwsAsync(type(id, 'more'), { code: 'EPIPE' });
});

test('a full-screen program: its screen reaches stdout, keys drive it', async (t) => {
  const id = await run(`tty=1 rows=12 cols=50 -- vi /tmp/screen.txt`);
  const screen = await until(id, /\x1b\[/); // it draws with escape sequences
  t.regex(screen, /~/, 'the empty lines of vi');
  await type(id, 'ihello from vi');
  await until(id, /hello from vi/);
  await type(id, '\x1b'); // alone: vi waits a moment after ESC for the rest of a key's sequence
  await sleep(300);
  await type(id, ':wq\r');
  t.is(await read(id, 'wait'), 'exited 0\n');
  const check = await run('cat /tmp/screen.txt');
  t.is(await read(check, 'wait'), 'exited 0\n');
  t.is(await read(check, 'stdout'), 'hello from vi\n');
});

test('exec -it: a human at a real pty runs commands, resizes, and gets the status', async (t) => {
  const r = await human(30, 90, [
    ['expect', '# ', 15],
    ['send', 'stty size; echo $((6*7))\r'],
    ['expect', '30 90\\r\\n42', 10],
    ['resize', 33, 101],
    // The resize travels: SIGWINCH to the CLI, its write of winsize, conmon's resize of the
    // container's pty. A `stty size` sent at once may run before it lands: wait for it inside.
    ['send', 'until [ "$(stty size)" = "33 101" ]; do sleep 0.1; done; echo "re""sized $(stty size)"\r'],
    ['expect', 'resized 33 101', 15],
    ['send', 'exit 3\r'],
  ], ['exec', '-it', c(), 'sh']);
  t.is(r.exitCode, 3, r.stderr + r.stdout);
  t.regex(r.stdout, /42/);
  // non-interactive exec: stdout, stderr and the status, stdin to its end
  const p = await execa(process.execPath, [CLI, 'exec', '-i', c(), 'sh', '-c', 'read a; echo "out $a"; echo err >&2; exit 6'], { input: 'x\n', reject: false, timeout: 30_000 });
  t.is(p.exitCode, 6);
  t.is(p.stdout, 'out x');
  t.is(p.stderr, 'err');
});

test('attach: Ctrl-] detaches and the process runs on; attach again and exit with its status', async (t) => {
  const first = await human(24, 80, [
    ['expect', '# ', 15],
    ['send', 'echo one\r'],
    ['expect', 'one\\r\\n', 10],
    ['send', '\x1d'],
  ], ['exec', '-it', c(), 'sh']);
  t.is(first.exitCode, 0, first.stderr);
  // (the human's terminal shows stderr and stdout alike)
  t.regex(first.stdout, /detached: wardenfs attach .* to come back/);
  const id = /attach \S+ (\S+) to come back/.exec(first.stdout)![1]!;
  t.is(await read(id, 'status'), 'running\n');
  // A fresh prompt first: the session is attached before the command is typed.
  const second = await human(24, 80, [
    ['send', '\r'],
    ['expect', '# ', 15],
    ['send', 'echo two\r'],
    ['expect', 'two\\r\\n', 15],
    ['send', 'exit 4\r'],
  ], ['attach', c()]);
  t.is(second.exitCode, 4, second.stderr + second.stdout);
  // bounded: a shell that never got its `exit` must fail the test, not hang the file
  const waited = await execa('timeout', ['20', 'cat', c('procs', id, 'wait')], { reject: false });
  t.is(waited.stdout, 'exited 4');
  // attach with no running terminal: a clear error
  const none = await execa(process.execPath, [CLI, 'attach', c()], { reject: false });
  t.is(none.exitCode, 1);
  t.regex(none.stderr, /no running process with a terminal/);
});

test.serial('a daemon restart under a running terminal: output goes on, exactly once; stdin still reaches it', async (t) => {
  const ticker = await run(`tty=1 -- sh -c 'i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo "tick $i"; sleep 0.1; done; exit 9'`);
  const shell = await run(`tty=1 -- sh`);
  await until(ticker, /tick 3\r\n/);
  const pid = Number(await read(shell, 'pid'));
  await tree.stop('SIGKILL');
  await sleep(2500);
  t.true(pidAlive(pid), 'the terminal outlives the daemon');
  await tree.start();
  t.is(await read(ticker, 'wait'), 'exited 9\n');
  t.is(await read(ticker, 'stdout'), Array.from({ length: 40 }, (_, i) => `tick ${i + 1}\r\n`).join(''), 'nothing lost, nothing twice');
  await type(shell, 'echo after-$((1+1))\r');
  await until(shell, /after-2\r\n/);
  await fs.writeFile(c('procs', shell, 'winsize'), '20 60\n');
  await type(shell, 'stty size; exit 2\r');
  t.is(await read(shell, 'wait'), 'exited 2\n');
  t.regex(await read(shell, 'stdout'), /20 60\r\n/);
});
