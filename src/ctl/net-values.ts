/**
 * The lines of net/ports, net/rules and net/rate (docs/interface.md §5.7). Pure: each parser returns
 * a typed value of src/model/net.ts or throws BadRequest (src/errors.ts).
 */
import { BadRequest } from '../errors.js';
import type { Proto, PortForward, RuleProto, EgressRule, Rate } from '../model/net.js';

// The values themselves and their canonical lines are the model's (src/model/net.ts).
export { formatPortForward, forwardsOverlap, formatEgressRule } from '../model/net.js';
export type { Proto, PortForward, RuleProto, EgressRule, Rate } from '../model/net.js';

function port(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new BadRequest(`bad ${what} ${JSON.stringify(text)}: want 1 to 65535`);
  return Number(text);
}

const PORTS_USAGE = '[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]';

/** `[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]`; HOSTIP is IPv4 (containers have IPv4 addresses only), 0.0.0.0 = every address. */
export function parsePortForward(line: string): PortForward {
  const text = line.trim();
  if (text.startsWith('[') || text.includes('::')) {
    throw new BadRequest(`bad port forward ${JSON.stringify(text)}: the host address must be IPv4 (containers have IPv4 addresses only)`);
  }
  const m = /^(?:([^:]+):)?(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(text);
  if (!m) throw new BadRequest(`bad port forward ${JSON.stringify(text)}: want ${PORTS_USAGE}`);
  const f: PortForward = { hostPort: port(m[2]!, 'host port'), containerPort: port(m[3]!, 'container port'), proto: (m[4] as Proto | undefined) ?? 'tcp' };
  if (m[1] !== undefined) {
    const hostIp = ipv4(m[1]);
    if (hostIp !== '0.0.0.0') f.hostIp = hostIp;
  }
  return f;
}

function ipv4(text: string): string {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new BadRequest(`bad address ${JSON.stringify(text)}`);
  return parts.map(Number).join('.');
}

const RULES_USAGE = 'allow PROTO DEST[/PREFIX] [PORT[-PORT]] (PROTO: tcp, udp, icmp or all), or allow all (everything)';

/** `allow PROTO DEST[/PREFIX] [PORT[-PORT]]`; `allow all` alone is `allow all 0.0.0.0/0`. */
export function parseEgressRule(line: string): EgressRule {
  const t = line.trim().split(/\s+/);
  if (t.length === 2 && t[0] === 'allow' && t[1] === 'all') return { proto: 'all', dest: '0.0.0.0', prefix: 0 };
  if (t[0] !== 'allow' || t.length < 3 || t.length > 4) throw new BadRequest(`bad rule ${JSON.stringify(line.trim())}: want ${RULES_USAGE}`);
  const proto = t[1] as RuleProto;
  if (!['tcp', 'udp', 'icmp', 'all'].includes(proto)) throw new BadRequest(`bad protocol ${JSON.stringify(t[1])}: want tcp, udp, icmp or all`);
  const [addr, pfx] = t[2]!.split('/') as [string, string | undefined];
  const prefix = pfx === undefined ? 32 : Number(pfx);
  if (pfx !== undefined && (!/^\d{1,2}$/.test(pfx) || prefix > 32)) throw new BadRequest(`bad prefix ${JSON.stringify(pfx)}: want 0 to 32`);
  const rule: EgressRule = { proto, dest: ipv4(addr), prefix };
  if (t[3] !== undefined) {
    if (proto !== 'tcp' && proto !== 'udp') throw new BadRequest(`ports need tcp or udp, not ${proto}`);
    const [a, b] = t[3].split('-') as [string, string | undefined];
    const lo = port(a, 'port');
    const hi = b === undefined ? lo : port(b, 'port');
    if (hi < lo) throw new BadRequest(`bad port range ${JSON.stringify(t[3])}`);
    rule.ports = [lo, hi];
  }
  return rule;
}

const RATE_RE = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/i;
const SIZE_RE = /^(\d+)([kmg]?b?)$/i;

/** `RATE BURST` (tc units: `1mbit 64k`) or `max`. */
export function parseRate(text: string): Rate | 'max' {
  const t = text.trim().split(/\s+/);
  if (t.length === 1 && t[0] === 'max') return 'max';
  if (t.length !== 2 || !RATE_RE.test(t[0]!) || !SIZE_RE.test(t[1]!)) {
    throw new BadRequest(`bad rate ${JSON.stringify(text.trim())}: want RATE BURST (e.g. 1mbit 64k) or max`);
  }
  if (Number(RATE_RE.exec(t[0]!)![1]) <= 0) throw new BadRequest('the rate must be above 0');
  return { rate: t[0]!.toLowerCase(), burst: t[1]!.toLowerCase() };
}

/** The non-blank lines of a table file's text. */
export function tableLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}
