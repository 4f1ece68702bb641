/**
 * One process of a container, as the daemon holds it: what it runs, whether it runs,
 * how it ended, and the machinery for readers that wait (stream reads at the end of the
 * output, `wait`): they are promises settled when the output grows or the process ends,
 * never a blocked thread.
 */
import { watch, type FSWatcher } from 'node:fs';
import { signalName } from '../ctl/values.js';
import type { ProcMeta } from '../model/records.js';
import type { ProcPaths } from '../drivers/monitor/paths.js';
import type { StdinSink, TtyLog } from '../drivers/monitor/terminal.js';
import { logger } from '../util/log.js';

const log = logger('procs');

export type { ProcMeta };

export type ProcStatus =
  | { state: 'running' }
  | { state: 'exited'; code: number }
  | { state: 'killed'; signal: string };

/**
 * conmon records 128+N for a process killed by signal N (it cannot tell exit(137) from
 * SIGKILL); a status above 128 naming a real signal is reported as killed.
 */
export function statusFromExit(exit: number): ProcStatus {
  if (exit > 128 && exit < 128 + 65) {
    const name = signalName(exit - 128);
    if (!/^\d+$/.test(name)) return { state: 'killed', signal: name };
  }
  return { state: 'exited', code: exit };
}

export function statusLine(s: ProcStatus): string {
  switch (s.state) {
    case 'running': return 'running';
    case 'exited': return `exited ${s.code}`;
    case 'killed': return `killed ${s.signal}`;
  }
}

export type Stream = 'stdout' | 'stderr';

export class Proc {
  status: ProcStatus = { state: 'running' };
  pid: number;
  conmonPid: number;
  stdin?: StdinSink;
  stdinClosed = false;
  /** A process with a terminal: the copy of its terminal's log into stdout (drivers/monitor/terminal.ts). */
  tty?: TtyLog;
  /** inotify on the terminal's log while the process runs: each change is copied at once. */
  ttyWatcher?: FSWatcher;
  /** Settled once, when the process has ended. */
  readonly ended: Promise<void>;
  private markEnded!: () => void;
  private readonly waiters = new Map<Stream, Set<() => void>>();
  private readonly watchers = new Map<Stream, FSWatcher>();

  constructor(readonly meta: ProcMeta, readonly paths: ProcPaths, pid: number, conmonPid: number) {
    this.pid = pid;
    this.conmonPid = conmonPid;
    this.ended = new Promise((resolve) => { this.markEnded = resolve; });
  }

  get id(): string { return this.meta.id; }
  get running(): boolean { return this.status.state === 'running'; }

  /** Record the end; wakes every waiting reader. */
  finish(status: ProcStatus): void {
    if (!this.running) return;
    this.status = status;
    this.markEnded();
    for (const set of this.waiters.values()) for (const wake of set) wake();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.ttyWatcher?.close();
    this.ttyWatcher = undefined;
    void this.stdin?.close().catch((e: unknown) => log('closing the stdin of %s: %s', this.id, e)); // it has ended: nobody to tell
    this.stdin = undefined;
  }

  /**
   * A promise settled at the next change of a stream (growth) or at the end. Taken
   * before the reader looks at the file, so a write between the look and the wait is
   * not missed. `cancel` drops the registration.
   */
  nextChange(stream: Stream): { changed: Promise<void>; cancel: () => void } {
    let wake!: () => void;
    const changed = new Promise<void>((resolve) => { wake = resolve; });
    if (!this.running) {
      wake();
      return { changed, cancel: () => undefined };
    }
    let set = this.waiters.get(stream);
    if (!set) this.waiters.set(stream, (set = new Set()));
    set.add(wake);
    this.watch(stream);
    const cancel = (): void => {
      set!.delete(wake);
      if (set!.size === 0) this.unwatch(stream);
    };
    return { changed: changed.then(cancel), cancel };
  }

  /** inotify on the output file while someone waits on it: the process writes it directly. */
  private watch(stream: Stream): void {
    if (this.watchers.has(stream)) return;
    try {
      const w = watch(this.paths[stream], { persistent: false }, () => {
        const set = this.waiters.get(stream);
        if (set) for (const wake of [...set]) wake();
      });
      w.on('error', () => this.unwatch(stream));
      this.watchers.set(stream, w);
    } catch {
      // No watch (file gone): the periodic check of the process table still wakes readers at the end.
    }
  }

  private unwatch(stream: Stream): void {
    this.watchers.get(stream)?.close();
    this.watchers.delete(stream);
  }

  /** Wake readers of both streams (used by the periodic check as a fallback to inotify). */
  poke(): void {
    for (const set of this.waiters.values()) for (const wake of [...set]) wake();
  }
}
