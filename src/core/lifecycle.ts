/**
 * Container life cycle: create, destroy, adopt after a restart, and tear down what a
 * failed or interrupted create left. Create does its steps in order and writes
 * container.json last; any failure undoes every step, so nothing half-made is left.
 */
import { promises as fs } from 'node:fs';
import { BadRequest, Busy, NotFound, q } from '../errors.js';
import type { CreateOptions } from '../model/settings.js';
import type { Limit } from '../model/limits.js';
import { isValidName, isValidHostname } from '../ctl/values.js';
import { writeFileAtomic, randomHex, exists, removeTree } from '../util/files.js';
import { logger } from '../util/log.js';
import type { OciRuntime } from '../drivers/runtime/oci.js';
import { buildSpec } from '../drivers/runtime/spec.js';
import { mountOverlay, unmountOverlay, type OverlayLayout } from '../drivers/rootfs/overlay.js';
import { allocateRange, type IdRange } from '../drivers/rootfs/idrange.js';
import { IdClaims } from '../drivers/rootfs/idclaims.js';
import { cgroupsPathFor, removeCgroupDirs } from '../drivers/cgroups/hierarchy.js';
import { cgroupOf, type CgroupHost } from '../drivers/cgroups/host.js';
import { DEFAULT_IMAGE, type ImageStore } from '../drivers/images/store.js';
import { Container, recordFrom, type ContainerRecord } from './container.js';
import { EventLog } from './events.js';
import type { Network } from './network.js';
import { saveRecord, loadRecord, decodeRecord, type RecordFile } from './record.js';
import { checkRlimits, hostRlimitCeiling } from '../drivers/runtime/rlimits.js';
import { propertiesAtCreate } from './properties.js';
import { endAllMonitors } from '../drivers/monitor/conmon.js';
import { RootfsResolver } from '../drivers/rootfs/resolver.js';
import { makeLayerFs, mountLayerFs, unmountLayerFs } from '../drivers/rootfs/disklayer.js';
import { attachAll, checkHost, mountPolicy, type MountPolicy } from './mounts.js';
import path from 'node:path';
import type { Registry } from './registry.js';
import type { StatePaths, ContainerPaths } from './paths.js';

const log = logger('lifecycle');

/**
 * Every directory from `dir` up to / must let others pass (o+x): a container in a user
 * namespace has its root set up by an unprivileged host id. Said plainly, rather than as
 * the runtime's "permission denied" on some path.
 */
async function checkPassable(dir: string): Promise<void> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = await fs.stat(d);
    if (!(st.mode & 0o001)) {
      throw new BadRequest(`${d} does not let others pass (mode ${(st.mode & 0o777).toString(8)}): containers in a user namespace need o+x on every directory above the state dir (chmod o+x, or create privileged=true)`);
    }
    if (d === '/') return;
  }
}

/** What a life cycle needs of the OCI runtime (OciRuntime; a fake in core unit tests). */
export type ContainerRuntime = Pick<OciRuntime, 'binary' | 'root' | 'runDetached' | 'state' | 'delete' | 'list'>;
/** What it needs of the image store. */
export type LifecycleImages = Pick<ImageStore, 'isChanging' | 'has' | 'rootfs' | 'config'> & Partial<Pick<ImageStore, 'guard'>>;
/** What it needs of the network. */
export type LifecycleNetwork = Pick<Network, 'allocate' | 'release' | 'checkPorts' | 'setup' | 'nsPath' | 'teardown' | 'adopt' | 'reapply'>;

/** The host operations of a life cycle beside runtime, images and network: the real drivers unless a test passes fakes. */
export interface LifecycleHost {
  mountOverlay(l: OverlayLayout): Promise<void>;
  unmountOverlay(merged: string): Promise<void>;
  removeCgroupDirs(cgroupsPath: string): Promise<void>;
  endAllMonitors(procsDir: string): Promise<void>;
  /** The container's directory given to its user namespace's root (fs.chown). */
  chown(path: string, uid: number, gid: number): Promise<void>;
  /** Host-wide claims of id ranges (drivers/rootfs/idclaims.ts). */
  claims: Pick<IdClaims, 'claim' | 'release'>;
}

export function realLifecycleHost(): LifecycleHost {
  return { mountOverlay, unmountOverlay, removeCgroupDirs, endAllMonitors, chown: (p, uid, gid) => fs.chown(p, uid, gid), claims: new IdClaims() };
}

