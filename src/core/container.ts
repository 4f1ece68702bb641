/** A container as the daemon holds it: its persisted record plus what is true right now. */
import type { CreateOptions } from '../model/settings.js';
import type { ContainerRecord, IdRange } from '../model/records.js';
import type { ImageConfig } from '../model/image.js';
import type { ContainerPaths } from './paths.js';
import { EventLog } from './events.js';
import { ProcessTable, type ProcessDeps } from './processes.js';
import type { Cgroup } from '../drivers/cgroups/files.js';
import { RootfsResolver } from '../drivers/rootfs/resolver.js';
import { NotFound } from '../errors.js';
import { monotonicMs } from './clock.js';

/** What container.json holds: enough to rebuild the container's bundle and to adopt it after a restart. */
export type { ContainerRecord };

export type ContainerState = 'active' | 'destroying';

export class Container {
  state: ContainerState = 'active';
  /** The host pid of the idle init. */
  initPid: number;
  readonly events: EventLog;
  /** Set while a destroy is under way, so that a second destroy joins it. */
  destroying?: Promise<void>;
  /** Set while an image commit copies its files, frozen (core/commit.ts); settles (never rejects) when it ends. */
  committing?: Promise<void>;

  readonly procs: ProcessTable;

  /**
   * When its tree was last used (monotonic ms, core/clock.ts; see core/grace.ts): at creation and at adoption
   * (a restarted daemon starts the clock again), then at each use the fs layer reports.
   */
  lastUse = monotonicMs();

  constructor(readonly record: ContainerRecord, readonly paths: ContainerPaths, initPid: number, deps: ProcessDeps, readonly cgroup: Cgroup) {
    this.initPid = initPid;
    this.events = new EventLog(paths.events);
    this.procs = new ProcessTable(this, deps);
  }

  get name(): string { return this.record.name; }

  /** A use of its tree (fs/ calls this): restarts the grace clock. */
  touch(): void {
    this.lastUse = monotonicMs();
  }

  private resolver?: Promise<RootfsResolver>;

  /** The confined view of the container's root (opened once, on first use). */
  rootfs(): Promise<RootfsResolver> {
    // Never opened again once a destroy has closed it: it would keep the overlay busy, and
    // the FUSE binding would go on answering for a container that is gone.
    if (this.state === 'destroying') return Promise.reject(new NotFound(`container ${this.name} is being destroyed`));
    this.resolver ??= RootfsResolver.open(this.paths.rootfs);
    return this.resolver;
  }

  /** Close it before the overlay is unmounted: an open root fd keeps the mount busy. */
  async closeRootfs(): Promise<void> {
    const r = this.resolver;
    this.resolver = undefined;
    if (r) await (await r.catch(() => undefined))?.close(); // a resolver that never opened has nothing to close
  }
}

export function recordFrom(name: string, options: CreateOptions, image: string, cgroupsPath: string, address?: string, idmap?: IdRange, imageConfig?: ImageConfig): ContainerRecord {
  return {
    ...(address ? { address } : {}),
    seccomp: options.seccomp ?? 'default',
    ...(idmap ? { idmap } : {}),
    name,
    image,
    net: options.net ?? 'bridge',
    env: options.env,
    settings: options.settings,
    ...(options.properties && Object.keys(options.properties).length > 0 ? { properties: options.properties } : {}),
    ...(options.grace !== undefined ? { grace: options.grace } : {}),
    created: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    cgroupsPath,
    ...(imageConfig && Object.keys(imageConfig).length ? { imageConfig } : {}),
    ...(options.rlimits && Object.keys(options.rlimits).length ? { rlimits: options.rlimits } : {}),
    ...(options.joins !== undefined ? { joins: options.joins } : {}),
    ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
  };
}
