/**
 * The container domain, assembled: state dir, images, runtime, registry, life cycle and
 * the ctl command executor. Knows nothing of FUSE; the fs layer calls into it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { StatePaths } from './paths.js';
import { EventLog } from './events.js';
import { Registry } from './registry.js';
import { Lifecycle } from './lifecycle.js';
import { Commands } from './commands.js';
import { PeriodicCheck } from './checks.js';
import { GraceCheck } from './grace.js';
import { ImageStore } from '../drivers/images/store.js';
import { OciRuntime } from '../drivers/runtime/oci.js';
import { crunForHost } from '../drivers/runtime/crun-hybrid.js';
import { instanceId, removeInstanceCgroups } from '../drivers/cgroups/hierarchy.js';
import { checkOverlayPath } from '../drivers/rootfs/overlay.js';
import { SystemFailure } from '../errors.js';
import { SYSTEM_PATH } from '../util/exec.js';
import { ReaderBudget } from './budget.js';
import { Network } from './network.js';
import { detectCgroupHost, type CgroupHost } from '../drivers/cgroups/host.js';
import { removeTree } from '../util/files.js';
import { renderMetrics, sample } from './metrics.js';
import { layerFsUseSync } from '../drivers/rootfs/disklayer.js';
import type { Container } from './container.js';

export interface WardenOptions {
  stateDir: string;
  /** runc, crun, or a path to an OCI runtime binary. */
  runtime: string;
  /** The address pool of the bridge network (used by the network driver). */
  subnet: string;
  /** The idle init bind-mounted into every container. */
  initBinary?: string;
  /** Bytes of stdout and of stderr kept on disk per process (default 64 MiB). */
  outputCap?: number;
  /** Readers that may wait at once in stream and wait files (default 512). */
  maxBlockedReaders?: number;
  /** pids.max of containers created without one (default 4096; 'max': no limit). */
  defaultPidsMax?: number | 'max';
}

export const DEFAULT_OUTPUT_CAP = 64 * 1024 * 1024;
export const DEFAULT_MAX_BLOCKED_READERS = 512;
export const DEFAULT_PIDS_MAX = 4096;

export const INIT_CANDIDATES = ['/usr/bin/catatonit', '/usr/libexec/podman/catatonit'];

async function findInit(explicit?: string): Promise<string> {
  for (const p of explicit ? [explicit] : INIT_CANDIDATES) {
    try {
      if ((await fs.stat(p)).isFile()) return p;
    } catch { /* not there: the next candidate */ }
  }
  throw new SystemFailure('no idle init found: install Debian\'s catatonit (scripts/setup.sh does)');
}

export async function resolveRuntime(runtime: string): Promise<string> {
  if (runtime.includes('/')) return path.resolve(runtime);
  for (const dir of SYSTEM_PATH.split(':')) {
    const p = path.join(dir, runtime);
    try {
      await fs.access(p, fs.constants.X_OK);
      return p;
    } catch { /* not in this directory: the next */ }
  }
  throw new SystemFailure(`OCI runtime ${JSON.stringify(runtime)} not found`);
}

export class Warden {
  readonly paths: StatePaths;
  readonly registry = new Registry();
  readonly events: EventLog;
  readonly images: ImageStore;
  readonly runtime: OciRuntime;
  readonly lifecycle: Lifecycle;
  readonly commands: Commands;
  readonly instance: string;
  readonly readers: ReaderBudget;
  readonly network: Network;
  private ticker?: NodeJS.Timeout;
  private readonly checks = new PeriodicCheck(this.registry);
  /**
   * Set by the fs layer (daemon/mount.ts): collects the uses of container trees that the FUSE
   * binding answered itself, before a grace decision (core/grace.ts).
   */
  useProbe?: () => void;
  private readonly grace = new GraceCheck({
    all: () => this.registry.all(),
    find: (name) => this.registry.find(name),
    destroy: (name, reason) => this.lifecycle.destroy(name, reason),
    probe: () => this.useProbe?.(),
    joined: (name) => this.lifecycle.joiners(name).length > 0,
  });

  private constructor(readonly options: WardenOptions, runtimeBinary: string, initBinary: string, readonly cgroupHost: CgroupHost) {
    this.paths = new StatePaths(path.resolve(options.stateDir));
    this.instance = instanceId(this.paths.root);
    this.events = new EventLog(this.paths.events);
    this.images = new ImageStore(this.paths.images, (image) => this.registry.imageInUse(image));
    this.runtime = new OciRuntime(runtimeBinary, this.paths.runtimeRoot);
    this.network = new Network(this.instance, options.subnet, this.registry);
    this.lifecycle = new Lifecycle({
      paths: this.paths, runtime: this.runtime, images: this.images, registry: this.registry,
      instance: this.instance, initBinary, outputCap: options.outputCap ?? DEFAULT_OUTPUT_CAP, cgroupHost,
      network: this.network, defaultPidsMax: options.defaultPidsMax ?? DEFAULT_PIDS_MAX,
      events: this.events,
    });
    this.readers = new ReaderBudget(options.maxBlockedReaders ?? DEFAULT_MAX_BLOCKED_READERS);
    this.commands = new Commands(this);
  }

  static async open(options: WardenOptions): Promise<Warden> {
    const root = path.resolve(options.stateDir);
    checkOverlayPath(root);
    await fs.mkdir(root, { recursive: true, mode: 0o700 });
    let runtime = await resolveRuntime(options.runtime);
    if (path.basename(runtime) === 'crun') runtime = await crunForHost(runtime, root);
    const w = new Warden(options, runtime, await findInit(options.initBinary), await detectCgroupHost());
    await fs.mkdir(w.paths.runtimeRoot, { recursive: true, mode: 0o700 });
    return w;
  }

  /** Make the default image if needed and take up the containers recorded in the state dir. */
  async start(progress: (line: string) => void): Promise<void> {
    await this.images.sweep();
    await this.images.ensureDefault(progress);
    await this.lifecycle.adoptAll();
    progress(`${this.registry.names().length} container(s) taken up`);
    // Once a second: the periodic check of every container (checks.ts), then the grace times (grace.ts).
    this.ticker = setInterval(() => void this.checks.tick().then(() => this.grace.tick()), 1000);
    this.ticker.unref();
  }

  /** The metrics text (core/metrics.ts) of every container, by name, or of one. */
  metrics(only?: Container): string {
    const cs = only ? [only] : this.registry.names().map((n) => this.registry.find(n)).filter((c): c is Container => c !== undefined);
    return renderMetrics(sample(cs, (records) => this.network.countersOf(records), (c) => {
      const limit = c.record.settings['disk.max'];
      return typeof limit === 'number' ? { ...layerFsUseSync(c.paths.layer), limit } : undefined;
    }));
  }

  stop(): void {
    clearInterval(this.ticker);
  }

  /** Destroy every container recorded here, release their host resources, empty the state dir. */
  async reset(): Promise<void> {
    await this.lifecycle.teardownAll();
    await removeInstanceCgroups(this.instance);
    await this.network.reset();
    // No state dir: nothing to empty.
    for (const entry of await fs.readdir(this.paths.root).catch(() => [] as string[])) {
      await removeTree(path.join(this.paths.root, entry));
    }
  }
}