export interface LifecycleDeps {
  paths: StatePaths;
  runtime: ContainerRuntime;
  images: LifecycleImages;
  registry: Registry;
  instance: string;
  initBinary: string;
  /** Bytes of stdout and of stderr kept on disk per process. */
  outputCap: number;
  cgroupHost: CgroupHost;
  network: LifecycleNetwork;
  /** The global events: `created NAME`, `destroyed NAME`. */
  events: EventLog;
  /** pids.max of a container created without one (`--default-pids-max`; 'max': none). */
  defaultPidsMax: number | 'max';
  /** Default: realLifecycleHost(). */
  host?: LifecycleHost;
}

export class Lifecycle {
  private readonly host: LifecycleHost;
  private readonly claims: LifecycleHost['claims'];

  /** The checks of bind mounts' host paths (core/mounts.ts). */
  readonly mountPolicy: MountPolicy;

  constructor(private readonly d: LifecycleDeps) {
    this.host = d.host ?? realLifecycleHost();
    this.claims = this.host.claims;
    this.mountPolicy = mountPolicy(d.paths.root, () => d.images.guard);
  }

  /** Id ranges of creates under way (not in the registry yet). */
  private readonly idsInFlight = new Set<number>();

  /**
   * The lowest free host id range of this tree (one per container: docs/security.md §7),
   * claimed host-wide so that no other tree hands it out too.
   */
  private async allocateIds(owner: string): Promise<IdRange> {
    const taken = new Set(this.idsInFlight);
    for (const c of this.d.registry.all()) if (c.record.idmap) taken.add(c.record.idmap.base);
    for (;;) {
      const r = allocateRange(this.d.instance, taken); // throws when none is left
      this.idsInFlight.add(r.base); // before the await: a concurrent create skips it
      let claimed: boolean;
      try {
        claimed = await this.claims.claim(r.base, owner);
      } catch (e) {
        this.idsInFlight.delete(r.base); // a claim that failed holds nothing
        throw e;
      }
      if (claimed) return r;
      this.idsInFlight.delete(r.base);
      taken.add(r.base);
    }
  }

  private get procDeps() {
    return { runtime: this.d.runtime, outputCap: this.d.outputCap };
  }

  private generateName(): string {
    for (;;) {
      const name = `c-${randomHex(3)}`;
      if (!this.d.registry.taken(name)) return name;
    }
  }

  async create(requested: string | undefined, options: CreateOptions): Promise<Container> {
    const { registry, images, paths } = this.d;
    const image = options.image ?? DEFAULT_IMAGE;
    const name = requested ?? this.generateName();
    const s = options.settings;
    const pod = options.joins !== undefined ? this.joinable(options.joins, options) : undefined;
    // A joining container has no network of its own: it is in its pod's namespace.
    const net = pod ? 'none' : options.net ?? 'bridge';
    if (pod) options = { ...options, net, privileged: !pod.record.idmap };
    if (options.hostname !== undefined && !isValidHostname(options.hostname)) throw new BadRequest(`bad hostname ${q(options.hostname)}`);
    if (pod && options.hostname !== undefined) throw new BadRequest('the hostname is that of the container joined');
    if (net === 'none' && (s.ports || s.rules || s.rate)) throw new BadRequest('ports, rules and rate need net=bridge');
    // Values were parsed by ctl/; the ports are checked before anything is made (a refused one changes nothing).
    if (s.ports) this.d.network.checkPorts(name, s.ports);
    if (options.rlimits) checkRlimits(options.rlimits, hostRlimitCeiling());
    for (const m of s.mounts ?? []) await checkHost(m, this.mountPolicy); // a refused host path changes nothing
    if (s['pids.max'] === undefined && this.d.defaultPidsMax !== 'max') s['pids.max'] = this.d.defaultPidsMax;
    registry.reserve(name, image); // synchronous: a second create of this name fails with EEXIST
    if (pod) this.joining.set(name, pod.name); // from here on the pod cannot be destroyed under it
    const cp = paths.container(name);
    let idmap: IdRange | undefined;
    try {
      // The directory before anything is claimed for it: a daemon killed from here on leaves
      // a directory without a record, which the next start sweeps with all it holds (the id
      // claim included; a claim of no directory would stay in /run until it went stale).
      await fs.mkdir(cp.dir, { recursive: true, mode: 0o700 });
      // A joining container shares its pod's user namespace, so its id range (claimed by the pod).
      if (pod) idmap = pod.record.idmap;
      else if (!options.privileged) idmap = await this.allocateIds(cp.dir);
      const address = net === 'bridge' ? this.d.network.allocate(name) : undefined;
      if (images.isChanging(image)) throw new Busy(`image ${q(image)} is being imported or removed`);
      if (!(await images.has(image))) throw new NotFound(`no such image ${q(image)}`);
      // The image's run configuration is copied into the record: the container keeps it whatever becomes of the image.
      const imageConfig = await images.config(image);
      // Its labels are the default properties; the create's own prop. options win.
      const props = propertiesAtCreate(imageConfig.Labels, options.properties);
      const record = recordFrom(name, { ...options, properties: props.properties }, image, cgroupsPathFor(this.d.instance, name), address, idmap, imageConfig);
      const pid = await this.build(record, cp);
      await saveRecord(cp, record);
      const c = new Container(record, cp, pid, this.procDeps, cgroupOf(this.d.cgroupHost, record.cgroupsPath));
      registry.add(c);
      await c.events.append(`created image=${image} pid=${pid}`);
      if (props.skipped.length > 0) await c.events.append(`labels not made properties: ${props.skipped.map((k) => JSON.stringify(k)).join(' ')}`);
      await this.d.events.append(`created ${name}`);
      log('created %s (pid %d)', name, pid);
      return c;
    } catch (e) {
      await this.teardown(name, cp).catch((te: unknown) => log('cleanup of failed create %s: %s', name, te));
      throw e;
    } finally {
      registry.release(name);
      this.d.network.release(name);
      if (idmap && !pod) this.idsInFlight.delete(idmap.base);
      this.joining.delete(name);
    }
  }

