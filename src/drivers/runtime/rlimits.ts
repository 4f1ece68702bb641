/**
 * What the host allows of per-process limits, checked before a process is started so that a
 * refusal is a clear EINVAL rather than the runtime's failure at exec time (EIO, "error
 * setting rlimit type 7: operation not permitted"). The runtime sets the limits with
 * prlimit(2); the kernel (kernel/sys.c, do_prlimit) refuses
 * - a soft limit above the hard one (ctl/values.ts refuses that already);
 * - RLIMIT_NOFILE above fs.nr_open, unlimited included;
 * - a hard limit above the one the process has (the daemon's own, inherited through the
 *   monitor and the runtime) unless the caller has CAP_SYS_RESOURCE: a daemon run in a
 *   container without that capability cannot raise a hard limit, only lower it.
 * And below ten descriptors the runtime's own init cannot start the program (runc 1.1 opens
 * /proc/self/fd and a pipe after the limits are set: measured, docs/processes.md), so a
 * nofile soft limit under NOFILE_MIN is refused too.
 */
import { readFileSync } from 'node:fs';
import { BadRequest } from '../../errors.js';
import { RLIMIT_NAMES, rlimitAtMost, type Rlimits, type RlimitName, type RlimitValue } from '../../model/rlimits.js';

/** The fewest descriptors a process can be started with (runc 1.1 needs 10; a margin above). */
export const NOFILE_MIN = 16;

/** The rows of /proc/PID/limits in the kernel's order (RLIMIT_CPU = 0 …), by our names. */
const PROC_LIMITS_ORDER: readonly RlimitName[] = [
  'cpu', 'fsize', 'data', 'stack', 'core', 'rss', 'nproc', 'nofile', 'memlock', 'as', 'locks',
  'sigpending', 'msgqueue', 'nice', 'rtprio', 'rttime',
];

const CAP_SYS_RESOURCE = 24n;

/** What the host allows a process the daemon starts. */
export interface RlimitCeiling {
  /** fs.nr_open: the highest RLIMIT_NOFILE the kernel takes. */
  nrOpen: number;
  /** The daemon's own hard limits; only enforced when it cannot raise them. */
  hard: Partial<Record<RlimitName, RlimitValue>>;
  /** Whether the daemon has CAP_SYS_RESOURCE (may raise a hard limit). */
  canRaise: boolean;
}

/** The hard limits of /proc/self/limits by name (the text of that file: pure, for tests). */
export function parseProcLimits(text: string): Partial<Record<RlimitName, RlimitValue>> {
  const out: Partial<Record<RlimitName, RlimitValue>> = {};
  const rows = text.split('\n').slice(1).filter((l) => l.startsWith('Max '));
  rows.forEach((line, i) => {
    const name = PROC_LIMITS_ORDER[i];
    // "Max open files            1024                 4096                 files"
    const cols = line.slice(26).trim().split(/\s+/);
    if (name && cols[1] !== undefined) out[name] = cols[1] === 'unlimited' ? 'unlimited' : Number(cols[1]);
  });
  return out;
}

/** Read each time (cheap procfs reads): an administrator may change fs.nr_open or the daemon's limits. */
export function hostRlimitCeiling(): RlimitCeiling {
  const nrOpen = Number(readFileSync('/proc/sys/fs/nr_open', 'utf8').trim());
  const status = readFileSync('/proc/self/status', 'utf8');
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
  const canRaise = ((BigInt(`0x${capEff}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
  return { nrOpen, hard: parseProcLimits(readFileSync('/proc/self/limits', 'utf8')), canRaise };
}

/** Throws BadRequest when the host cannot give these limits. */
export function checkRlimits(r: Rlimits, host: RlimitCeiling): void {
  const n = r.nofile;
  if (n && (n.hard === 'unlimited' || n.hard > host.nrOpen)) {
    throw new BadRequest(`bad rlimit.nofile: the hard limit ${n.hard} is above what the host allows (${host.nrOpen}, fs.nr_open)`);
  }
  if (n && n.soft !== 'unlimited' && n.soft < NOFILE_MIN) {
    throw new BadRequest(`bad rlimit.nofile: a soft limit of ${n.soft} is too few to start a process (at least ${NOFILE_MIN})`);
  }
  if (host.canRaise) return;
  for (const name of RLIMIT_NAMES) {
    const own = host.hard[name];
    const want = r[name]?.hard;
    if (own === undefined || want === undefined || rlimitAtMost(want, own)) continue;
    throw new BadRequest(`bad rlimit.${name}: the hard limit ${want} is above the daemon's own (${own}), which it cannot raise without CAP_SYS_RESOURCE`);
  }
}
