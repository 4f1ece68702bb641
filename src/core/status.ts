/** The text of containers/NAME/status (docs/interface.md §7): `key: value` lines. */
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
    `seccomp: ${r.seccomp ?? 'default'}`,
    r.idmap
      ? `user namespace: root is host uid ${r.idmap.base} (ids 0-${r.idmap.size - 1} are host ${r.idmap.base}-${r.idmap.base + r.idmap.size - 1})`
      : 'user namespace: none (privileged: root is host root)',
    `runs: ${n.running} running, ${n.ended} ended`,
    `processes: ${live} running, ${n.ended} ended`,
  ].join('\n') + '\n';
}
