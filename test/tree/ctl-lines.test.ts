/**
 * A ctl message is a line, not a write() (issue 11.3, docs/security.md §3): long quoted
 * values split by the kernel (128 KiB) or by a shell (bash flushes in pieces) run as one
 * message, a message over 1 MiB is refused whole, read-after-write and `echo -n` still work.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Tree } from '../helpers/tree.js';
import { pidAlive, sleep } from '../helpers/host.js';
import { execa } from 'execa';

const tree = new Tree('ctllines');
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

/** Boundaries where a writer's pieces end: pages, bash's buffer, the kernel's max_write. */
const BOUNDARIES = [4096, 8192, 12288, 65536, 131072, 135168, 262144, 266240, 393216];

/**
 * `run id=ID printf %s 'ARG1' 'ARG2' …`: several quoted arguments (execve takes at most
 * 128 KiB per argument) of ~100 KiB each, with `''stop` placed so that a piece boundary
 * falls between the two quotes at every offset of BOUNDARIES and every 1000 bytes besides.
 * A parser that took each piece as a message would end a piece at a closing quote and run
 * `stop'…` as the next one. Returns the message (no newline) and what printf prints.
 */
function bigRun(id: string): { message: string; output: string } {
  let message = `run id=${id} printf %s`;
  let output = '';
  const cuts = new Set(BOUNDARIES);
  for (let arg = 0; arg < 4; arg++) {
    message += " '";
    const argEnd = message.length + 100_000;
    while (message.length < argEnd) {
      const next = message.length + 1; // offset just past the quote we would add now
      if (cuts.has(next) || next % 1000 === 0) {
        message += "''stop";
        output += "'stop";
      } else {
        const ch = String.fromCharCode(97 + (message.length % 26));
        message += ch;
        output += ch;
      }
    }
    message += "'";
  }
  for (const b of BOUNDARIES) if (b < message.length) {
    if (message.slice(b - 1, b + 1) !== "''") throw new Error(`no '' across ${b}`);
  }
  return { message, output };
}

async function container(name: string): Promise<(...p: string[]) => string> {
  await tree.ctl(tree.p('ctl'), `create ${name}`);
  return (...p: string[]) => tree.p('containers', name, ...p);
}

async function checkOneRun(t: import('ava').ExecutionContext, c: (...p: string[]) => string, id: string, output: string, before: string[]): Promise<void> {
  t.is(await fs.readFile(c('procs', id, 'wait'), 'utf8'), 'exited 0\n');
  const out = await fs.readFile(c('procs', id, 'stdout'), 'utf8');
  t.is(out.length, output.length);
  t.true(out === output, 'printf received the exact arguments');
  t.deepEqual((await fs.readdir(c('procs'))).filter((x) => !before.includes(x)), [id], 'exactly one new process');
  const events = await fs.readFile(c('events'), 'utf8');
  t.notRegex(events, /^error:/m);
}

test("one write() of ~400 KiB (split by the kernel at 128 KiB) with '' across every boundary is one message", async (t) => {
  const c = await container('onewrite');
  t.is(await tree.ctl(c('ctl'), 'run id=sentinel sleep 1000'), 'sentinel');
  const pid = Number(await fs.readFile(c('procs', 'sentinel', 'pid'), 'utf8'));
  const before = await fs.readdir(c('procs'));
  const { message, output } = bigRun('big');
  t.true(message.length > 400_000);
  t.is(await tree.ctl(c('ctl'), message), 'big');
  await checkOneRun(t, c, 'big', output, before);
  t.is(await fs.readFile(c('procs', 'sentinel', 'status'), 'utf8'), 'running\n', 'no stop happened');
  t.true(pidAlive(pid));
});

test("bash's echo (written in pieces) of the same message is one message too", async (t) => {
  const c = await container('bashecho');
  t.is(await tree.ctl(c('ctl'), 'run id=sentinel sleep 1000'), 'sentinel');
  const before = await fs.readdir(c('procs'));
  const { message, output } = bigRun('viabash');
  const file = path.join(tree.base, 'bigmsg');
  await fs.writeFile(file, message);
  const r = await tree.sh(`bash -c 'msg=$(cat "$0"); echo "$msg" > "$1"' "${file}" "${c('ctl')}"`);
  t.is(r.exitCode, 0, r.stderr);
  await checkOneRun(t, c, 'viabash', output, before);
  t.is(await fs.readFile(c('procs', 'sentinel', 'status'), 'utf8'), 'running\n', 'no stop happened');
});