  /** The container `podName` as one to join: active, and not itself joining another. */
  private joinable(podName: string, options: CreateOptions): Container {
    const pod = this.d.registry.get(podName);
    if (pod.state !== 'active') throw new BadRequest(`container ${q(podName)} is being destroyed`);
    if (pod.record.joins !== undefined) throw new BadRequest(`container ${q(podName)} joins ${q(pod.record.joins)}: join that one`);
    const s = options.settings;
    if (options.net !== undefined || s.ports || s.rules || s.rate || options.privileged !== undefined) {
      throw new BadRequest('net, ports, rules, rate and privileged are those of the container joined');
    }
    return pod;
  }

  /** Creates under way that join a container: their name → the container joined. */
  private readonly joining = new Map<string, string>();

  /** The containers that join `name`'s namespaces, made or being made. */
  joiners(name: string): string[] {
    const made = this.d.registry.all().filter((c) => c.record.joins === name).map((c) => c.name);
    const making = [...this.joining].filter(([, pod]) => pod === name).map(([n]) => n);
    return [...new Set([...made, ...making])].sort();
  }

  /** Mount the overlay, write the bundle and start the idle init; returns its pid. */
  private async build(record: ContainerRecord, cp: ContainerPaths, adopting = false): Promise<number> {
    await fs.mkdir(cp.bundle, { recursive: true, mode: 0o700 });
    // A joining container's namespaces are those of its pod's init, as it runs now.
    const joinPid = record.joins !== undefined ? this.d.registry.get(record.joins).initPid : undefined;
    if (record.idmap && joinPid === undefined) {
      // Claimed at create; again after a reboot (/run is empty then). A conflict cannot move
      // the range (the layer's files are in it): it is logged.
      if (!(await this.claims.claim(record.idmap.base, cp.dir))) log('%s: id range %d is claimed by another tree', record.name, record.idmap.base);
    }
    if (record.idmap) {
      // The runtime sets up the root from inside the user namespace, as the container's root:
      // every directory above the overlay must let it pass. The state dir and containers/
      // let anyone pass (search only, no listing, as Docker's root with userns-remap); the
      // container's own directory only its root's group, so neither host users nor another
      // container's ids reach its files.
      await checkPassable(path.dirname(this.d.paths.root));
      for (const dir of [this.d.paths.root, this.d.paths.containers]) await fs.chmod(dir, 0o711);
      await this.host.chown(cp.dir, 0, record.idmap.base);
      await fs.chmod(cp.dir, 0o710);
    }
    // disk.max: the layer on a file system of its own, as large as the limit (disklayer.ts).
    const disk = record.settings['disk.max'];
    if (typeof disk === 'number') {
      if (!(await exists(cp.layerImage))) await makeLayerFs(cp.layerImage, disk);
      await mountLayerFs(cp.layerImage, cp.layer);
    }
    const own = typeof disk === 'number';
    await this.host.mountOverlay({
      lower: this.d.images.rootfs(record.image), upper: own ? cp.layerUpper : cp.upper, work: own ? cp.layerWork : cp.work, merged: cp.rootfs,
      ...(record.idmap ? { idmap: record.idmap, idmapAt: cp.idmappedLower } : {}),
    });
    // A container in a user namespace gets its network after the start: the runtime makes
    // its netns, owned by its user namespace, and the daemon attaches it (spec.ts says why).
    if (!record.idmap) await this.d.network.setup(record, { adopting });
    const spec = buildSpec({
      hostname: record.hostname ?? record.name,
      rootfs: cp.rootfs,
      initBinary: this.d.initBinary,
      cgroupsPath: record.cgroupsPath,
      env: record.env,
      settings: record.settings,
      seccomp: record.seccomp !== 'unconfined',
      ...(record.idmap ? { idmap: record.idmap } : {}),
      ...(record.net === 'bridge' && !record.idmap ? { netnsPath: this.d.network.nsPath(record.name) } : {}),
      ...(joinPid !== undefined ? { joinPid } : {}),
    });
    await writeFileAtomic(cp.config, JSON.stringify(spec, null, 2) + '\n', 0o600);
    const pid = await this.d.runtime.runDetached(record.name, cp.bundle);
    if (record.idmap) await this.d.network.setup(record, { adopting, initPid: pid });
    // Bind mounts are attached into the running init's namespace, at create as live (mounts.ts),
    // so that both take the same checks and the same walk of the container's path.
    if (record.settings.mounts?.length) {
      const root = RootfsResolver.open(cp.rootfs);
      try {
        await attachAll({ pid, root: () => root, ...(record.idmap ? { idmap: record.idmap } : {}) }, record.settings.mounts, this.mountPolicy);
      } finally {
        await (await root.catch(() => undefined))?.close();
      }
    }
    return pid;
  }

