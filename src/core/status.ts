/** The text of containers/NAME/status (SPEC §3.3): `key: value` lines. */
import type { Container } from './container.js';

export function statusText(c: Container, address: string): string {
  const r = c.record;
  const n = c.procs.counts();
  return [
    `name: ${r.name}`,
    `state: ${c.state}`,
    `image: ${r.image}`,
    `created: ${r.created}`,
    `pid: ${c.initPid}`,
    `address: ${address}`,
    `processes: ${n.running} running, ${n.ended} ended`,
  ].join('\n') + '\n';
}
