/**
 * Starting a process without a terminal under wardenfs's own monitor
 * (native/monitor/monitor.c; docs/processes.md, "The monitor"): one small process per run
 * that runs `RUNTIME exec --detach` itself, is the process's subreaper, writes its exit
 * status, and holds the stdin FIFO's second writer (no holder process). Against conmon and
 * its holder it saves, per start, conmon's double fork, a second spawn from the daemon
 * and a `tail`, and it keeps the start in the daemon's session (scripts/bench/notes.md).
 * The files it writes are conmon's (`conmon.pid`, `pid` through the runtime, `exit`,
 * `oom`), so a restarted daemon takes up processes of either monitor alike.
 */
import { spawn } from 'node:child_process';
import { promises as fs, constants as C, openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SystemFailure } from '../../errors.js';
import { SYSTEM_PATH } from '../../util/exec.js';
import { specJson } from '../runtime/spec.js';
import { APPEND_NOFOLLOW, CREATE_EXCL, writeSmallSync } from '../../util/files.js';
import { makeFifo } from '../rootfs/addon.js';
import type { ProcPaths } from './paths.js';
import { cmdline, isAlive } from './procfs.js';

export const MONITOR = fileURLToPath(new URL('../../../../native/monitor/build/wardenfs-monitor', import.meta.url));

/**
 * Open a FIFO without blocking and without leaving O_NONBLOCK on the reader the process
 * inherits: the reader as a plain fd (synchronous: the state dir's FIFO never blocks
 * here, it has a writer), the daemon's own writer as a FileHandle.
 */
async function openFifoPair(fifo: string): Promise<{ reader: number; writer: fs.FileHandle }> {
  const tmp = openSync(fifo, C.O_RDWR); // never blocks on Linux: it is its own writer
  let reader: number | undefined;
  try {
    reader = openSync(fifo, C.O_RDONLY); // a writer exists: does not block
    return { reader, writer: await fs.open(fifo, C.O_WRONLY | C.O_NONBLOCK) };
  } catch (e) {
    if (reader !== undefined) closeSync(reader);
    throw e;
  } finally {
    closeSync(tmp);
  }
}

export interface MonitorStart {
  paths: ProcPaths;
  containerId: string;
  uuid: string;
  runtimeBinary: string;
  runtimeRoot: string;
  processSpec: Record<string, unknown>;
  /** The container's OOM counter (Cgroup.oomFile): `oom` is made when it grew while the process ran. */
  oomFile?: string;
}

/**
 * Make the process's files and spawn its monitor; resolves with the monitor's pid and the
 * daemon's stdin writer once the monitor runs (the caller awaits the process's pid).
 */
export async function spawnMonitor(r: MonitorStart): Promise<{ monitorPid: number; writer: fs.FileHandle; running: () => boolean }> {
  const p = r.paths;
  // Synchronous where it is a small local file of the state dir (microseconds each, against
  // a thread-pool round trip each): the files of a start are on its critical path (issue 18).
  writeSmallSync(p.spec, specJson(r.processSpec), CREATE_EXCL, 0o600);
  await makeFifo(p.stdin, 0o600);
  const fifo = await openFifoPair(p.stdin);
  const fds: number[] = [fifo.reader];
  const args = [
    '--uuid', r.uuid, '--dir', p.dir, '--runtime', r.runtimeBinary, '--root', r.runtimeRoot,
    ...(r.oomFile ? ['--oom', r.oomFile] : []),
    r.containerId,
  ];
  try {
    const out = openSync(p.stdout, APPEND_NOFOLLOW, 0o600);
    fds.push(out);
    const err = openSync(p.stderr, APPEND_NOFOLLOW, 0o600);
    fds.push(err);
    // The monitor is the daemon's child while the daemon lives: its end is an event here
    // (libuv reaps it), no /proc read needed while the start is awaited.
    let exited = false;
    const monitorPid = await new Promise<number>((resolve, reject) => {
      // fd 3 is the held writer: a copy of the daemon's own.
      const child = spawn(MONITOR, args, { cwd: p.dir, stdio: [fifo.reader, out, err, fifo.writer.fd], env: { PATH: SYSTEM_PATH } });
      child.once('error', (e) => reject(new SystemFailure(`cannot start the monitor ${MONITOR}: ${e.message}`, { cause: e })));
      child.once('exit', () => { exited = true; });
      child.once('spawn', () => {
        child.unref();
        resolve(child.pid!);
      });
    });
    return { monitorPid, writer: fifo.writer, running: () => !exited };
  } catch (e) {
    await fifo.writer.close();
    throw e;
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** Is `pid` this process's own monitor (not conmon, not a reused pid)? */
export async function isOwnMonitor(pid: number, uuid: string): Promise<boolean> {
  if (!(await isAlive(pid))) return false;
  const args = await cmdline(pid);
  return (args[0] ?? '').endsWith('/wardenfs-monitor') && args[1] === '--uuid' && args[2] === uuid;
}

/** closein: the monitor closes the writer it holds (SIGUSR1); the process reads EOF once the daemon's is closed too. */
export async function releaseHeldWriter(monitorPid: number, uuid: string): Promise<void> {
  if (!(await isOwnMonitor(monitorPid, uuid))) return; // gone: it holds nothing
  try {
    process.kill(monitorPid, 'SIGUSR1');
  } catch { /* gone meanwhile */ }
}