  /**
   * Destroy: kill every process, release the runtime state, cgroups and overlay, delete the
   * state. `reason` (the grace time) goes in the events lines. The container is marked
   * `destroying` synchronously, before the first await (core/grace.ts relies on it).
   */
  destroy(name: string, reason?: string): Promise<void> {
    const c = this.d.registry.get(name);
    const why = reason ? ` (${reason})` : '';
    // Its namespaces are theirs too: they go first (a CRI pod's containers are removed before it).
    const joiners = this.joiners(name);
    if (!c.destroying && joiners.length) return Promise.reject(new Busy(`containers join the namespaces of ${q(name)}: ${joiners.join(' ')}`));
    c.destroying ??= (async () => {
      c.state = 'destroying';
      await c.events.append(`destroying${why}`);
      try {
        // A commit under way copies from the overlay: the teardown waits for it (core/commit.ts).
        await c.committing;
        await c.closeRootfs();
        await this.teardown(name, c.paths, c.record.cgroupsPath, c.record);
        c.procs.endAll();
        this.d.registry.remove(name);
        await this.d.events.append(`destroyed ${name}${why}`);
        log('destroyed %s', name);
      } catch (e) {
        c.destroying = undefined; // a later destroy may try again
        throw e;
      }
    })();
    return c.destroying;
  }

  /**
   * Release everything a container (whole or half-made) may hold. Idempotent: each step
   * checks whether there is anything to undo. The record goes first, so an interrupted
   * teardown leaves a half-made container that the next start sweeps.
   */
  async teardown(name: string, cp: ContainerPaths, cgroupsPath = cgroupsPathFor(this.d.instance, name), record?: ContainerRecord): Promise<void> {
    // The base of its id claim, from the record on disk when the caller has none (reset, a
    // sweep): without it the release reads every claim on the host, which made a reset of N
    // containers O(N²) (3000: ~1 s each; scripts/bench/notes.md).
    const onDisk = record ? undefined : await loadRecord(cp).catch(() => undefined);
    const claimBase = record ? record.idmap?.base : claimBaseOf(onDisk);
    await fs.rm(cp.record, { force: true });
    await this.d.runtime.delete(name); // kills every process of the container
    await this.host.endAllMonitors(path.join(cp.dir, 'procs'));
    await this.host.removeCgroupDirs(cgroupsPath);
    // A net=none container has nothing in the network; without a record in hand the one on
    // disk says so (else two `nft` per container: a reset of 3000 spent most of its time there).
    if (record || onDisk?.net !== 'none') await this.d.network.teardown(name, record);
    await this.host.unmountOverlay(cp.rootfs);
    await this.host.unmountOverlay(cp.idmappedLower); // attached only during a start; read-only, so rm can never reach the image
    if (await exists(cp.layerImage)) await unmountLayerFs(cp.layer); // after the overlay, which holds it
    await removeTree(cp.dir); // a container's upper dir may be deeper than PATH_MAX
    await this.claims.release(cp.dir, claimBase);
  }

