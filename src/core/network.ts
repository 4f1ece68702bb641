/**
 * The containers' network (docs/interface.md §5.7): addresses from --subnet, the host side (bridge,
 * forwards) and each container's namespace (egress rules, rate). Changes apply to the
 * running container and are recorded in container.json; a refused change changes nothing.
 */
import { promises as fs } from 'node:fs';
import { AddressInUse, BadRequest, NoSpace, describe, q } from '../errors.js';
import { formatPortForward, forwardsOverlap, type PortForward, type EgressRule, type Rate } from '../model/net.js';
import { parseSubnet, allocate, numberToIp, type Subnet } from '../drivers/network/ipam.js';
import {
  netNames, vethName, netnsName, netnsPath, ensureHost, removeHost, addContainerLink,
  removeContainerLink, linkExists, setForwards, removeForwards, linkStats, allLinkCounters, type NetNames, type LinkCounters,
} from '../drivers/network/host.js';
import { setEgress, setRate } from '../drivers/network/inside.js';
import { PortHolder } from '../drivers/network/hold.js';
import type { Registry } from './registry.js';
import type { ContainerRecord } from './container.js';

/** Ports a Linux bridge can have (net/bridge/br_private.h: BR_MAX_PORTS = 1 << 10, port 0 unused). */
export const BRIDGE_MAX_PORTS = 1023;

export class Network {
  readonly subnet: Subnet;
  readonly names: NetNames;
  private readonly reserved = new Map<string, string>();
  /** The host port of each forward, bound by the daemon while the forward exists (docker-proxy's way). */
  private readonly holder = new PortHolder();
  /** Per container, the last change of its held ports: changes of one container run one after another. */
  private readonly portQueue = new Map<string, Promise<unknown>>();
  private host?: Promise<void>;

  constructor(private readonly instance: string, subnet: string, private readonly registry: Registry) {
    this.subnet = parseSubnet(subnet);
    this.names = netNames(instance);
  }

  ns(name: string): string { return netnsName(this.instance, name); }
  nsPath(name: string): string { return netnsPath(this.ns(name)); }
  veth(name: string): string { return vethName(this.instance, name); }
  get gateway(): string { return numberToIp(this.subnet.gateway); }

  /** An address for a new container, held from now on (synchronous: no two creates get one). */
  allocate(name: string): string {
    const used = new Set<string>(this.reserved.values());
    for (const c of this.registry.all()) if (c.record.address) used.add(c.record.address);
    // Every bridge container is a port of the one bridge, and the kernel numbers ports in 10
    // bits (BR_MAX_PORTS, port 0 unused): the 1024th would fail deep in `ip` with EXFULL.
    if (used.size >= BRIDGE_MAX_PORTS) throw new NoSpace(`the bridge holds at most ${BRIDGE_MAX_PORTS} containers with net=bridge; use net=none for more`);
    const address = allocate(this.subnet, used);
    if (!address) throw new NoSpace(`no free address left in ${numberToIp(this.subnet.network)}/${this.subnet.prefix}`);
    this.reserved.set(name, address);
    return address;
  }

  release(name: string): void {
    this.reserved.delete(name);
  }

  private ensureHost(): Promise<void> {
    this.host ??= ensureHost(this.names, this.subnet).catch((e: unknown) => {
      this.host = undefined;
      throw e;
    });
    return this.host;
  }

  /**
   * Another forward of this list or another container of this daemon on one of these host
   * ports (same protocol and port, and every address or the same one)? AddressInUse.
   * Host services and other daemons are found when the ports are bound (PortHolder).
   */
  checkPorts(name: string, forwards: PortForward[]): void {
    forwards.forEach((f, i) => {
      const twin = forwards.slice(0, i).find((g) => forwardsOverlap(f, g));
      if (twin) throw new AddressInUse(`host port of "${formatPortForward(f)}" is already taken by "${formatPortForward(twin)}"`);
    });
    for (const c of this.registry.all()) {
      if (c.name === name) continue;
      for (const g of c.record.settings.ports ?? []) {
        const f = forwards.find((x) => forwardsOverlap(x, g));
        if (f) throw new AddressInUse(`host port of "${formatPortForward(f)}" is forwarded to container ${q(c.name)} ("${formatPortForward(g)}")`);
      }
    }
  }

