/**
 * The host side of the container network, driven through iproute2 and nftables batch
 * interfaces (one process per step, docs/network.md says why):
 *   - one bridge per daemon instance (the gateway address of --subnet is on it);
 *   - per container: a named network namespace, a veth pair (host end on the bridge,
 *     `eth0` inside), its address, loopback and a default route;
 *   - one nftables table per instance for port forwards: verdict maps per protocol from
 *     host port (`fwd_tcp`) or host address and port (`fwd_tcp_ip`, forwards limited to one
 *     host address) to the container's own chain, so a container's forwards are replaced
 *     or removed exactly, in one transaction.
 */
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { run } from '../../util/exec.js';
import { isErrno } from '../../util/files.js';
import { AddressInUse, Exists, q } from '../../errors.js';
import { classify, failureText, isAbsent, type HostProgram } from '../../util/hostmessages.js';
import { logger } from '../../util/log.js';
import { numberToIp, type Subnet } from './ipam.js';
import type { PortForward } from '../../model/net.js';
import { NETNS_SYSCTLS } from '../runtime/spec.js';

const log = logger('net');

export interface NetNames { bridge: string; table: string }

export function netNames(instance: string): NetNames {
  return { bridge: `wfb${instance.slice(0, 8)}`, table: `wardenfs_${instance}` };
}

export function vethName(instance: string, name: string): string {
  return `wfv${createHash('sha256').update(`${instance}/${name}`).digest('hex').slice(0, 10)}`;
}

export function netnsName(instance: string, name: string): string {
  return `wfs-${instance}-${name}`;
}

export function netnsPath(ns: string): string {
  return `/run/netns/${ns}`;
}

async function ip(args: string[], batch?: string): Promise<void> {
  await run('ip', batch === undefined ? args : [...args, '-batch', '-'], batch === undefined ? {} : { input: batch });
}

async function nft(script: string): Promise<void> {
  await run('nft', ['-f', '-'], { input: script });
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false); // any failure: not there for us
}

/**
 * A removal that failed: gone meanwhile (no such link, namespace or table) is the goal
 * reached; anything else is logged and the removal goes on, as it always has (the next
 * reset or sweep tries again).
 */
function ignoreAbsent(program: HostProgram, what: string, e: unknown): void {
  if (!isAbsent(program, e)) log('removing %s failed: %s', what, failureText(e));
}

/** The bridge and the nft table of this instance (idempotent). */
export async function ensureHost(n: NetNames, subnet: Subnet): Promise<void> {
  if (!(await exists(`/sys/class/net/${n.bridge}`))) {
    await ip([], [
      `link add ${n.bridge} type bridge`,
      `addr add ${numberToIp(subnet.gateway)}/${subnet.prefix} dev ${n.bridge}`,
      `link set ${n.bridge} up`,
    ].join('\n') + '\n');
  }
  // Forwards from 127.0.0.1 leave through the bridge with a loopback source: allowed on our bridge only.
  await fs.writeFile(`/proc/sys/net/ipv4/conf/${n.bridge}/route_localnet`, '1');
  const cidr = `${numberToIp(subnet.network)}/${subnet.prefix}`;
  // Declared, then the base chains' rules rewritten: running this again (a restarted
  // daemon) leaves exactly one copy, and the containers' maps and chains untouched.
  const t = `ip ${n.table}`;
  await nft([
    `table ${t} {`,
    '  map fwd_tcp { type inet_service : verdict; }',
    '  map fwd_udp { type inet_service : verdict; }',
    '  map fwd_tcp_ip { type ipv4_addr . inet_service : verdict; }',
    '  map fwd_udp_ip { type ipv4_addr . inet_service : verdict; }',
    '  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }',
    '  chain output { type nat hook output priority -100; policy accept; }',
    '  chain postrouting { type nat hook postrouting priority srcnat; policy accept; }',
    '  chain guard { type filter hook prerouting priority -150; policy accept; }',
    '}',
    // route_localnet on the bridge must not let a container reach the host's loopback services.
    `flush chain ${t} guard`,
    `add rule ${t} guard iifname "${n.bridge}" ip daddr 127.0.0.0/8 drop`,
    `flush chain ${t} prerouting`,
    `flush chain ${t} output`,
    `flush chain ${t} postrouting`,
    // A forward limited to one host address is looked up first; the others take every address.
    ...['prerouting', 'output'].flatMap((hook) => ['tcp', 'udp'].flatMap((proto) => [
      `add rule ${t} ${hook} fib daddr type local ip daddr . ${proto} dport vmap @fwd_${proto}_ip`,
      `add rule ${t} ${hook} fib daddr type local ${proto} dport vmap @fwd_${proto}`,
    ])),
    `add rule ${t} postrouting ip saddr 127.0.0.0/8 oifname "${n.bridge}" masquerade`,
    `add rule ${t} postrouting ip saddr ${cidr} oifname != "${n.bridge}" masquerade`,
  ].join('\n') + '\n');
}

