/**
 * Fake drivers for core unit tests (no root, no runc, no mounts, no /sys writes): a
 * runtime, images, network and host operations that record what they hold and fail on
 * demand at a named step. The life cycle under test works on a real state dir in a
 * temporary directory.
 */
import { promises as fs, mkdtempSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ImageConfig } from '../../src/model/image.js';
import { Lifecycle, type ContainerRuntime, type LifecycleHost, type LifecycleImages, type LifecycleNetwork } from '../../src/core/lifecycle.js';
import { Registry } from '../../src/core/registry.js';
import { EventLog } from '../../src/core/events.js';
import { StatePaths } from '../../src/core/paths.js';
import type { RuntimeState } from '../../src/drivers/runtime/oci.js';
import type { ContainerRecord } from '../../src/core/container.js';
import type { OverlayLayout } from '../../src/drivers/rootfs/overlay.js';

/** The steps a fake can be told to fail at. */
export type Step =
  | 'claim' | 'allocate' | 'images.has' | 'images.config' | 'chown' | 'mount' | 'net.setup' | 'runtime.run'
  | 'runtime.delete' | 'monitors.end' | 'cgroups.remove' | 'net.teardown' | 'unmount' | 'claims.release';

export class Injected extends Error {
  constructor(readonly step: Step) { super(`injected failure at ${step}`); }
}

/** What the fakes hold now, and every call, in order. */
export class World {
  readonly calls: string[] = [];
  /** Steps that fail (each as many times as its count; Infinity: always). */
  readonly failing = new Map<Step, number>();
  readonly mounted = new Set<string>();
  /** runtime containers: name → init pid and status. */
  readonly runtime = new Map<string, RuntimeState>();
  readonly links = new Set<string>();
  readonly addresses = new Map<string, string>();
  readonly claims = new Map<number, string>();
  /** Every claims.release: its owner and the base it named (undefined: every claim of the owner, read one by one). */
  readonly releases: Array<[owner: string, base: number | undefined]> = [];
  /** The run configuration of each image (none: `{}`). */
  readonly imageConfigs = new Map<string, ImageConfig>();
  nextPid = 1000;

  failAt(step: Step, times = Infinity): void {
    this.failing.set(step, times);
  }

  step(step: Step, detail = ''): void {
    this.calls.push(detail ? `${step} ${detail}` : step);
    const n = this.failing.get(step);
    if (n === undefined || n <= 0) return;
    this.failing.set(step, n - 1);
    throw new Injected(step);
  }

  /** Whether nothing is held any more (every mount, runtime container, link, address, claim released). */
  get empty(): boolean {
    return this.mounted.size + this.runtime.size + this.links.size + this.addresses.size + this.claims.size === 0;
  }
}

export function fakeRuntime(w: World, root: string): ContainerRuntime {
  return {
    binary: '/nonexistent/runc',
    root,
    async runDetached(id: string): Promise<number> {
      w.step('runtime.run', id);
      const pid = w.nextPid++;
      w.runtime.set(id, { status: 'running', pid });
      return pid;
    },
    async state(id: string) { return w.runtime.get(id); },
    async delete(id: string) {
      w.step('runtime.delete', id);
      w.runtime.delete(id);
    },
    async list() { return [...w.runtime.keys()]; },
  };
}

export function fakeImages(w: World, dir: string): LifecycleImages {
  return {
    isChanging: () => false,
    async has(name: string) {
      w.step('images.has', name);
      return name === 'busybox';
    },
    rootfs: (name: string) => path.join(dir, name, 'rootfs'),
    async config(name: string) {
      w.step('images.config', name);
      return w.imageConfigs.get(name) ?? {};
    },
  };
}

export function fakeNetwork(w: World): LifecycleNetwork {
  let next = 2;
  return {
    allocate(name: string): string {
      w.step('allocate', name);
      const used = new Set(w.addresses.values());
      let a: string;
      do a = `10.99.0.${next++}`; while (used.has(a));
      w.addresses.set(name, a);
      return a;
    },
    // The real network forgets the reservation; the address stays the record's. Here the
    // address is held until teardown, so that a leak shows.
    release() {},
    checkPorts() {},
    async setup(r: ContainerRecord) {
      w.step('net.setup', r.name);
      if (r.net === 'bridge') w.links.add(r.name);
    },
    nsPath: (name: string) => `/run/netns/fake-${name}`,
    async teardown(name: string) {
      w.step('net.teardown', name);
      w.links.delete(name);
      w.addresses.delete(name);
    },
    async reapply(r: ContainerRecord) {
      w.calls.push(`net.reapply ${r.name}`);
    },
    async adopt(r: ContainerRecord) {
      w.calls.push(`net.adopt ${r.name}`);
      if (r.address) w.addresses.set(r.name, r.address);
      return [];
    },
  };
}

export function fakeHost(w: World): LifecycleHost {
  return {
    async mountOverlay(l: OverlayLayout) {
      w.step('mount', path.basename(path.dirname(l.merged)));
      await fs.mkdir(l.upper, { recursive: true });
      await fs.mkdir(l.merged, { recursive: true });
      w.mounted.add(l.merged);
    },
    async unmountOverlay(merged: string) {
      w.step('unmount', path.basename(path.dirname(merged)));
      w.mounted.delete(merged);
    },
    async removeCgroupDirs(p: string) { w.step('cgroups.remove', p); },
    async endAllMonitors(dir: string) { w.step('monitors.end', dir); },
    async chown(p: string, uid: number, gid: number) { w.step('chown', `${p} ${uid}:${gid}`); },
    claims: {
      async claim(base: number, owner: string) {
        w.step('claim', String(base));
        const holder = w.claims.get(base);
        if (holder !== undefined && holder !== owner) return false;
        w.claims.set(base, owner);
        return true;
      },
      async release(owner: string, base?: number) {
        w.step('claims.release', owner);
        w.releases.push([owner, base]);
        for (const [b, o] of w.claims) if (o === owner && (base === undefined || b === base)) w.claims.delete(b);
      },
    },
  };
}

/** A state dir in a temporary directory that others may pass (as a user namespace's root needs). */
export function tempStateDir(): string {
  const base = mkdtempSync(path.join(os.tmpdir(), 'wfs-core-'));
  chmodSync(base, 0o711);
  return path.join(base, 'state');
}

export const INSTANCE = '0123456789ab';

export interface Core {
  world: World;
  paths: StatePaths;
  registry: Registry;
  lifecycle: Lifecycle;
  events: EventLog;
}

/** A life cycle over fakes; a second call on the same world and state dir is a restarted daemon. */
export async function core(stateDir: string, world = new World()): Promise<Core> {
  const paths = new StatePaths(stateDir);
  await fs.mkdir(paths.root, { recursive: true, mode: 0o700 });
  await fs.mkdir(paths.runtimeRoot, { recursive: true, mode: 0o700 });
  const registry = new Registry();
  const events = new EventLog(paths.events);
  const lifecycle = new Lifecycle({
    paths, registry, events,
    runtime: fakeRuntime(world, paths.runtimeRoot),
    images: fakeImages(world, paths.images),
    network: fakeNetwork(world),
    host: fakeHost(world),
    instance: INSTANCE,
    initBinary: '/nonexistent/catatonit',
    outputCap: 1 << 20,
    cgroupHost: { version: 2, root: path.join(path.dirname(stateDir), 'cgroup') },
    defaultPidsMax: 4096,
  });
  return { world, paths, registry, lifecycle, events };
}
