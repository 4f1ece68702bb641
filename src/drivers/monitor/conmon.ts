/**
 * Starting a process in a running container so that it outlives the daemon
 * (docs/processes.md has the measurements behind each choice). Without a terminal, under
 * wardenfs's own monitor (own.ts, native/monitor/monitor.c); with a terminal, under
 * Debian's conmon in its terminal mode (startTerminal, terminal.ts). Both leave the same
 * files: `conmon.pid` (the monitor), `pid`, `exit`, `oom`.
 *
 * - the runtime hands the monitor's fds 0/1/2 to the process: it writes straight into
 *   stdout/stderr files opened O_APPEND, never through the daemon, so no byte is lost and
 *   the process never blocks while the daemon is down;
 * - the monitor is the process's subreaper and writes its exit status to `exit`
 *   (atomically) whether the daemon is alive or not;
 * - stdin is a FIFO made here; the monitor holds a second writer on it, so the process
 *   sees no spurious EOF when the daemon dies; `closein` closes the daemon's writer and
 *   has the monitor close its own, and the process reads EOF. Processes started under
 *   conmon by an earlier wardenfs have a holder process instead (endHolder ends it).
 *
 * Nothing here waits by polling a clock when it can wait for an event: the process's pid
 * is awaited with inotify on its directory (runc renames the pid file in).
 */
import { spawn } from 'node:child_process';
import { promises as fs, constants as C, type FSWatcher } from 'node:fs';
import { tryWatch } from '../../util/watch.js';
import path from 'node:path';
import { SystemFailure } from '../../errors.js';
import { SYSTEM_PATH } from '../../util/exec.js';
import { specJson } from '../runtime/spec.js';
import { typedFailure } from '../../util/hostmessages.js';
import { isErrno, READ_NOFOLLOW, APPEND_NOFOLLOW, CREATE_EXCL, readSmallSync } from '../../util/files.js';
import { logger } from '../../util/log.js';
import type { Steps } from '../../util/steps.js';
import { ProcPaths } from './paths.js';
import { isAlive, readPid, readPidSync, aliveWith, cmdline } from './procfs.js';
import { TtyLog, connectAttach, type StdinSink } from './terminal.js';
import { spawnMonitor, releaseHeldWriter } from './own.js';

const log = logger('monitor');

export const CONMON = '/usr/bin/conmon';
/** The stdin holder's program. */
const HOLDER = '/usr/bin/tail';

export interface StartRequest {
  paths: ProcPaths;
  containerId: string;
  /** Unique per process; lets a restarted daemon recognise its conmon in /proc. */
  uuid: string;
  runtimeBinary: string;
  runtimeRoot: string;
  processSpec: Record<string, unknown>;
  /** A terminal (the spec says `terminal: true` with its size): conmon's terminal mode (terminal.ts). */
  tty?: boolean;
  /** The container's OOM counter file (Cgroup.oomFile), for the `oom` marker. */
  oomFile?: string;
  /** Timing of the start's steps (DEBUG=wardenfs:steps). */
  steps?: Steps;
}

export interface Started {
  pid: number;
  conmonPid: number;
  /** The daemon's own writer: on the stdin FIFO (O_NONBLOCK), or the terminal's attach socket (none when the process ended at once). */
  stdin?: StdinSink;
}

/** Spawn conmon and wait for the first conmon to return (it double-forks; the monitor lives on). */
function spawnConmon(args: string[], stdio: Array<number | 'ignore'>, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(CONMON, args, {
      cwd, // conmon writes ./oom here on an OOM kill
      stdio,
      env: { PATH: SYSTEM_PATH, _OCI_SYNCPIPE: '3' },
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      // Its stderr is the process's stderr file: startFailure reads it.
      else reject(new SystemFailure(`conmon failed (${code ?? signal})`, { run: { program: 'conmon', args, exitCode: code ?? undefined, signal: signal ?? undefined, stderr: '' } }));
    });
  });
}

/** Why a start failed, from what runc wrote on the process's stderr. */
async function startFailure(p: ProcPaths, argv0: string): Promise<Error> {
  // Nothing on stderr: the default below says the runtime did not start it.
  const text = (await fs.readFile(p.stderr, { encoding: 'utf8', flag: READ_NOFOLLOW }).catch(() => '')).trim();
  const line = text.split('\n').filter(Boolean).pop() ?? 'the runtime did not start it';
  const detail = line.replace(/^time="[^"]*" level=\w+ msg="?/, '').replace(/"$/, '').replace(/\\"/g, '"');
  // runc names its own config.json, which the user never wrote: say what it means instead.
  const cwd = /chdir to cwd \("(.*)"\) set in config\.json failed: (.*)$/.exec(detail);
  const said = cwd ? `cannot change to the directory ${JSON.stringify(cwd[1])} in the container: ${cwd[2]}` : detail;
  // The errno comes from the one table of known answers (util/hostmessages.ts).
  return typedFailure('runtime', detail, `cannot run ${JSON.stringify(argv0)}: ${said}`);
}

