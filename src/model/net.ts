/**
 * A container's network settings as typed values (docs/network.md): port forwards, egress
 * rules, the egress rate, and their canonical lines. Parsed by ctl/net-values.ts, applied by
 * drivers/network and core/network.ts. Pure: no I/O, no imports.
 */

export type Proto = 'tcp' | 'udp';

/** A host port forwarded to a container port; `hostIp` limits it to one host address (absent: every address). */
export interface PortForward { hostPort: number; containerPort: number; proto: Proto; hostIp?: string }

/** The canonical line, which parses back to the same forward: `8080:80/tcp`, `127.0.0.1:8080:80/tcp`. */
export function formatPortForward(f: PortForward): string {
  return `${f.hostIp ? `${f.hostIp}:` : ''}${f.hostPort}:${f.containerPort}/${f.proto}`;
}

/** Whether two forwards want the same host port: same protocol and port, and one takes every address or both the same one. */
export function forwardsOverlap(a: PortForward, b: PortForward): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort && (!a.hostIp || !b.hostIp || a.hostIp === b.hostIp);
}

export type RuleProto = 'tcp' | 'udp' | 'icmp' | 'all';

export interface EgressRule { proto: RuleProto; dest: string; prefix: number; ports?: [number, number] }

/** The canonical line of a rule: `allow tcp 10.88.0.3/32 80`. */
export function formatEgressRule(r: EgressRule): string {
  const ports = r.ports ? ` ${r.ports[0] === r.ports[1] ? r.ports[0] : `${r.ports[0]}-${r.ports[1]}`}` : '';
  return `allow ${r.proto} ${r.dest}/${r.prefix}${ports}`;
}

/** An egress rate (tc units: `1mbit`, `64k`). */
export interface Rate { rate: string; burst: string }

/** The canonical text of a rate: `1mbit 64k`, or `max`. */
export function formatRate(r: Rate | 'max'): string {
  return r === 'max' ? 'max' : `${r.rate} ${r.burst}`;
}
