/**
 * `wardenfs attach` and `wardenfs exec` (docs/interface.md §2): an interactive session
 * built only on the files of the mounted tree, as any user could write it with cat and
 * echo. The process's `stdout` is read as it grows (a read at its end waits, EOF when the
 * process ends), keystrokes are written to its `stdin`, a resize of the user's terminal is
 * written to its `winsize`, and the session ends with the status read from `wait`.
 *
 * The user's terminal is put in raw mode (every key, Ctrl-C included, goes to the process);
 * Ctrl-] detaches (the process runs on; `wardenfs attach` comes back to it).
 */
import { promises as fs, constants as C } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { quote } from '../ctl/tokenize.js';
import { BadRequest } from '../errors.js';
import { SYSTEM_PATH } from '../util/exec.js';

/** How often a session looks for new output when there is none (an interactive delay at most). */
const POLL_MS = 20;

/** The detach key: Ctrl-] (telnet's escape), as Docker's Ctrl-P Ctrl-Q would take two. */
export const DETACH_KEY = 0x1d;

/** A bad command line (cli.ts prints it with the command's usage from src/usage.ts, exit status 2). */
export class SessionUsage extends BadRequest {
  constructor(message: string, readonly command: 'attach' | 'exec') {
    super(message);
  }
}

/** `exited N` → N, `killed SIG` → 128 + the signal's number (a shell's convention). */
export function exitStatus(waitLine: string): number {
  const t = waitLine.trim();
  const exited = /^exited (\d+)$/.exec(t);
  if (exited) return Number(exited[1]);
  const killed = /^killed (\w+)$/.exec(t);
  if (killed) {
    const n = (os.constants.signals as Record<string, number>)[`SIG${killed[1]}`];
    return 128 + (n ?? 9);
  }
  return 1;
}

/** The size of our terminal, when it has one (a pty nobody sized says 0 0). */
function termSize(out: NodeJS.WriteStream): { rows: number; cols: number } | undefined {
  if (!out.isTTY || !(out.rows > 0) || !(out.columns > 0)) return undefined;
  return { rows: Math.min(out.rows, 1000), cols: Math.min(out.columns, 1000) };
}

/** The container directory named on the command line, checked. */
async function containerDir(arg: string | undefined, command: 'attach' | 'exec'): Promise<string> {
  if (!arg) throw new SessionUsage('want MOUNTPOINT/containers/NAME', command);
  const dir = path.resolve(arg);
  const st = await fs.stat(path.join(dir, 'ctl')).catch(() => undefined);
  if (!st || !(await fs.stat(path.join(dir, 'procs')).catch(() => undefined))) {
    throw new BadRequest(`${arg} is not a container of a mounted tree (MOUNTPOINT/containers/NAME)`);
  }
  return dir;
}

/** The size of the container's events now: a failed write's error line comes after it. */
async function eventsSize(dir: string): Promise<number> {
  return (await fs.stat(path.join(dir, 'events')).catch(() => undefined))?.size ?? 0; // no events: from the start
}

/** The first error line of the container's events after `from`: what a failed ctl write was about. */
async function errorSince(dir: string, from: number): Promise<string | undefined> {
  const fh = await fs.open(path.join(dir, 'events'), C.O_RDONLY | C.O_NONBLOCK).catch(() => undefined); // no events: no detail
  if (!fh) return undefined;
  try {
    const buf = Buffer.alloc(65536);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from).catch(() => ({ bytesRead: 0 })); // nothing more: no detail
    const line = buf.subarray(0, bytesRead).toString().split('\n').find((l) => l.startsWith('error: '));
    return line?.slice('error: '.length);
  } finally {
    await fh.close();
  }
}