test('a message over 1 MiB is refused whole: EINVAL, an events line, nothing runs', async (t) => {
  const c = await container('huge');
  t.is(await tree.ctl(c('ctl'), 'run id=sentinel sleep 1000'), 'sentinel');
  const before = await fs.readdir(c('procs'));
  // Eleven arguments of 100,000 bytes: over 1 MiB in all; each piece alone would be a valid run.
  const args = Array.from({ length: 11 }, () => `'${'x'.repeat(99_998)}'`).join(' ');
  const message = `run id=huge echo ${args}\n`;
  // writeFile writes on until everything is written (one write() of it is cut short at 1 MiB by the kernel)
  const code = await fs.writeFile(c('ctl'), message).then(() => 'written', (e: NodeJS.ErrnoException) => e.code);
  t.is(code, 'EINVAL');
  // through a shell, in pieces, with a closing stop after the over-long part
  const file = path.join(tree.base, 'hugemsg');
  await fs.writeFile(file, `run id=huge2 echo ${args} ''stop'`);
  const r = await tree.sh(`bash -c 'msg=$(cat "$0"); echo "$msg" > "$1"' "${file}" "${c('ctl')}"`);
  t.not(r.exitCode, 0);
  t.regex(r.stderr, /Invalid argument/);
  await sleep(200);
  t.deepEqual(await fs.readdir(c('procs')), before, 'nothing ran');
  const errors = (await fs.readFile(c('events'), 'utf8')).split('\n').filter((l) => l.startsWith('error:'));
  t.deepEqual(errors, [
    'error: message too long: more than 1048576 bytes in one line',
    'error: message too long: more than 1048576 bytes in one line',
  ]);
  t.is(await fs.readFile(c('procs', 'sentinel', 'status'), 'utf8'), 'running\n', 'no stop happened');
  // the ctl works as before afterwards
  t.is(await tree.ctl(c('ctl'), 'run id=after true'), 'after');
});

test('echo -n without a newline runs at close; read-after-write; a read completes an unterminated line', async (t) => {
  let r = await tree.sh('echo -n "create nonl" > $M/ctl && cat $M/containers/nonl/status | head -1');
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'name: nonl');
  r = await tree.sh('exec 3<>$M/ctl; echo create >&3; read name <&3; echo "$name"');
  t.regex(r.stdout, /^c-[0-9a-f]{6}$/);
  r = await tree.sh(`exec 3<>$M/ctl; printf 'create rd' >&3; read name <&3; echo "$name"`);
  t.is(r.stdout, 'rd');
  // a line in several writes on one open file is one message (one redirection: the descriptor is closed once, at the end)
  r = await tree.sh(`exec 3<>$M/ctl; { printf 'crea'; printf 'te two'; printf 'parts\\n'; } >&3; read name <&3; echo "$name"`);
  t.is(r.stdout, 'twoparts');
  // each close() of a descriptor of the open file ends an unterminated line: a `>&3` per command closes a dup each time
  r = await tree.sh(`exec 3<>$M/ctl; printf 'create three' >&3; printf 'parts' >&3; read name <&3; echo "$name"`);
  t.is(r.stdout, 'error: unknown message "parts"');
  t.true(await fs.stat(tree.p('containers', 'three')).then(() => true, () => false));
  // a failure at close is close()'s error and an events line
  r = await tree.sh('printf "frob" > $M/ctl');
  t.regex(await fs.readFile(tree.p('events'), 'utf8'), /^error: unknown message "frob"$/m);
});

test('a failed message drops the rest of its line: its tail never runs as a message', async (t) => {
  const c = await container('dropped');
  t.is(await tree.ctl(c('ctl'), 'run id=sentinel sleep 1000'), 'sentinel');
  const fh = await fs.open(c('ctl'), 'r+');
  try {
    await t.throwsAsync(fh.write("frob\nrun id=x echo 'half"), { code: 'EINVAL' });
    await fh.write("''stop'\n"); // the rest of the dropped line
    await fh.write('run id=y true\n');
  } finally {
    await fh.close();
  }
  t.deepEqual(await fs.readdir(c('procs')), ['sentinel', 'y']);
  t.is(await fs.readFile(c('procs', 'sentinel', 'status'), 'utf8'), 'running\n');
});