  /** Run `fn` after every earlier change of `name`'s ports (two writes at once must not interleave their binds). */
  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.portQueue.get(name) ?? Promise.resolve()).then(fn, fn);
    const settled = next.catch(() => undefined); // the caller gets the failure through `next`; the queue goes on
    this.portQueue.set(name, settled);
    void settled.then(() => {
      if (this.portQueue.get(name) === settled) this.portQueue.delete(name);
    });
    return next;
  }

  /** Hold the forwards' host ports, then replace the forwards; all or nothing. */
  private forward(r: ContainerRecord, forwards: PortForward[]): Promise<void> {
    return this.serial(r.name, async () => {
      const undo = await this.holder.set(r.name, forwards);
      try {
        await setForwards(this.names.table, r.name, r.address!, forwards);
      } catch (e) {
        await undo();
        throw e;
      }
    });
  }

  /**
   * After a daemon restart: hold the host ports of a container's recorded forwards again.
   * A port a host service took meanwhile is not fatal (the forward stays, as the kernel
   * kept it): one message per such port is returned, for the container's events.
   */
  async adopt(r: ContainerRecord): Promise<string[]> {
    if (r.net !== 'bridge' || !r.settings.ports?.length) return [];
    const forwards = r.settings.ports;
    const errors = await this.serial(r.name, () => this.holder.adopt(r.name, forwards));
    return errors.map((e) => `${describe(e)}: the forward stays but the port is not held`);
  }

  /**
   * Everything a bridge container needs before it starts; applies its recorded settings.
   * With `initPid` (a container in a user namespace, just started): its own netns is
   * attached under the usual name instead of a new one (a stale one of an earlier init is
   * replaced). `adopting`: the init started again after a reboot; ports are held by adopt().
   */
  async setup(r: ContainerRecord, opts: { adopting?: boolean; initPid?: number } = {}): Promise<void> {
    const { adopting = false, initPid } = opts;
    if (r.net !== 'bridge' || !r.address) return;
    await this.ensureHost();
    if (initPid !== undefined && (await linkExists(this.ns(r.name))) && !(await sameNetns(this.nsPath(r.name), initPid))) {
      await removeContainerLink(this.ns(r.name), this.veth(r.name));
    }
    if (!(await linkExists(this.ns(r.name)))) {
      await addContainerLink({
        ns: this.ns(r.name), veth: this.veth(r.name), bridge: this.names.bridge,
        address: r.address, prefix: this.subnet.prefix, gateway: this.gateway,
        ...(initPid !== undefined ? { attachPid: initPid } : {}),
      });
    }
    await setEgress(this.ns(r.name), r.settings.rules ?? []);
    // A container without forwards needs no nft transaction (its chain is made on first use).
    // When adopting (the init started again after a reboot), ports are held by adopt() instead.
    if (r.settings.ports?.length) {
      if (adopting) await setForwards(this.names.table, r.name, r.address, r.settings.ports);
      else await this.forward(r, r.settings.ports);
    }
    if (r.settings.rate) await setRate(this.ns(r.name), r.settings.rate);
  }

  /**
   * After a settings change cut off by a daemon kill (core/changes.ts): the record's rules,
   * forwards and rate applied again to the running container, whatever the kernel holds.
   * The host ports are held by adopt(), from the same record.
   */
  async reapply(r: ContainerRecord): Promise<void> {
    if (r.net !== 'bridge' || !r.address) return;
    await this.ensureHost();
    await setEgress(this.ns(r.name), r.settings.rules ?? []);
    if (r.settings.ports?.length) await setForwards(this.names.table, r.name, r.address, r.settings.ports);
    else await removeForwards(this.names.table, r.name);
    await setRate(this.ns(r.name), r.settings.rate ?? 'max');
  }

  /**
   * Release a container's network. Idempotent; works from the name alone (reset, sweep).
   * With its record: nothing at all for net=none (it never had a namespace, link or
   * forwards), and the forwards removed as recorded (one nft run instead of three).
   */
  async teardown(name: string, record?: ContainerRecord): Promise<void> {
    if (record?.net === 'none') return;
    await removeForwards(this.names.table, name, record && (record.settings.ports ?? []));
    await this.serial(name, () => this.holder.release(name));
    await removeContainerLink(this.ns(name), this.veth(name));
  }

  async reset(): Promise<void> {
    await removeHost(this.names);
  }

  async applyPorts(r: ContainerRecord, forwards: PortForward[]): Promise<void> {
    this.requireBridge(r);
    this.checkPorts(r.name, forwards);
    await this.forward(r, forwards);
  }

  async applyRules(r: ContainerRecord, rules: EgressRule[]): Promise<void> {
    this.requireBridge(r);
    await setEgress(this.ns(r.name), rules);
  }

  async applyRate(r: ContainerRecord, rate: Rate | 'max'): Promise<void> {
    this.requireBridge(r);
    await setRate(this.ns(r.name), rate);
  }

  private requireBridge(r: ContainerRecord): void {
    if (r.net !== 'bridge' || !r.address) throw new BadRequest(`container ${q(r.name)} has net=none: no network to configure`);
  }

  stats(r: ContainerRecord): Promise<Record<string, number>> {
    return linkStats(this.veth(r.name));
  }

  /**
   * The traffic of many containers from one read of /proc/net/dev (metrics), as each container
   * sees it: what the host side of its veth receives, the container sent. A container with
   * net=none, or whose link is gone, has none.
   */
  countersOf(records: readonly ContainerRecord[]): Map<string, LinkCounters> {
    const links = allLinkCounters();
    const out = new Map<string, LinkCounters>();
    for (const r of records) {
      if (r.net !== 'bridge') continue;
      const l = links.get(this.veth(r.name));
      if (l) out.set(r.name, { rxBytes: l.txBytes, rxPackets: l.txPackets, txBytes: l.rxBytes, txPackets: l.rxPackets });
    }
    return out;
  }

  addressOf(r: ContainerRecord): string {
    return r.address ? `${r.address}/${this.subnet.prefix}` : 'none';
  }
}

/** Whether the named netns file is the netns of process `pid`. */
async function sameNetns(nsFile: string, pid: number): Promise<boolean> {
  // Either gone: not the same (the link is made again).
  const [a, b] = await Promise.all([fs.stat(nsFile), fs.stat(`/proc/${pid}/ns/net`)]).catch(() => [undefined, undefined]);
  return !!a && !!b && a.dev === b.dev && a.ino === b.ino;
}