interface Io {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

const STD: Io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

/**
 * Copy a stream file of the tree to `out` from `pos` until EOF (the process has ended).
 * Opened O_NONBLOCK (a read at the end of a running stream is EAGAIN, docs/interface.md §5.3)
 * and polled: a read blocked in libuv's pool would hold the CLI's exit after a detach, as
 * libuv joins its pool's threads when the process exits.
 */
async function follow(file: string, pos: number, out: NodeJS.WritableStream, stop: { stopped: boolean }): Promise<void> {
  const fh = await fs.open(file, C.O_RDONLY | C.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(65536);
    for (;;) {
      if (stop.stopped) return;
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(buf, 0, buf.length, pos));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        await new Promise((r) => setTimeout(r, POLL_MS));
        continue;
      }
      if (bytesRead === 0 || stop.stopped) return;
      pos += bytesRead;
      if (!out.write(Buffer.from(buf.subarray(0, bytesRead)))) await new Promise((r) => out.once('drain', r));
    }
  } finally {
    await fh.close();
  }
}

interface SessionOptions {
  procDir: string;
  /** A terminal: raw mode, resize, the detach key. */
  tty: boolean;
  /** Forward our stdin. */
  input: boolean;
  /** Read stdout from its start (a fresh process) rather than from its current end. */
  fromStart: boolean;
  /** MOUNTPOINT/containers/NAME and the process id, for the detach message. */
  container: string;
  id: string;
}

/** Run the session to its end; resolves to the exit status (0 after a detach). */
async function session(o: SessionOptions, io: Io = STD): Promise<number> {
  const stop = { stopped: false };
  let detached!: () => void;
  const detach = new Promise<'detached'>((resolve) => { detached = () => resolve('detached'); });
  const raw = o.tty && io.stdin.isTTY === true;
  const cleanups: Array<() => void> = [];
  try {
    if (raw) {
      io.stdin.setRawMode(true);
      // libuv's raw mode keeps output processing (ONLCR): the process's terminal has made
      // its \r\n already, and ours would show \r\r\n. Off, as cfmakeraw(3) has it; leaving
      // raw mode restores the terminal's settings as they were (all of them).
      spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'], env: { PATH: SYSTEM_PATH } });
      cleanups.push(() => io.stdin.setRawMode(false));
    }
    // The user's terminal size, now (a redraw for a program attached to) and at each change.
    if (o.tty && io.stdout.isTTY) {
      const resize = (): void => {
        const size = termSize(io.stdout);
        if (size) void fs.writeFile(path.join(o.procDir, 'winsize'), `${size.rows} ${size.cols}\n`).catch(() => undefined); // ended meanwhile: the session ends by itself
      };
      resize();
      io.stdout.on('resize', resize);
      cleanups.push(() => io.stdout.off('resize', resize));
    }
    if (o.input) {
      const stdin = await fs.open(path.join(o.procDir, 'stdin'), C.O_WRONLY);
      let chain = Promise.resolve();
      const onData = (d: Buffer): void => {
        let data = d;
        const k = o.tty ? data.indexOf(DETACH_KEY) : -1;
        if (k >= 0) data = data.subarray(0, k);
        if (data.length) {
          const chunk = Buffer.from(data);
          chain = chain.then(() => stdin.write(chunk)).then(() => undefined, () => undefined); // the process ended: its end ends the session
        }
        if (k >= 0) detached();
      };
      const onEnd = (): void => {
        // Without a terminal, the end of our input is the end of the process's (closein).
        if (!o.tty) chain = chain.then(() => fs.writeFile(path.join(o.procDir, 'ctl'), 'closein\n')).catch(() => undefined); // ended already
      };
      io.stdin.on('data', onData);
      io.stdin.on('end', onEnd);
      io.stdin.resume();
      cleanups.push(() => {
        io.stdin.off('data', onData);
        io.stdin.off('end', onEnd);
        io.stdin.pause();
        void stdin.close().catch(() => undefined); // nothing left to say to it
      });
    }
    const start = async (name: string): Promise<number> => (o.fromStart ? 0 : (await fs.stat(path.join(o.procDir, name))).size);
    const outputs = [follow(path.join(o.procDir, 'stdout'), await start('stdout'), io.stdout, stop)];
    // With a terminal, stderr holds only the runtime's own messages: stdout is the screen.
    if (!o.tty) outputs.push(follow(path.join(o.procDir, 'stderr'), await start('stderr'), io.stderr, stop));
    const ended = await Promise.race([Promise.all(outputs).then(() => 'ended' as const), detach]);
    if (ended === 'detached') {
      stop.stopped = true;
      for (const c of cleanups.splice(0).reverse()) c();
      io.stderr.write(`\r\n[detached: wardenfs attach ${o.container} ${o.id} to come back]\r\n`);
      return 0;
    }
    const wait = await fs.readFile(path.join(o.procDir, 'wait'), 'utf8');
    return exitStatus(wait);
  } finally {
    for (const c of cleanups.reverse()) c();
  }
}