/**
 * Resolves with the pid once runc has written the pid file, or undefined once the monitor
 * has gone without one (a failed exec) or the deadline passed. Woken by inotify on the
 * process's directory (a change while it looked makes it look again at once); a slow timer
 * is only the safety net.
 */
async function waitForPid(p: ProcPaths, alive: () => boolean | Promise<boolean>, deadline: number): Promise<number | undefined> {
  let changed = false;
  let wake: () => void = () => undefined;
  const watcher: FSWatcher | undefined = tryWatch(p.dir, () => { changed = true; wake(); }); // without one (no inotify left, an error), the timer below alone
  try {
    for (;;) {
      changed = false;
      const pid = readPidSync(p.pid); // a few bytes of the state dir: no thread-pool round trip on the start's path
      if (pid) return pid;
      if (!(await alive()) || Date.now() > deadline) {
        return readPid(p.pid); // a short process may have run and ended between the two looks
      }
      if (changed) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 25);
        wake = () => { clearTimeout(timer); resolve(); };
      });
      wake = () => undefined;
    }
  } finally {
    watcher?.close();
  }
}

export async function startProcess(r: StartRequest): Promise<Started> {
  if (r.tty) return startTerminal(r);
  return startMonitored(r);
}

/**
 * A process without a terminal: wardenfs's own monitor (own.ts), which runs the runtime
 * itself and holds the stdin FIFO's second writer.
 */
async function startMonitored(r: StartRequest): Promise<Started> {
  const p = r.paths;
  const argv0 = String((r.processSpec.args as string[])[0]);
  const { monitorPid, writer, running } = await spawnMonitor(r);
  r.steps?.mark('monitor');
  const pid = await waitForPid(p, running, Date.now() + 30_000);
  r.steps?.mark('pid');
  if (!pid) {
    await writer.close();
    if (await isAlive(monitorPid)) killQuietly(monitorPid); // past the deadline: a failed run leaves nothing running
    throw await startFailure(p, argv0);
  }
  log('started %s in %s: pid %d, monitor %d', argv0, r.containerId, pid, monitorPid);
  return { pid, conmonPid: monitorPid, stdin: writer };
}

/** The message of conmon's sync records (`{"data": -1, "message": "…"}` after a failed start). */
async function syncMessage(p: ProcPaths): Promise<string | undefined> {
  const text = await fs.readFile(p.sync, { encoding: 'utf8', flag: READ_NOFOLLOW }).catch(() => ''); // none: the default message
  let said: string | undefined;
  for (const line of text.split('\n')) {
    try {
      const m = (JSON.parse(line) as { message?: unknown }).message;
      if (typeof m === 'string' && m.trim()) said = m.trim();
    } catch { /* not a record (a partial line) */ }
  }
  return said;
}

/**
 * A process with a terminal: conmon in terminal mode (`-t`) with its bundle dir (the
 * process's dir: its attach socket and control FIFO are made there, `--full-attach` keeps
 * the socket there too) and a k8s-file log that the daemon decodes (terminal.ts). No stdin
 * FIFO and no holder: conmon holds the terminal's master as long as the process lives.
 * conmon's own stdio is not the process's here: the runtime's messages go to the log.
 */
async function startTerminal(r: StartRequest): Promise<Started> {
  const p = r.paths;
  await fs.mkdir(p.exitDir, { recursive: true });
  await fs.writeFile(p.spec, specJson(r.processSpec), { mode: 0o600, flag: CREATE_EXCL });
  await TtyLog.init(p);
  // The streams exist from the start, as the files a process without a terminal writes.
  await Promise.all([p.stdout, p.stderr].map((f) => fs.writeFile(f, '', { mode: 0o600, flag: CREATE_EXCL })));
  const sync = await fs.open(p.sync, APPEND_NOFOLLOW, 0o600);
  const argv0 = String((r.processSpec.args as string[])[0]);
  try {
    await spawnConmon([
      '--api-version',
      '--cid', r.containerId,
      '--cuuid', r.uuid,
      '--runtime', r.runtimeBinary,
      '--runtime-arg', '--root', '--runtime-arg', r.runtimeRoot,
      '--exec', '--exec-process-spec', p.spec,
      '--container-pidfile', p.pid,
      '--conmon-pidfile', p.conmonPid,
      '--exit-dir', p.exitDir,
      '--persist-dir', p.dir,
      '--bundle', p.dir,
      '--full-attach',
      '--terminal',
      '--log-path', `k8s-file:${p.ttyLog}`,
    ], ['ignore', 'ignore', 'ignore', sync.fd], p.dir);
  } finally {
    await sync.close();
  }
  const conmonPid = await readPid(p.conmonPid);
  const pid = await waitForPid(p, () => conmonPid !== undefined && isAlive(conmonPid), Date.now() + 30_000);
  let stdin: StdinSink | undefined;
  let failure: Error | undefined;
  if (pid) {
    try {
      // No socket any more: the process has ended already (conmon removes it as it exits).
      stdin = connectAttach(p);
    } catch (e) {
      failure = new SystemFailure(`cannot connect to the terminal: ${(e as Error).message}`, { cause: e });
    }
  }
  if (!pid || failure) {
    if (pid) killQuietly(pid);
    if (conmonPid && (await isAlive(conmonPid))) killQuietly(conmonPid);
    if (failure) throw failure;
    // conmon sends the runtime's message on its sync fd (a file here): put it where
    // startFailure reads it, the stderr of the process.
    const said = await syncMessage(p);
    if (said) await fs.appendFile(p.stderr, said.endsWith('\n') ? said : said + '\n', { flag: APPEND_NOFOLLOW });
    throw await startFailure(p, argv0);
  }
  log('started %s in %s with a terminal: pid %d, conmon %d', argv0, r.containerId, pid, conmonPid);
  return { pid, conmonPid: conmonPid!, stdin };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch { /* gone meanwhile */ }
}

