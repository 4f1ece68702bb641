/**
 * What is set inside a container's network namespace: the egress allow-list (an
 * nftables table in the namespace, output hook: the container has no CAP_NET_ADMIN and
 * cannot change it; it sees every packet the container sends, to the host, to other
 * containers on the bridge and beyond, refuses what is not allowed, and removal is exact:
 * it goes with the namespace)
 * and the egress bandwidth (a tbf qdisc on eth0).
 */
import { run } from '../../util/exec.js';
import { SystemFailure } from '../../errors.js';
import type { EgressRule, Rate } from '../../model/net.js';
import { logger } from '../../util/log.js';

const log = logger('net');

function ruleText(r: EgressRule): string {
  const dest = `ip daddr ${r.dest}/${r.prefix}`;
  if (r.proto === 'all') return `${dest} accept`;
  if (r.proto === 'icmp') return `${dest} meta l4proto icmp accept`;
  const ports = r.ports ? ` ${r.proto} dport ${r.ports[0] === r.ports[1] ? r.ports[0] : `${r.ports[0]}-${r.ports[1]}`}` : ` meta l4proto ${r.proto}`;
  return `${dest}${ports} accept`;
}

/**
 * Replace the allow-list in one transaction. Everything else the container sends is
 * refused at once rather than dropped, so a program learns it without waiting for a
 * timeout: TCP gets a reset (connect fails with ECONNREFUSED), anything else an ICMP
 * "administratively prohibited" (EHOSTUNREACH; sendto itself is EPERM). The answers are
 * made inside the namespace and go to the container itself over its loopback, one per
 * refused packet, never onto the network: no rate limit is needed.
 */
export async function setEgress(ns: string, rules: EgressRule[]): Promise<void> {
  // Declared empty, then filled: applying again replaces, never appends a second copy.
  const script = [
    'table inet wardenfs {',
    '  chain output { type filter hook output priority 0; policy drop; }',
    '  chain allowed { }',
    '}',
    'flush chain inet wardenfs output',
    'flush chain inet wardenfs allowed',
    'add rule inet wardenfs output ct state established,related accept',
    'add rule inet wardenfs output oifname "lo" accept',
    'add rule inet wardenfs output jump allowed',
    'add rule inet wardenfs output meta l4proto tcp reject with tcp reset',
    'add rule inet wardenfs output reject with icmpx type admin-prohibited',
    ...rules.map((r) => `add rule inet wardenfs allowed ${ruleText(r)}`),
  ].join('\n') + '\n';
  await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script }).catch((e: unknown) => {
    // `ip netns exec` only carries nft: say which program refused, with its own words (the errors, not its echo of the script)
    const run = e instanceof SystemFailure ? e.run : undefined;
    const said = (run?.stderr ?? String(e)).split('\n').filter((l) => /Error:/.test(l)).map((l) => l.replace(/^\/dev\/stdin:\S+ /, '')).slice(0, 3).join('; ');
    throw new SystemFailure(`nft refused the egress rules: ${said || (e instanceof Error ? e.message : String(e))}`, { cause: e, ...(run ? { run } : {}) });
  });
}

export async function setRate(ns: string, rate: Rate | 'max'): Promise<void> {
  if (rate === 'max') {
    // No rate set: tc has no qdisc to delete, which is the state wanted.
    await run('tc', ['-n', ns, 'qdisc', 'del', 'dev', 'eth0', 'root']).catch((e: unknown) => log('no rate to lift in %s: %s', ns, e));
    return;
  }
  await run('tc', ['-n', ns, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', rate.rate, 'burst', rate.burst, 'latency', '50ms']);
}
