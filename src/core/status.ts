/** The text of containers/NAME/status (SPEC §3.3): `key: value` lines. */
import type { Container } from './container.js';

export function statusText(c: Container): string {
  const r = c.record;
  const n = c.procs.counts();
  return [
    `name: ${r.name}`,
    `state: ${c.state}`,
    `image: ${r.image}`,
    `created: ${r.created}`,
    `pid: ${c.initPid}`,
    `address: none`,
    `processes: ${n.running} running, ${n.ended} ended`,
  ].join('\n') + '\n';
}
