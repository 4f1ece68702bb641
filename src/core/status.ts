/** The text of containers/NAME/status (SPEC §3.3): `key: value` lines. */
import type { Container } from './container.js';

/**
 * `runs:` counts the entries of procs/; `processes:` counts what really runs in the
 * container (its cgroup but the init, daemonized leftovers included) and the ended runs.
 */
export async function statusText(c: Container, address: string): Promise<string> {
  const r = c.record;
  const n = c.procs.counts();
  const live = (await c.procs.members()).length;
  return [
    `name: ${r.name}`,
    `state: ${c.state}`,
    `image: ${r.image}`,
    `created: ${r.created}`,
    `pid: ${c.initPid}`,
    `address: ${address}`,
    `runs: ${n.running} running, ${n.ended} ended`,
    `processes: ${live} running, ${n.ended} ended`,
  ].join('\n') + '\n';
}
