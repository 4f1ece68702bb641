/**
 * The processes of one container: run, signal, stop, forget, feed stdin, and take them
 * up again after a daemon restart. Each process runs under its own conmon (see
 * drivers/monitor/conmon.ts) and keeps its files in STATE/containers/NAME/procs/ID/.
 */
import { promises as fs, closeSync, mkdirSync, statSync, constants as C, type FSWatcher } from 'node:fs';
import { tryWatch } from '../util/watch.js';
import path from 'node:path';
import { BadRequest, Busy, Exists, NotFound, q, SystemFailure, BrokenPipe, interruptible, WardenError } from '../errors.js';
import type { RunOptions } from '../model/records.js';
import { isValidName, type Signal } from '../ctl/values.js';
import { buildProcessSpec } from '../drivers/runtime/spec.js';
import { checkRlimits, hostRlimitCeiling } from '../drivers/runtime/rlimits.js';
import { mergeRlimits, type Rlimits } from '../model/rlimits.js';
import { ProcPaths } from '../drivers/monitor/paths.js';
import { startProcess, readExit, reopenStdin, endHolder } from '../drivers/monitor/conmon.js';
import { TtyLog, connectAttach, resizeTerminal, readWinsize, writeWinsize } from '../drivers/monitor/terminal.js';
import { aliveWith, isAlive, parentOf, procStat, readPid } from '../drivers/monitor/procfs.js';
import { run } from '../util/exec.js';
import { readJson, randomHex, sleep, exists, isErrno, READ_NOFOLLOW, WRITE_NOFOLLOW, CREATE_EXCL, writeSmallSync } from '../util/files.js';
import { logger } from '../util/log.js';
import { steps } from '../util/steps.js';
import { Proc, statusFromExit, statusLine, type ProcMeta } from './process.js';
import type { EventLog } from './events.js';
import type { Cgroup } from '../drivers/cgroups/files.js';
import type { IdRange } from '../drivers/rootfs/idrange.js';
import type { OciRuntime } from '../drivers/runtime/oci.js';
import type { ReaderBudget } from './budget.js';
import type { RootfsResolver } from '../drivers/rootfs/resolver.js';
import { lookupUser } from './users.js';
import { runDefaults } from './program.js';
import type { ImageConfig } from '../model/image.js';

const log = logger('procs');

export interface ProcessDeps {
  /** The runtime conmon runs `exec` with. */
  runtime: Pick<OciRuntime, 'binary' | 'root'>;
  /** Bytes of stdout and of stderr kept on disk per process. */
  outputCap: number;
  /** Starts a process under its monitor (default: conmon's startProcess; a fake in core unit tests). */
  start?: typeof startProcess;
}

/** What a process table uses of its container (Container; a fake in core unit tests). */
export interface ProcessHost {
  readonly name: string;
  readonly paths: { readonly dir: string };
  readonly record: { readonly env: string[]; readonly idmap?: IdRange; readonly imageConfig?: ImageConfig; readonly rlimits?: Rlimits };
  readonly events: EventLog;
  readonly cgroup: Pick<Cgroup, 'procs'> & Partial<Pick<Cgroup, 'oomFile'>>;
  readonly initPid: number;
  rootfs(): Promise<RootfsResolver>;
  /** The end of a process restarts the container's grace clock (core/grace.ts): it counts from there. */
  touch?(): void;
  /** Set while an image commit has the container frozen (core/commit.ts): a run waits for its end. */
  readonly committing?: Promise<void>;
  /** `destroying` once a destroy has begun (core/container.ts); absent: active. */
  readonly state?: 'active' | 'destroying';
}

/** Ended processes kept per container (retention); older ones are forgotten as by rmdir. */
export const KEEP_ENDED = 100;
/** `dir=` must be a directory of the container (a final symlink followed inside its root). */
async function checkDir(root: RootfsResolver, dir: string): Promise<void> {
  const rel = dir.replace(/^\/+/, '');
  if (rel === '') return;
  let fd: number;
  try {
    fd = await root.open(rel, C.O_RDONLY | C.O_DIRECTORY | C.O_NONBLOCK, 0, { follow: true });
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new BadRequest(`no such directory ${q(dir)} in the container`);
    if (isErrno(e, 'ENOTDIR')) throw new BadRequest(`${q(dir)} is not a directory in the container`);
    if (isErrno(e, 'ELOOP')) throw new BadRequest(`${q(dir)}: too many symlinks in the container`);
    throw e;
  }
  closeSync(fd);
}