/** Remove the instance's table and bridge (reset). */
export async function removeHost(n: NetNames): Promise<void> {
  await run('nft', ['delete', 'table', 'ip', n.table]).catch((e: unknown) => ignoreAbsent('nft', 'the table', e));
  if (await exists(`/sys/class/net/${n.bridge}`)) await ip(['link', 'del', n.bridge]).catch((e: unknown) => ignoreAbsent('ip', 'the bridge', e));
}

export interface LinkSpec {
  ns: string; veth: string; bridge: string; address: string; prefix: number; gateway: string;
  /** The netns of this process (a container in a user namespace) is named `ns`, instead of a new one. */
  attachPid?: number;
}

/** The container's namespace and link, made before the container starts (or attached after: attachPid). */
export async function addContainerLink(l: LinkSpec): Promise<void> {
  await ip([], [
    l.attachPid === undefined ? `netns add ${l.ns}` : `netns attach ${l.ns} ${l.attachPid}`,
    `link add ${l.veth} type veth peer name eth0 netns ${l.ns}`,
    `link set ${l.veth} master ${l.bridge} up`,
  ].join('\n') + '\n');
  await ip(['-n', l.ns], [
    'link set lo up',
    `addr add ${l.address}/${l.prefix} dev eth0`,
    'link set eth0 up',
    `route add default via ${l.gateway}`,
  ].join('\n') + '\n');
  // Set here, not by the runtime: a container in a user namespace may not write the sysctls
  // of a netns the host owns.
  await run('ip', ['netns', 'exec', l.ns, 'sysctl', '-q', '-w', ...Object.entries(NETNS_SYSCTLS).map(([k, v]) => `${k}=${v}`)]);
}

/** Delete the veth pair, then the namespace (in this order the removal is synchronous and exact). Idempotent. */
export async function removeContainerLink(ns: string, veth: string): Promise<void> {
  if (await exists(`/sys/class/net/${veth}`)) await ip(['link', 'del', veth]).catch((e: unknown) => ignoreAbsent('ip', `link ${veth}`, e));
  if (await exists(netnsPath(ns))) await ip(['netns', 'del', ns]).catch((e: unknown) => ignoreAbsent('ip', `namespace ${ns}`, e));
}

export async function linkExists(ns: string): Promise<boolean> {
  return exists(netnsPath(ns));
}

/** Container names ([A-Za-z0-9_.-]) are valid nft identifiers after a letter: no two names share a chain. */
function chainOf(name: string): string {
  return `c_${name}`;
}

type MapKey = number | { concat: [string, number] };

/** The map a forward's entry is in, and its key there: `fwd_tcp { 8080 }`, `fwd_tcp_ip { 127.0.0.1 . 8080 }`. */
function mapEntry(f: PortForward): string {
  return f.hostIp ? `fwd_${f.proto}_ip { ${f.hostIp} . ${f.hostPort} }` : `fwd_${f.proto} { ${f.hostPort} }`;
}

/**
 * The entries of the forward maps that lead to this container's chain (exact removal).
 * Only nft's "no such table" means none; any other failure is thrown, since taking it
 * for "no forwards" would leave the container's rules behind.
 */
async function mappedEntries(table: string, chain: string): Promise<string[]> {
  type Doc = { nftables: Array<{ map?: { name: string; elem?: Array<[MapKey, { goto?: { target: string }; jump?: { target: string } }]> } }> };
  let doc: Doc;
  try {
    doc = JSON.parse((await run('nft', ['-j', 'list', 'table', 'ip', table])).stdout) as Doc;
  } catch (e) {
    if (isAbsent('nft', e)) return [];
    throw e;
  }
  const entries: string[] = [];
  for (const { map } of doc.nftables) {
    if (!map || !/^fwd_(tcp|udp)(_ip)?$/.test(map.name)) continue;
    for (const [k, v] of map.elem ?? []) {
      if ((v.goto?.target ?? v.jump?.target) !== chain) continue;
      entries.push(`${map.name} { ${typeof k === 'number' ? k : k.concat.join(' . ')} }`);
    }
  }
  return entries;
}

