/**
 * The files of one process, in STATE/containers/NAME/procs/ID/. conmon writes `pid`,
 * `conmon.pid`, `exit` and `sync`; the process writes `stdout`/`stderr` directly; the
 * daemon writes `meta.json`, `process.json`, `holder.pid` and `stdin.closed`.
 */
import path from 'node:path';

export class ProcPaths {
  constructor(readonly dir: string) {}
  get meta(): string { return path.join(this.dir, 'meta.json'); }
  get spec(): string { return path.join(this.dir, 'process.json'); }
  get stdin(): string { return path.join(this.dir, 'stdin'); }
  get stdout(): string { return path.join(this.dir, 'stdout'); }
  get stderr(): string { return path.join(this.dir, 'stderr'); }
  get sync(): string { return path.join(this.dir, 'sync'); }
  get pid(): string { return path.join(this.dir, 'pid'); }
  get conmonPid(): string { return path.join(this.dir, 'conmon.pid'); }
  get holderPid(): string { return path.join(this.dir, 'holder.pid'); }
  get exit(): string { return path.join(this.dir, 'exit'); }
  get exitDir(): string { return path.join(this.dir, 'exitdir'); }
  get stdinClosed(): string { return path.join(this.dir, 'stdin.closed'); }
  /** The daemon's marker: the end is in events (written once, at the end or at the restart that found it). */
  get reported(): string { return path.join(this.dir, 'exit.reported'); }
  /** conmon's marker: the container's cgroup had an OOM kill while this process ran. */
  get oom(): string { return path.join(this.dir, 'oom'); }
  // A process with a terminal (docs/processes.md, Terminals): conmon's k8s-file log of the
  // terminal, the daemon's position in it, conmon's attach socket and control FIFO (conmon
  // makes both in its bundle dir, this dir), and the size last set.
  get ttyLog(): string { return path.join(this.dir, 'tty.log'); }
  get ttyPos(): string { return path.join(this.dir, 'tty.pos'); }
  get attach(): string { return path.join(this.dir, 'attach'); }
  get conmonCtl(): string { return path.join(this.dir, 'ctl'); }
  get winsize(): string { return path.join(this.dir, 'winsize'); }
}