  /**
   * At start: take up every container recorded in the state dir. A running init is
   * adopted as it is; one that is gone (host reboot, killed) is started again on the
   * same layer. Directories without a record are leftovers of an interrupted create.
   */
  async adoptAll(): Promise<void> {
    await fs.mkdir(this.d.paths.containers, { recursive: true, mode: 0o700 });
    const found: Array<{ name: string; cp: ContainerPaths; file: RecordFile }> = [];
    for (const name of await fs.readdir(this.d.paths.containers)) {
      const cp = this.d.paths.container(name);
      const file = isValidName(name) ? await loadRecord(cp).catch((e: unknown) => {
        log('no readable record for %s (an interrupted create): %s', name, e); // swept below
        return undefined;
      }) : undefined;
      if (!file || file.name !== name) {
        log('sweeping half-made container %s', name);
        await this.teardown(name, cp).catch((e: unknown) => log('sweep %s: %s', name, e));
        continue;
      }
      found.push({ name, cp, file });
    }
    // The containers others join first: a joiner started again needs its pod's init.
    found.sort((a, b) => Number(a.file.joins !== undefined) - Number(b.file.joins !== undefined));
    for (const { name, cp, file } of found) {
      try {
        const record = decodeRecord(file); // a value it cannot take: kept on disk, not adopted (below)
        // A daemon killed during an image commit left the container frozen (core/commit.ts);
        // thawed first: the runtime says "paused" of a frozen one, which revive() would restart.
        await cgroupOf(this.d.cgroupHost, record.cgroupsPath).thaw().catch((e: unknown) => log('thawing %s: %s', name, e)); // no cgroup or freezer: nothing frozen
        const pid = await this.revive(record, cp);
        const c = new Container(record, cp, pid, this.procDeps, cgroupOf(this.d.cgroupHost, record.cgroupsPath));
        if (await exists(cp.changing)) await this.reapply(c);
        await c.procs.adopt();
        // The forwards' host ports were held by the daemon that stopped: held again here.
        for (const m of await this.d.network.adopt(record)) await c.events.error(m);
        this.d.registry.add(c);
      } catch (e) {
        // The container stays on disk for reset; it is not listed because it cannot run.
        log('cannot adopt %s: %s', name, e);
      }
    }
  }

  /**
   * A settings change was under way when the daemon died (core/changes.ts): the kernel may
   * hold it while the record does not, or the other way round. The record is what a reboot
   * brings back and what the tree shows: it is applied again, then the marker goes.
   */
  private async reapply(c: Container): Promise<void> {
    log('%s: a settings change was cut off; applying the record again', c.name);
    const s = c.record.settings;
    const limits: Limit[] = [
      { key: 'memory.max', value: s['memory.max'] ?? 'max' },
      { key: 'pids.max', value: s['pids.max'] ?? 'max' },
      { key: 'cpu.max', value: s['cpu.max'] ?? { quota: 'max', period: 100_000 } },
    ];
    // No weight recorded: the kernel's default is not one a weight can be written as on
    // cgroup v1 (shares 1024), so the value is left as it is (docs/reliability.md).
    if (s['cpu.weight'] !== undefined) limits.push({ key: 'cpu.weight', value: s['cpu.weight'] });
    for (const l of limits) await c.cgroup.write(l);
    await this.d.network.reapply(c.record);
    await fs.rm(c.paths.changing, { force: true });
    await c.events.append('settings applied again from the record (a change was cut off by the daemon\'s end)');
  }

  private async revive(record: ContainerRecord, cp: ContainerPaths): Promise<number> {
    const state = await this.d.runtime.state(record.name);
    if (state && state.status === 'running' && state.pid > 0) return state.pid;
    log('restarting the init of %s (runtime says %s)', record.name, state?.status ?? 'unknown');
    await this.d.runtime.delete(record.name);
    const pid = await this.build(record, cp, true);
    await new EventLog(cp.events).append(`restarted pid=${pid}`);
    return pid;
  }

  /** reset: tear down every container directory in the state dir, listed or not. */
  async teardownAll(): Promise<void> {
    const names = new Set(await this.d.runtime.list());
    if (await exists(this.d.paths.containers)) {
      for (const name of await fs.readdir(this.d.paths.containers)) names.add(name);
    }
    for (const name of names) await this.teardown(name, this.d.paths.container(name));
  }
}

/** The id-claim base a record file names, if it is a plain number (else: none). */
function claimBaseOf(f: RecordFile | undefined): number | undefined {
  const base = f?.idmap?.base;
  return Number.isSafeInteger(base) && base! >= 0 ? base : undefined;
}
