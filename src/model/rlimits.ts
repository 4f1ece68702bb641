/**
 * Per-process resource limits (setrlimit(2)), as `run rlimit.NAME=VALUE` and `create
 * rlimit.NAME=VALUE` give them (docs/interface.md §4): the RLIMIT_* names lower-cased, each
 * with a soft and a hard value. Parsed by ctl/values.ts, kept in a container's record,
 * passed to the runtime as the OCI process's `rlimits`. Types and pure helpers only.
 */

/** The names, in the order of <sys/resource.h>'s RLIMIT_* list as `cat ctl` shows them. */
export const RLIMIT_NAMES = [
  'as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc',
  'rss', 'rtprio', 'rttime', 'sigpending', 'stack',
] as const;

export type RlimitName = typeof RLIMIT_NAMES[number];

/** A finite value (a safe integer: bytes, seconds, a count … as setrlimit(2) says) or RLIM_INFINITY. */
export type RlimitValue = number | 'unlimited';

export interface Rlimit { soft: RlimitValue; hard: RlimitValue }

/** Limits by name; a name absent is inherited (the daemon's own limit). */
export type Rlimits = { [N in RlimitName]?: Rlimit };

export function isRlimitName(n: string): n is RlimitName {
  return (RLIMIT_NAMES as readonly string[]).includes(n);
}

/** The canonical text of a value: `N` when soft = hard, else `SOFT:HARD`; it parses back to the same. */
export function formatRlimit(r: Rlimit): string {
  return r.soft === r.hard ? String(r.soft) : `${r.soft}:${r.hard}`;
}

/** a ≤ b, unlimited being above every number. */
export function rlimitAtMost(a: RlimitValue, b: RlimitValue): boolean {
  if (b === 'unlimited') return true;
  return a !== 'unlimited' && a <= b;
}

/** A run's limits over its container's defaults (a run's value replaces the container's, both halves). */
export function mergeRlimits(defaults: Rlimits | undefined, run: Rlimits | undefined): Rlimits {
  return { ...(defaults ?? {}), ...(run ?? {}) };
}