/**
 * Replace a container's port forwards in one transaction (all or nothing). The caller
 * (core/network.ts) has checked that no other container has these host ports, and holds them.
 */
export async function setForwards(table: string, name: string, address: string, forwards: PortForward[]): Promise<void> {
  const chain = chainOf(name);
  const lines = [`add chain ip ${table} ${chain}`, `flush chain ip ${table} ${chain}`];
  for (const e of await mappedEntries(table, chain)) lines.push(`delete element ip ${table} ${e}`);
  for (const f of forwards) {
    const dest = f.hostIp ? `ip daddr ${f.hostIp} ` : '';
    lines.push(`add rule ip ${table} ${chain} ${dest}${f.proto} dport ${f.hostPort} dnat to ${address}:${f.containerPort}`);
    lines.push(`add element ip ${table} ${mapEntry(f).replace(' }', ` : goto ${chain} }`)}`);
  }
  try {
    await nft(lines.join('\n') + '\n');
  } catch (e) {
    // A map element of that key exists: another chain has the port.
    if (classify('nft', e) === Exists) throw new AddressInUse(`a host port asked for by ${q(name)} is already forwarded`, { cause: e });
    throw e;
  }
}

/**
 * Remove a container's forwards and chain. Idempotent. With `known` (the forwards its
 * record holds) it is one nft transaction; if that fails (the record lagged behind the
 * table, or there is no such chain) the map entries are looked up in the table instead.
 */
export async function removeForwards(table: string, name: string, known?: PortForward[]): Promise<void> {
  const chain = chainOf(name);
  if (known) {
    const quick = known.map((f) => `delete element ip ${table} ${mapEntry(f)}`);
    quick.push(`delete chain ip ${table} ${chain}`);
    // A failure here is expected (the record lagged behind the table, or there is no such
    // chain): the entries are then looked up below, which tells the real state.
    const done = await nft(quick.join('\n') + '\n').then(() => true, (e: unknown) => {
      log('forwards of %s: the recorded removal failed, looking them up: %s', name, failureText(e));
      return false;
    });
    if (done) return;
  }
  const lines = (await mappedEntries(table, chain)).map((e) => `delete element ip ${table} ${e}`);
  lines.push(`delete chain ip ${table} ${chain}`);
  // No such chain or table: nothing was left (idempotent). Anything else leaves rules behind: thrown.
  await nft(lines.join('\n') + '\n').catch((e: unknown) => {
    if (!isAbsent('nft', e)) throw e;
  });
}

/** rx/tx as the container sees them: the host end's counters, swapped. */
export async function linkStats(veth: string): Promise<Record<string, number>> {
  const read = async (f: string) => Number((await fs.readFile(`/sys/class/net/${veth}/statistics/${f}`, 'utf8').catch((e: unknown) => {
    if (isErrno(e, 'ENOENT')) return '0';
    throw e;
  })).trim());
  return {
    rx_bytes: await read('tx_bytes'),
    tx_bytes: await read('rx_bytes'),
    rx_packets: await read('tx_packets'),
    tx_packets: await read('rx_packets'),
  };
}

/** One interface's counters as the host counts them (received and transmitted by the host side). */
export interface LinkCounters { rxBytes: number; rxPackets: number; txBytes: number; txPackets: number }

/**
 * Every interface of the daemon's network namespace from one read of /proc/net/dev (the
 * metrics of all containers at once: one file, not four per veth; synchronous, as a cgroup
 * file read: procfs generates it from memory). The text of that file in, for tests.
 */
export function parseNetDev(text: string): Map<string, LinkCounters> {
  const out = new Map<string, LinkCounters>();
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    // Receive: bytes packets errs drop fifo frame compressed multicast; then Transmit: bytes packets …
    if (f.length < 10) continue;
    out.set(line.slice(0, colon).trim(), { rxBytes: f[0]!, rxPackets: f[1]!, txBytes: f[8]!, txPackets: f[9]! });
  }
  return out;
}

export function allLinkCounters(): Map<string, LinkCounters> {
  return parseNetDev(readFileSync('/proc/net/dev', 'utf8'));
}