/** `wardenfs attach MOUNTPOINT/containers/NAME [ID]`: the process ID, or the last running one with a terminal. */
export async function runAttach(args: string[]): Promise<number> {
  if (args.length < 1 || args.length > 2) throw new SessionUsage(`attach takes a container and an optional process id`, 'attach');
  const dir = await containerDir(args[0], 'attach');
  let id = args[1];
  if (id === undefined) {
    const running = (await fs.readFile(path.join(dir, 'procs', '.running'), 'utf8')).split('\n').filter(Boolean);
    const withTty: string[] = [];
    for (const r of running) if (await fs.stat(path.join(dir, 'procs', r, 'winsize')).catch(() => undefined)) withTty.push(r);
    id = withTty.pop();
    if (id === undefined) throw new BadRequest(`no running process with a terminal in ${args[0]} (run one with tty=1, or name an id)`);
  }
  const procDir = path.join(dir, 'procs', id);
  if (!(await fs.stat(procDir).catch(() => undefined))) throw new BadRequest(`no such process ${JSON.stringify(id)} in ${args[0]}`);
  const tty = (await fs.stat(path.join(procDir, 'winsize')).catch(() => undefined)) !== undefined;
  return session({ procDir, tty, input: true, fromStart: false, container: args[0]!, id });
}

/** `wardenfs exec [-i] [-t] … MOUNTPOINT/containers/NAME [--] PROGRAM [ARG ...]`: run, then a session on it from its start. */
export async function runExec(args: string[]): Promise<number> {
  let input = false;
  let tty = false;
  const opts: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-') || a === '-') break;
    if (a === '--') throw new SessionUsage(`name the container before --`, 'exec');
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new SessionUsage(`${a} needs a value`, 'exec');
      return v;
    };
    if (a === '-e' || a === '--env') opts.push(`env=${value()}`);
    else if (a === '-u' || a === '--user') opts.push(`user=${value()}`);
    else if (a === '-w' || a === '--workdir') opts.push(`dir=${value()}`);
    else if (/^-[it]+$/.test(a)) {
      if (a.includes('i')) input = true;
      if (a.includes('t')) tty = true;
    } else throw new SessionUsage(`unknown option ${a}`, 'exec');
  }
  const named = args[i++];
  const dir = await containerDir(named, 'exec');
  if (args[i] === '--') i++;
  const argv = args.slice(i);
  if (argv.length === 0) throw new SessionUsage(`exec needs a program`, 'exec');
  const words = [...opts, ...argv];
  if (words.some((w) => w.includes('\n') || w.includes('\0'))) throw new BadRequest('a word with a newline or a NUL cannot be sent in a message');
  const size = tty ? (termSize(process.stdout) ?? { rows: 24, cols: 80 }) : undefined;
  const message = ['run', ...opts.map(quote), ...(size ? ['tty=1', `rows=${size.rows}`, `cols=${size.cols}`] : []), '--', ...argv.map(quote)].join(' ') + '\n';
  let id: string;
  const from = await eventsSize(dir);
  const fh = await fs.open(path.join(dir, 'ctl'), 'r+');
  try {
    try {
      await fh.write(message);
    } catch (e) {
      throw new BadRequest((await errorSince(dir, from)) ?? `cannot run ${JSON.stringify(argv[0])}: ${(e as Error).message}`);
    }
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    id = buf.subarray(0, bytesRead).toString().trim();
  } finally {
    await fh.close();
  }
  // -t implies -i: the keys of a terminal go to the process (and Ctrl-] must be read to detach).
  return session({ procDir: path.join(dir, 'procs', id), tty, input: input || tty, fromStart: true, container: named!, id });
}