test('double quotes: the usage text says so, a failed message holding one says so', async (t) => {
  const c = await container('dq');
  t.regex(await fs.readFile(c('ctl'), 'utf8'), /double quotes are ordinary characters/);
  t.regex(await fs.readFile(tree.p('ctl'), 'utf8'), /'single quotes' group/);
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run "/bin/true"\n'), { code: 'ENOENT' });
  t.regex(await fs.readFile(c('events'), 'utf8'), /^error: cannot run .*\(double quotes are literal characters: quote with '\.\.\.' \(Plan 9 rules\)\)$/m);
  const id = await tree.ctl(c('ctl'), 'run echo "a b"');
  t.is(await fs.readFile(c('procs', id, 'wait'), 'utf8'), 'exited 0\n');
  t.is(await fs.readFile(c('procs', id, 'stdout'), 'utf8'), '"a b"\n');
});

/**
 * A writer that forks while a line is half written (issue 11.3): the child's copy of the
 * descriptor is closed at its exec (O_CLOEXEC) or its exit, and the kernel sends FLUSH for
 * it. Opens ctl, writes the first half of a line, forks a child that execs /bin/true (MODE
 * exec: the descriptor is O_CLOEXEC) or exits at once (MODE exit: inherited), waits for it,
 * writes the rest (no newline) and closes.
 */
const FORK_WRITER = `
import os, sys
ctl, mode, first, rest = sys.argv[1:5]
fd = os.open(ctl, os.O_WRONLY | os.O_CLOEXEC)
if mode == 'exit':
    os.set_inheritable(fd, True)
os.write(fd, first.encode())
pid = os.fork()
if pid == 0:
    if mode == 'exec':
        os.execv('/bin/true', ['/bin/true'])
    os._exit(0)
os.waitpid(pid, 0)
os.write(fd, rest.encode())
os.close(fd)
`;

for (const mode of ['exec', 'exit'] as const) {
  test(`a child forked in the middle of a line (${mode}) does not end it: one message, whole`, async (t) => {
    const c = await container(`fork${mode}`);
    const before = await fs.readdir(c('procs'));
    const r = await execa('python3', ['-c', FORK_WRITER, c('ctl'), mode, "run id=whole printf %s 'first ''half", " second half'"], { reject: false });
    t.is(r.exitCode, 0, r.stderr);
    t.is(await fs.readFile(c('procs', 'whole', 'wait'), 'utf8'), 'exited 0\n');
    t.is(await fs.readFile(c('procs', 'whole', 'stdout'), 'utf8'), "first 'half second half");
    t.deepEqual((await fs.readdir(c('procs'))).filter((x) => !before.includes(x)), ['whole'], 'exactly one new process');
    t.notRegex(await fs.readFile(c('events'), 'utf8'), /^error:/m);
  });
}

test("a child's close ends the line only when the child wrote some of it", async (t) => {
  // fd 1 is a dup of the ctl descriptor while the line is written: a redirection in the shell
  // itself would close a dup of it (a writer's close, which ends the line), so the shell
  // reports through a subshell (a child that closes its own copies and never writes)
  // a child that writes (a subshell's printf) ends the line at its close
  let r = await tree.sh(`exec 3>$M/ctl 4>&1 1>&3; printf 'create chi'; (printf 'ld'); [ -d $M/containers/child ] && (echo yes >&4); exec 1>&4`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'yes');
  // a child that only inherited the descriptor (an external command, a subshell) does not: the line ends at the writer's own close
  r = await tree.sh(`exec 3>$M/ctl 4>&1 1>&3; printf 'create par'; /bin/true; [ -d $M/containers/par ] || (echo notyet >&4); printf 'ent'; exec 1>&4 3>&-; [ -d $M/containers/parent ] && echo yes`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'notyet\nyes');
  t.false(await fs.stat(tree.p('containers', 'par')).then(() => true, () => false));
  t.notRegex(await fs.readFile(tree.p('events'), 'utf8'), /^error: .*"(par|ent)"/m);
});