/** How events mark a change that happened while the daemon was down, found at its restart. */
export const AT_RESTART = ' (at restart)';

function signalQuietly(pid: number, signal: number): void {
  try {
    process.kill(pid, signal);
  } catch { /* gone meanwhile */ }
}

function byId(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isInteger(na) && Number.isInteger(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

export class ProcessTable {
  private readonly procs = new Map<string, Proc>();
  private readonly reserved = new Set<string>();
  private readonly exitWatchers = new Map<string, FSWatcher>();
  /** Processes whose end is being recorded (events first, then their status): recorded once. */
  private readonly ending = new Set<Proc>();
  private nextAuto = 1;

  constructor(private readonly c: ProcessHost, private readonly d: ProcessDeps) {}

  get dir(): string { return path.join(this.c.paths.dir, 'procs'); }
  private paths(id: string): ProcPaths { return new ProcPaths(path.join(this.dir, id)); }
  private get counterFile(): string { return path.join(this.dir, '.next'); }

  list(): Proc[] {
    return [...this.procs.values()].sort((a, b) => byId(a.id, b.id));
  }

  ids(): string[] {
    return this.list().map((p) => p.id);
  }

  /** The ids of the processes that run (procs/.running). */
  runningIds(): string[] {
    return this.list().filter((p) => p.running).map((p) => p.id);
  }

  /** A run is being started: its id is reserved until it runs or has failed (grace.ts keeps the container meanwhile). */
  starting(): boolean {
    return this.reserved.size > 0;
  }

  find(id: string): Proc | undefined {
    return this.procs.get(id);
  }

  get(id: string): Proc {
    const p = this.procs.get(id);
    if (!p) throw new NotFound(`no such process ${q(id)}`);
    return p;
  }

  /**
   * What really runs in the container: every process of its cgroup but the init (zombies
   * are not counted). A run that daemonized has ended, but what it left behind is here.
   */
  async members(): Promise<number[]> {
    const pids = await this.c.cgroup.procs().catch((e: unknown) => {
      log('members of %s: %s', this.c.name, e); // no cgroup (being destroyed): no members
      return [] as number[];
    });
    const out: number[] = [];
    for (const pid of pids) {
      if (pid === this.c.initPid) continue;
      const st = await procStat(pid);
      if (st && st.state !== 'Z' && st.state !== 'X') out.push(pid);
    }
    return out;
  }

  counts(): { running: number; ended: number } {
    let running = 0;
    for (const p of this.procs.values()) if (p.running) running++;
    return { running, ended: this.procs.size - running };
  }

  private taken(id: string): boolean {
    return this.procs.has(id) || this.reserved.has(id);
  }

  /** A fresh, empty directory for a process (a leftover of an interrupted start is swept). */
  private async freshDir(dir: string): Promise<void> {
    try {
      mkdirSync(dir, { mode: 0o700 }); // synchronous: the state dir's, on the critical path of a start
    } catch (e) {
      if (isErrno(e, 'ENOENT')) await fs.mkdir(this.dir, { recursive: true, mode: 0o700 }); // the first run: no procs/ yet
      else if (isErrno(e, 'EEXIST')) await fs.rm(dir, { recursive: true, force: true });
      else throw e;
      await fs.mkdir(dir, { mode: 0o700 }); // fresh: never an existing dir or a link to one
    }
  }

  /** The next free id of 1, 2, 3 … (the counter is persisted so that numbering goes on after a restart). */
  private autoId(): string {
    while (this.taken(String(this.nextAuto))) this.nextAuto++;
    return String(this.nextAuto++);
  }

  async run(asked: RunOptions): Promise<string> {
    // A frozen container cannot exec (the runtime refuses): the run starts after the commit.
    if (this.c.committing) await this.c.committing;
    if (asked.id !== undefined && this.taken(asked.id)) throw new Exists(`process ${q(asked.id)} exists`);
    // The image's Entrypoint, Cmd, WorkingDir and User fill in what the run leaves out.
    const o = runDefaults(asked, this.c.record.imageConfig ?? {});
    // The run's limits over the container's defaults, checked against the host before anything is made.
    const rlimits = mergeRlimits(this.c.record.rlimits, o.rlimits);
    checkRlimits(rlimits, hostRlimitCeiling());
    const id = o.id ?? this.autoId();
    this.reserved.add(id); // synchronous with the check: a concurrent run cannot take the same id
    const p = this.paths(id);
    const t = steps();
    try {
      await this.freshDir(p.dir);
      const meta: ProcMeta = {
        id, argv: o.argv, uuid: `${randomHex(8)}-${this.c.name}-${id}`.slice(0, 64), started: new Date().toISOString(),
        ...(o.tty ? { tty: true } : {}),
      };
      // Synchronous: small files of the state dir (never the tree's own mount), microseconds
      // each, where each was a thread-pool round trip on the path of every start (issue 18).
      // meta.json is written in place, not through a temp file and fsync: the directory is
      // fresh (O_EXCL), a daemon that dies cannot tear a write that returned, and a host
      // that crashes takes the process with it.
      if (o.id === undefined) writeSmallSync(this.counterFile, String(this.nextAuto), WRITE_NOFOLLOW);
      writeSmallSync(p.meta, JSON.stringify(meta) + '\n', CREATE_EXCL);
      const root = await this.c.rootfs();
      t.mark('dirs');
      // Both read the container's files; a bad dir= is the error reported when both are bad.
      const [dirChecked, user] = await Promise.allSettled([o.dir ? checkDir(root, o.dir) : undefined, lookupUser(root, o.user)]);
      if (dirChecked.status === 'rejected') throw dirChecked.reason;
      if (user.status === 'rejected') throw user.reason;
      const u = user.value;
      t.mark('user');
      const m = this.c.record.idmap;
      if (m && [u.uid, u.gid, ...(u.additionalGids ?? [])].some((n) => n >= m.size)) {
        throw new BadRequest(`user ${u.uid}:${u.gid} is not mapped in the container's user namespace (ids 0-${m.size - 1})`);
      }
      const spec = buildProcessSpec({
        argv: o.argv, env: [...(this.c.record.imageConfig?.Env ?? []), ...this.c.record.env, ...o.env], cwd: o.dir,
        user: { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids }, home: u.home, ...(u.name ? { userName: u.name } : {}),
        rlimits,
        ...(o.tty ? { terminal: o.tty } : {}),
      });
      if (o.tty) await writeWinsize(p, o.tty.rows, o.tty.cols);
      const started = await (this.d.start ?? startProcess)({
        paths: p, containerId: this.c.name, uuid: meta.uuid,
        runtimeBinary: this.d.runtime.binary, runtimeRoot: this.d.runtime.root, processSpec: spec,
        ...(o.tty ? { tty: true } : {}), oomFile: this.c.cgroup.oomFile, steps: t,
      });
      const proc = new Proc(meta, p, started.pid, started.conmonPid);
      proc.stdin = started.stdin;
      if (o.tty) this.followTerminal(proc);
      this.procs.set(id, proc);
      this.track(proc);
      await this.c.events.append(`process ${id} started pid=${started.pid}`);
      t.mark('events');
      t.done(`run ${id} in ${this.c.name}`);
      return id;
    } catch (e) {
      // The start's failure is what the caller hears; a leftover directory is swept at the next start.
      await fs.rm(p.dir, { recursive: true, force: true }).catch((re: unknown) => log('removing %s: %s', p.dir, re));
      // A failed run changes nothing: its automatic id is given to the next run.
      if (o.id === undefined && this.nextAuto === Number(id) + 1) {
        this.nextAuto = Number(id);
        await fs.writeFile(this.counterFile, String(this.nextAuto), { flag: WRITE_NOFOLLOW }).catch((we: unknown) => log('counter of %s: %s', this.c.name, we)); // an id skipped at worst
      }
      // A destroy began while the process started: the runtime's failure (`exec failed`, EIO)
      // says less than what happened, which a run arriving a moment later is told (EINVAL).
      if (this.c.state === 'destroying' && (e instanceof SystemFailure || !(e instanceof WardenError))) {
        throw new BadRequest(`container ${q(this.c.name)} is being destroyed`, { cause: e });
      }
      throw e;
    } finally {
      this.reserved.delete(id);
    }
  }

  /**
   * A terminal's output: conmon writes it to its log, the daemon copies it into stdout as it
   * comes (inotify on the log, and the periodic check as the safety net).
   */
  private followTerminal(proc: Proc): void {
    proc.tty ??= new TtyLog(proc.paths);
    const pump = (): void => {
      void proc.tty!.pump().catch((e: unknown) => log('terminal of %s: %s', proc.id, e)); // the next change or check tries again
    };
    if (proc.running && !proc.ttyWatcher) {
      // Without a watch (none left on the host, or an error later) the periodic check copies.
      proc.ttyWatcher = tryWatch(proc.paths.dir, (_event, file) => {
        if (file === 'tty.log') pump();
      }, () => { proc.ttyWatcher = undefined; });
    }
    pump();
  }

  /** Notice the end: conmon renames `exit` into the process's directory. */
  private track(proc: Proc): void {
    // Without a watch (none left on the host, or an error later) the periodic check (check()) notices the end.
    const w = tryWatch(proc.paths.dir, (_event, file) => {
      if (file === 'exit') void this.refresh(proc);
    }, () => this.exitWatchers.delete(proc.id));
    if (w) this.exitWatchers.set(proc.id, w);
    void this.refresh(proc); // it may have ended before the watch began
  }

  /**
   * Read the recorded exit status; if the monitor died without one, the status is lost.
   * `found` marks what a restarted daemon finds (events lines end with AT_RESTART).
   */
  private async refresh(proc: Proc, found = false): Promise<void> {
    if (!proc.running) return;
    const exit = await readExit(proc.paths);
    if (exit !== undefined) return this.ended(proc, statusFromExit(exit), found);
    if (!(await aliveWith(proc.conmonPid, proc.meta.uuid)) && !(await isAlive(proc.pid))) {
      // The monitor died (killed, host reboot) and the process is gone: its status was never recorded.
      if ((await readExit(proc.paths)) === undefined) {
        await this.c.events.append(`process ${proc.id} lost its exit status${found ? AT_RESTART : ''}`);
        return this.ended(proc, { state: 'killed', signal: 'KILL' }, found);
      }
    }
  }

  private async ended(proc: Proc, status: Proc['status'], found = false): Promise<void> {
    if (!proc.running || this.ending.has(proc)) return;
    this.ending.add(proc);
    this.c.touch?.();
    try {
      this.exitWatchers.get(proc.id)?.close();
      this.exitWatchers.delete(proc.id);
      // The events line (and its marker) before the status that readers of `wait` and
      // `status` see: a script that read `wait` finds the line in events, and a daemon
      // killed in between writes it at restart rather than twice.
      // conmon has drained the terminal into its log before it wrote the exit: all of it
      // is in stdout before readers see the end.
      if (proc.tty) await proc.tty.pump().catch((e: unknown) => log('terminal of %s: %s', proc.id, e));
      await this.report(proc, found, status);
      proc.finish(status);
    } finally {
      this.ending.delete(proc);
    }
    await this.prune();
  }

  /** The end of a process in events, once: the marker file says it was written. */
  private async report(proc: Proc, found: boolean, status = proc.status): Promise<void> {
    const mark = found ? AT_RESTART : '';
    // Synchronous checks and marker (the state dir's): the end's path to a waiting reader.
    if (statSync(proc.paths.oom, { throwIfNoEntry: false })) await this.c.events.append(`oom: the memory limit was hit while process ${proc.id} ran${mark}`);
    await this.c.events.append(`process ${proc.id} ${statusLine(status)}${mark}`);
    try {
      writeSmallSync(proc.paths.reported, '', WRITE_NOFOLLOW);
    } catch (e) {
      log('%s: %s', proc.paths.reported, e); // written again at the next restart: the line would repeat once
    }
  }

  /**
   * Retention: keep the last KEEP_ENDED ended processes of the container; the ones that
   * started first are forgotten (as by rmdir) when more have ended. Running ones are
   * never touched. Called at each end and by the periodic check (after a restart).
   */
  private async prune(): Promise<void> {
    const ended = [...this.procs.values()].filter((p) => !p.running);
    if (ended.length <= KEEP_ENDED) return;
    ended.sort((a, b) => (a.meta.started < b.meta.started ? -1 : a.meta.started > b.meta.started ? 1 : byId(a.id, b.id)));
    for (const proc of ended.slice(0, ended.length - KEEP_ENDED)) {
      if (this.procs.get(proc.id) !== proc) continue;
      this.procs.delete(proc.id);
      await fs.rm(proc.paths.dir, { recursive: true, force: true }).catch((e: unknown) => log('prune %s: %s', proc.id, e));
    }
  }

  async kill(id: string, signal: Signal): Promise<void> {
    const proc = this.get(id);
    if (!proc.running) throw new BadRequest(`process ${q(id)} is not running`);
    // Guard against pid reuse: the process is conmon's child as long as it runs.
    if ((await parentOf(proc.pid)) !== proc.conmonPid) {
      await this.refresh(proc);
      throw new BadRequest(`process ${q(id)} is not running`);
    }
    // The runtime starts each run in a new session: runc makes the process its leader (and
    // its process group's), crun leaves it in a session its own exec process made. `kill`
    // signals that whole session: the process group at once when the process leads it
    // (nothing forked meanwhile escapes), then every process of the container's cgroup in
    // the session. A process that left the session (setsid: a daemon) is reached by `stop`.
    const st = await procStat(proc.pid);
    const leads = st?.pgrp === proc.pid;
    try {
      process.kill(leads ? -proc.pid : proc.pid, signal.number);
    } catch (e) {
      if (isErrno(e, 'ESRCH')) throw new BadRequest(`process ${q(id)} is not running`);
      throw new SystemFailure(`kill ${id}: ${(e as Error).message}`);
    }
    // A session shared with the monitor is not the run's own: then the process alone.
    if (!st || st.session === (await procStat(proc.conmonPid))?.session) return;
    for (const pid of await this.members()) {
      if (pid === proc.pid) continue;
      const m = await procStat(pid);
      if (m && m.session === st.session && !(leads && m.pgrp === proc.pid)) signalQuietly(pid, signal.number);
    }
  }

  /**
   * TERM every process of the container but its init (the cgroup is the list: what runs
   * entries left behind included), KILL what is left after `seconds`, return once all
   * have ended and the run entries say so.
   */
  async stop(seconds: number): Promise<void> {
    const running = this.list().filter((p) => p.running);
    const signalAll = async (n: number): Promise<number> => {
      const pids = await this.members();
      for (const pid of pids) signalQuietly(pid, n);
      return pids.length;
    };
    const deadline = Date.now() + seconds * 1000;
    let left = await signalAll(15);
    while (left > 0 && Date.now() < deadline) {
      await sleep(50);
      left = (await this.members()).length;
    }
    // SIGKILL cannot be ignored; a process that forks meanwhile is caught by the next round.
    for (let round = 0; left > 0 && round < 200; round++) {
      left = await signalAll(9);
      if (left > 0) await sleep(50);
    }
    // conmon records each run's end within moments.
    const all = Promise.all(running.map((p) => p.ended));
    await Promise.race([all, sleep(10_000).then(() => Promise.all(running.map((p) => this.refresh(p))))]);
  }

  /** rmdir procs/ID: forget an ended process. */
  async forget(id: string): Promise<void> {
    const proc = this.get(id);
    if (proc.running) throw new Busy(`process ${q(id)} is running`);
    this.procs.delete(id);
    await fs.rm(proc.paths.dir, { recursive: true, force: true });
  }

  /**
   * Deliver bytes to the process's stdin. A writer that has to wait (the pipe is full: the
   * process is not reading) holds a place of `budget`, the bound on blocked readers, for as
   * long as it waits: past the bound it gets what was written so far (a short write) or EAGAIN.
   */
  async writeStdin(id: string, data: Buffer, abort?: AbortSignal, budget?: ReaderBudget): Promise<number> {
    const proc = this.get(id);
    if (proc.stdinClosed) throw new BrokenPipe(`stdin of process ${q(id)} is closed`);
    if (!proc.running || !proc.stdin) throw new BrokenPipe(`process ${q(id)} does not read stdin any more`);
    let off = 0;
    let held = false;
    try {
      // The writer is non-blocking: a full pipe (the process is not reading) is waited out here.
      for (let delay = 1; off < data.length;) {
        if (!proc.stdin) throw new BrokenPipe(`process ${q(id)} does not read stdin any more`);
        try {
          const { bytesWritten } = await proc.stdin.write(data, off, data.length - off);
          off += bytesWritten;
          delay = 1;
        } catch (e) {
          if (isErrno(e, 'EPIPE', 'ECONNRESET', 'ENOTCONN')) throw new BrokenPipe(`process ${q(id)} does not read stdin any more`);
          if (!isErrno(e, 'EAGAIN')) throw e;
          if (!proc.running) throw new BrokenPipe(`process ${q(id)} has ended`);
          if (!held && budget) {
            try {
              budget.acquire();
            } catch (full) {
              if (off > 0) return off;
              throw full;
            }
            held = true;
          }
          await interruptible(sleep(delay), abort);
          delay = Math.min(delay * 2, 50);
        }
      }
    } finally {
      if (held) budget!.release();
    }
    return data.length;
  }

  /**
   * closein: the process reads EOF once what was written is read. A terminal has no end of
   * input: closein types its end-of-file character (Ctrl-D), which ends the input of a
   * program reading a line at its start, and no more is written to it.
   */
  async closeStdin(id: string): Promise<void> {
    const proc = this.get(id);
    if (proc.stdinClosed) return;
    if (proc.tty && proc.running && proc.stdin) {
      await proc.stdin.write(Buffer.from([0x04]), 0, 1).catch((e: unknown) => log('Ctrl-D to %s: %s', proc.id, e)); // gone meanwhile: nothing to end
    }
    proc.stdinClosed = true;
    await fs.writeFile(proc.paths.stdinClosed, '', { flag: WRITE_NOFOLLOW });
    await proc.stdin?.close().catch((e: unknown) => log('closing the stdin of %s: %s', proc.id, e)); // stdinClosed is written: readers see EOF
    proc.stdin = undefined;
    if (!proc.tty) await endHolder(proc.paths, proc.meta.uuid);
  }

  /** procs/NAME/ID/winsize: the terminal's size as last set (EINVAL for a process without one). */
  async winsize(id: string): Promise<{ rows: number; cols: number }> {
    const proc = this.get(id);
    if (!proc.tty) throw new BadRequest(`process ${q(id)} has no terminal`);
    const size = await readWinsize(proc.paths);
    if (!size) throw new SystemFailure(`process ${q(id)}: its terminal's size is not recorded`);
    return size;
  }

  /** Resize the terminal (SIGWINCH inside). */
  async resize(id: string, size: { rows: number; cols: number }): Promise<void> {
    const proc = this.get(id);
    if (!proc.tty) throw new BadRequest(`process ${q(id)} has no terminal`);
    if (!proc.running || !(await resizeTerminal(proc.paths, size.rows, size.cols))) throw new BadRequest(`process ${q(id)} is not running`);
  }

  /**
   * At daemon start: take up every process recorded on disk. Ends that happened while the
   * daemon was down and are not in events yet are written there once, oldest first (by
   * the time conmon wrote the exit record), marked AT_RESTART.
   */
  async adopt(): Promise<void> {
    const found: Array<{ proc: Proc; at: number }> = [];
    const live: Proc[] = [];
    // A container without processes yet: no dir, no counter (ids start at 1).
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const counter = Number(await fs.readFile(this.counterFile, { encoding: 'utf8', flag: READ_NOFOLLOW }).catch(() => '1'));
    this.nextAuto = Number.isInteger(counter) && counter > 0 ? counter : 1;
    for (const id of names) {
      if (!isValidName(id)) continue;
      const p = this.paths(id);
      const meta = await readJson<ProcMeta>(p.meta).catch(() => undefined); // an interrupted start: swept below
      const pid = await readPid(p.pid);
      const conmonPid = (await readPid(p.conmonPid)) ?? 0;
      if (!meta || !pid) {
        // Interrupted before the process was known to run: nothing to take up.
        if (meta && conmonPid && (await aliveWith(conmonPid, meta.uuid))) continue; // still starting; left for reset
        await fs.rm(p.dir, { recursive: true, force: true });
        continue;
      }
      const proc = new Proc(meta, p, pid, conmonPid);
      proc.stdinClosed = await exists(p.stdinClosed);
      this.procs.set(id, proc);
      if (meta.tty) proc.tty = new TtyLog(p);
      const exit = await readExit(p);
      // What the terminal showed while the daemon was down (all of it, for one that has ended).
      if (proc.tty) await proc.tty.pump().catch((e: unknown) => log('terminal of %s: %s', id, e));
      if (exit !== undefined) {
        proc.finish(statusFromExit(exit));
        if (!(await exists(p.reported))) found.push({ proc, at: (await fs.stat(p.exit).catch(() => undefined))?.mtimeMs ?? 0 }); // no time: oldest
        continue;
      }
      if (!proc.stdinClosed) {
        proc.stdin = proc.tty
          ? (() => { try { return connectAttach(p); } catch (e) { log('terminal of %s: %s', id, e); return undefined; } })() // unreachable: writes fail with EPIPE
          : await reopenStdin(p);
      }
      live.push(proc);
    }
    found.sort((a, b) => a.at - b.at || byId(a.proc.id, b.proc.id));
    for (const { proc } of found) await this.report(proc, true);
    for (const proc of live) {
      await this.refresh(proc, true); // a monitor that died while the daemon was down
      if (proc.running) this.track(proc);
      if (proc.running && proc.tty) this.followTerminal(proc);
    }
  }

  /** Periodic check: ends that inotify missed, readers to wake, the output cap. */
  async check(): Promise<void> {
    await this.prune();
    for (const proc of this.procs.values()) {
      if (!proc.running) continue;
      if (proc.tty) await proc.tty.pump().catch((e: unknown) => log('terminal of %s: %s', proc.id, e)); // the next check tries again
      await this.refresh(proc);
      proc.poke();
      await this.capOutput(proc);
    }
  }

  /**
   * Keep at most `outputCap` bytes of each stream on disk. The process writes the files
   * itself, so the oldest bytes are released by punching a hole (offsets stay valid;
   * released bytes read back as zeros).
   */
  private async capOutput(proc: Proc): Promise<void> {
    for (const file of [proc.paths.stdout, proc.paths.stderr]) {
      const st = await fs.stat(file).catch(() => undefined); // removed meanwhile (rm -r procs/ID): nothing to cap
      if (!st || st.size <= this.d.outputCap) continue;
      const allocated = st.blocks * 512;
      if (allocated <= this.d.outputCap + 1024 * 1024) continue;
      const upTo = Math.floor((st.size - this.d.outputCap) / 4096) * 4096;
      if (upTo > 0) await run('fallocate', ['--punch-hole', '--offset', '0', '--length', String(upTo), file]).catch((e: unknown) => log('cap %s: %s', file, e));
    }
  }

  /** Destroy: the runtime has killed every process; stop watching (monitors are ended by the teardown). */
  endAll(): void {
    for (const w of this.exitWatchers.values()) w.close();
    this.exitWatchers.clear();
    for (const proc of this.procs.values()) proc.finish({ state: 'killed', signal: 'KILL' });
  }
}
