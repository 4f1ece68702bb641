/**
 * The processes of one container: run, signal, stop, forget, feed stdin, and take them
 * up again after a daemon restart. Each process runs under its own conmon (see
 * drivers/monitor/conmon.ts) and keeps its files in STATE/containers/NAME/procs/ID/.
 */
import { promises as fs, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { BadRequest, Busy, Exists, NotFound, q, SystemFailure, BrokenPipe, interruptible } from '../errors.js';
import type { RunOptions } from '../ctl/messages.js';
import { isValidName, type Signal } from '../ctl/values.js';
import { buildProcessSpec } from '../drivers/runtime/spec.js';
import { ProcPaths } from '../drivers/monitor/paths.js';
import { startProcess, readExit, reopenStdin, endHolder } from '../drivers/monitor/conmon.js';
import { aliveWith, isAlive, parentOf, readPid } from '../drivers/monitor/procfs.js';
import { run } from '../util/exec.js';
import { readJson, writeFileAtomic, randomHex, sleep, exists, isErrno, READ_NOFOLLOW, WRITE_NOFOLLOW } from '../util/files.js';
import { logger } from '../util/log.js';
import { Proc, statusFromExit, statusLine, type ProcMeta } from './process.js';
import type { Container } from './container.js';
import type { OciRuntime } from '../drivers/runtime/oci.js';

const log = logger('procs');

export interface ProcessDeps {
  runtime: OciRuntime;
  /** Bytes of stdout and of stderr kept on disk per process. */
  outputCap: number;
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
  private nextAuto = 1;

  constructor(private readonly c: Container, private readonly d: ProcessDeps) {}

  get dir(): string { return path.join(this.c.paths.dir, 'procs'); }
  private paths(id: string): ProcPaths { return new ProcPaths(path.join(this.dir, id)); }
  private get counterFile(): string { return path.join(this.dir, '.next'); }

  list(): Proc[] {
    return [...this.procs.values()].sort((a, b) => byId(a.id, b.id));
  }

  ids(): string[] {
    return this.list().map((p) => p.id);
  }

  find(id: string): Proc | undefined {
    return this.procs.get(id);
  }

  get(id: string): Proc {
    const p = this.procs.get(id);
    if (!p) throw new NotFound(`no such process ${q(id)}`);
    return p;
  }

  counts(): { running: number; ended: number } {
    let running = 0;
    for (const p of this.procs.values()) if (p.running) running++;
    return { running, ended: this.procs.size - running };
  }

  private taken(id: string): boolean {
    return this.procs.has(id) || this.reserved.has(id);
  }

  /** The next free id of 1, 2, 3 … (the counter is persisted so that numbering goes on after a restart). */
  private autoId(): string {
    while (this.taken(String(this.nextAuto))) this.nextAuto++;
    return String(this.nextAuto++);
  }

  async run(o: RunOptions): Promise<string> {
    if (o.id !== undefined && this.taken(o.id)) throw new Exists(`process ${q(o.id)} exists`);
    const id = o.id ?? this.autoId();
    this.reserved.add(id); // synchronous with the check: a concurrent run cannot take the same id
    const p = this.paths(id);
    try {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      if (o.id === undefined) await fs.writeFile(this.counterFile, String(this.nextAuto), { flag: WRITE_NOFOLLOW });
      await fs.rm(p.dir, { recursive: true, force: true });
      await fs.mkdir(p.dir, { mode: 0o700 }); // fresh: never an existing dir or a link to one
      const meta: ProcMeta = { id, argv: o.argv, uuid: `${randomHex(8)}-${this.c.name}-${id}`.slice(0, 64), started: new Date().toISOString() };
      await writeFileAtomic(p.meta, JSON.stringify(meta) + '\n');
      const spec = buildProcessSpec({ argv: o.argv, env: [...this.c.record.env, ...o.env], cwd: o.dir, user: o.user });
      const started = await startProcess({
        paths: p, containerId: this.c.name, uuid: meta.uuid,
        runtimeBinary: this.d.runtime.binary, runtimeRoot: this.d.runtime.root, processSpec: spec,
      });
      const proc = new Proc(meta, p, started.pid, started.conmonPid);
      proc.stdin = started.stdin;
      this.procs.set(id, proc);
      this.track(proc);
      await this.c.events.append(`process ${id} started pid=${started.pid}`);
      return id;
    } catch (e) {
      await fs.rm(p.dir, { recursive: true, force: true }).catch(() => undefined);
      // A failed run changes nothing: its automatic id is given to the next run.
      if (o.id === undefined && this.nextAuto === Number(id) + 1) {
        this.nextAuto = Number(id);
        await fs.writeFile(this.counterFile, String(this.nextAuto), { flag: WRITE_NOFOLLOW }).catch(() => undefined);
      }
      throw e;
    } finally {
      this.reserved.delete(id);
    }
  }

  /** Notice the end: conmon renames `exit` into the process's directory. */
  private track(proc: Proc): void {
    try {
      const w = watch(proc.paths.dir, { persistent: false }, (_event, file) => {
        if (file === 'exit') void this.refresh(proc);
      });
      w.on('error', () => undefined);
      this.exitWatchers.set(proc.id, w);
    } catch {
      // The periodic check (check()) notices the end anyway.
    }
    void this.refresh(proc); // it may have ended before the watch began
  }

  /** Read the recorded exit status; if the monitor died without one, the status is lost. */
  private async refresh(proc: Proc): Promise<void> {
    if (!proc.running) return;
    const exit = await readExit(proc.paths);
    if (exit !== undefined) return this.ended(proc, statusFromExit(exit));
    if (!(await aliveWith(proc.conmonPid, proc.meta.uuid)) && !(await isAlive(proc.pid))) {
      // The monitor died (killed, host reboot) and the process is gone: its status was never recorded.
      if ((await readExit(proc.paths)) === undefined) {
        await this.c.events.append(`process ${proc.id} lost its exit status`);
        return this.ended(proc, { state: 'killed', signal: 'KILL' });
      }
    }
  }

  private async ended(proc: Proc, status: Proc['status']): Promise<void> {
    if (!proc.running) return;
    proc.finish(status);
    this.exitWatchers.get(proc.id)?.close();
    this.exitWatchers.delete(proc.id);
    if (await exists(proc.paths.oom)) await this.c.events.append(`oom: the memory limit was hit while process ${proc.id} ran`);
    await this.c.events.append(`process ${proc.id} ${statusLine(status)}`);
  }

  async kill(id: string, signal: Signal): Promise<void> {
    const proc = this.get(id);
    if (!proc.running) throw new BadRequest(`process ${q(id)} is not running`);
    // Guard against pid reuse: the process is conmon's child as long as it runs.
    if ((await parentOf(proc.pid)) !== proc.conmonPid) {
      await this.refresh(proc);
      throw new BadRequest(`process ${q(id)} is not running`);
    }
    try {
      process.kill(proc.pid, signal.number);
    } catch (e) {
      if (isErrno(e, 'ESRCH')) throw new BadRequest(`process ${q(id)} is not running`);
      throw new SystemFailure(`kill ${id}: ${(e as Error).message}`);
    }
  }

  /** TERM every process, KILL what is left after `seconds`, return once all have ended. */
  async stop(seconds: number): Promise<void> {
    const running = this.list().filter((p) => p.running);
    const term = { number: 15, name: 'TERM' };
    const kill = { number: 9, name: 'KILL' };
    for (const p of running) await this.kill(p.id, term).catch(() => undefined);
    const all = Promise.all(running.map((p) => p.ended));
    const timedOut = await Promise.race([all.then(() => false), sleep(seconds * 1000).then(() => true)]);
    if (timedOut) {
      for (const p of running) if (p.running) await this.kill(p.id, kill).catch(() => undefined);
      // SIGKILL cannot be ignored; conmon records the end within moments.
      await Promise.race([all, sleep(10_000).then(() => Promise.all(running.map((p) => this.refresh(p))))]);
    }
  }

  /** rmdir procs/ID: forget an ended process. */
  async forget(id: string): Promise<void> {
    const proc = this.get(id);
    if (proc.running) throw new Busy(`process ${q(id)} is running`);
    this.procs.delete(id);
    await fs.rm(proc.paths.dir, { recursive: true, force: true });
  }

  async writeStdin(id: string, data: Buffer, abort?: AbortSignal): Promise<number> {
    const proc = this.get(id);
    if (proc.stdinClosed) throw new BrokenPipe(`stdin of process ${q(id)} is closed`);
    if (!proc.running || !proc.stdin) throw new BrokenPipe(`process ${q(id)} does not read stdin any more`);
    let off = 0;
    // The writer is non-blocking: a full pipe (the process is not reading) is waited out here.
    for (let delay = 1; off < data.length;) {
      try {
        const { bytesWritten } = await proc.stdin.write(data, off, data.length - off);
        off += bytesWritten;
        delay = 1;
      } catch (e) {
        if (isErrno(e, 'EPIPE')) throw new BrokenPipe(`process ${q(id)} does not read stdin any more`);
        if (!isErrno(e, 'EAGAIN')) throw e;
        if (!proc.running) throw new BrokenPipe(`process ${q(id)} has ended`);
        await interruptible(sleep(delay), abort);
        delay = Math.min(delay * 2, 50);
      }
    }
    return data.length;
  }

  /** closein: the process reads EOF once what was written is read. */
  async closeStdin(id: string): Promise<void> {
    const proc = this.get(id);
    if (proc.stdinClosed) return;
    proc.stdinClosed = true;
    await fs.writeFile(proc.paths.stdinClosed, '', { flag: WRITE_NOFOLLOW });
    await proc.stdin?.close().catch(() => undefined);
    proc.stdin = undefined;
    await endHolder(proc.paths);
  }

  /** At daemon start: take up every process recorded on disk. */
  async adopt(): Promise<void> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const counter = Number(await fs.readFile(this.counterFile, { encoding: 'utf8', flag: READ_NOFOLLOW }).catch(() => '1'));
    this.nextAuto = Number.isInteger(counter) && counter > 0 ? counter : 1;
    for (const id of names) {
      if (!isValidName(id)) continue;
      const p = this.paths(id);
      const meta = await readJson<ProcMeta>(p.meta).catch(() => undefined);
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
      const exit = await readExit(p);
      if (exit !== undefined) {
        proc.finish(statusFromExit(exit));
        continue;
      }
      if (!proc.stdinClosed) proc.stdin = await reopenStdin(p);
      this.track(proc);
    }
  }

  /** Periodic check: ends that inotify missed, readers to wake, the output cap. */
  async check(): Promise<void> {
    for (const proc of this.procs.values()) {
      if (!proc.running) continue;
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
      const st = await fs.stat(file).catch(() => undefined);
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