/** The exit status conmon recorded (code, or 128+signal), if the process has ended. */
export async function readExit(p: ProcPaths): Promise<number | undefined> {
  // Synchronous: a few bytes of the state dir, read on the path from the end to a waiting reader.
  let text: string | undefined;
  try {
    text = readSmallSync(p.exit);
  } catch { /* no exit file: not ended */ }
  if (text === undefined || text.trim() === '') return undefined;
  const n = Number(text.trim());
  return Number.isInteger(n) ? n : undefined;
}

/** After a restart: a new daemon writer on the FIFO, or undefined when nobody reads it any more. */
export async function reopenStdin(p: ProcPaths): Promise<fs.FileHandle | undefined> {
  try {
    return await fs.open(p.stdin, C.O_WRONLY | C.O_NONBLOCK);
  } catch (e) {
    if (isErrno(e, 'ENXIO', 'ENOENT')) return undefined;
    throw e;
  }
}

/**
 * Let go of the stdin FIFO's second writer: wardenfs's monitor closes the one it holds;
 * a process started under conmon (by an earlier wardenfs) has a holder process, ended
 * here (it is ours if its command line still names the process's conmon).
 */
export async function endHolder(p: ProcPaths, uuid: string): Promise<void> {
  const [holder, monitor] = await Promise.all([readPid(p.holderPid), readPid(p.conmonPid)]);
  if (holder && monitor && (await aliveWith(holder, `--pid=${monitor}`))) killQuietly(holder);
  if (!holder && monitor) await releaseHeldWriter(monitor, uuid);
}

/** The holders (by their exact command line) that follow process `conmon`. */
async function holdersOf(conmon: number): Promise<number[]> {
  const want = [HOLDER, '-f', '/dev/null', `--pid=${conmon}`];
  const out: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = await cmdline(Number(name)).catch(() => [] as string[]);
    if (argv.length === want.length && argv.every((a, i) => a === want[i])) out.push(Number(name));
  }
  return out;
}

/** Kill a process's monitor and holder (container destroy): both are recognised by their command lines. */
export async function endMonitor(p: ProcPaths, uuid: string): Promise<void> {
  const conmon = await readPid(p.conmonPid);
  const ours = conmon !== undefined && (await aliveWith(conmon, uuid));
  if (ours) killQuietly(conmon);
  // A process under conmon (a terminal, or one started by an earlier wardenfs) whose run was
  // cut off by the daemon's end after its holder started and before holder.pid was written:
  // the holder would end only at its next look at conmon (a second later), after the destroy
  // has said everything is gone: found by its command line, when the conmon it follows is
  // this process's (or gone: then no other's holder has that line). wardenfs's own monitor
  // has no holder: it holds the writer itself (endHolder releases it).
  if (conmon !== undefined && (await readPid(p.holderPid)) === undefined && (ours || !(await isAlive(conmon)))) {
    for (const pid of await holdersOf(conmon)) killQuietly(pid);
  }
  await endHolder(p, uuid);
}

/**
 * Container teardown: end the monitor and holder of every process recorded under
 * `procsDir` (the runtime has killed the processes themselves).
 */
export async function endAllMonitors(procsDir: string): Promise<void> {
  const ids = await fs.readdir(procsDir).catch(() => [] as string[]); // no procs dir: no monitors
  for (const id of ids) {
    const p = new ProcPaths(path.join(procsDir, id));
    const meta = await fs.readFile(p.meta, { encoding: 'utf8', flag: READ_NOFOLLOW }).then((t) => JSON.parse(t) as { uuid?: string }, () => undefined); // unreadable: matched by pid file alone
    if (meta?.uuid) await endMonitor(p, meta.uuid);
  }
}
