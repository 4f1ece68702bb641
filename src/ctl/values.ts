/**
 * Value parsers for ctl messages and control files. Pure: each returns a value or throws
 * BadRequest (EINVAL, src/errors.ts) with a message in the project's style.
 */
import { constants } from 'node:os';
import { BadRequest } from '../errors.js';
import type { CpuMax, Max, Limit, LimitKey } from '../model/limits.js';
import type { User } from '../model/records.js';
import { RLIMIT_NAMES, isRlimitName, rlimitAtMost, type Rlimit, type RlimitName, type RlimitValue } from '../model/rlimits.js';

// The limit values are the model's (src/model/limits.ts).
export type { CpuMax, Max } from '../model/limits.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Names of containers, images and processes (docs/interface.md §3). */
/** A hostname: RFC 1123 labels (letters, digits, inner hyphens) joined by dots, at most 63 bytes in all (a UTS name holds 64 with its NUL). */
export function isValidHostname(h: string): boolean {
  return h.length <= 63 && /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h);
}

export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

export function parseName(name: string, what = 'name'): string {
  if (!isValidName(name)) {
    throw new BadRequest(`bad ${what} ${JSON.stringify(name)}: use 1 to 63 of A-Z a-z 0-9 _ . - starting with a letter or digit`);
  }
  return name;
}

const SIZE_RE = /^(\d+)([KMGkmg]?)$/;
const UNITS: Record<string, bigint> = { '': 1n, K: 1024n, M: 1024n ** 2n, G: 1024n ** 3n };

/** Bytes, or with suffix K, M, G (powers of 1024), or `max`. Returns a safe integer. */
export function parseSize(text: string): number | Max {
  const t = text.trim();
  if (t === 'max') return 'max';
  const m = SIZE_RE.exec(t);
  if (!m) throw new BadRequest(`bad size ${JSON.stringify(text)}: want bytes, a number with K, M or G, or max`);
  const bytes = BigInt(m[1]!) * UNITS[m[2]!.toUpperCase()]!;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadRequest(`size ${JSON.stringify(text)} is too large`);
  return Number(bytes);
}

/** A non-negative integer or `max` (pids.max). */
export function parseCount(text: string, what: string): number | Max {
  const t = text.trim();
  if (t === 'max') return 'max';
  if (!/^\d{1,15}$/.test(t)) throw new BadRequest(`bad ${what} ${JSON.stringify(text)}: want a number or max`);
  return Number(t);
}

/** An integer in [lo, hi]. */
export function parseIntIn(text: string, lo: number, hi: number, what: string): number {
  const t = text.trim();
  if (!/^\d{1,15}$/.test(t)) throw new BadRequest(`bad ${what} ${JSON.stringify(text)}: want a number from ${lo} to ${hi}`);
  const v = Number(t);
  if (v < lo || v > hi) throw new BadRequest(`bad ${what} ${JSON.stringify(text)}: want a number from ${lo} to ${hi}`);
  return v;
}

/** A terminal's rows and columns (conmon takes 1 to 1000 of each). */
export const TERM_MAX = 1000;
export const DEFAULT_TERM = { rows: 24, cols: 80 } as const;

/** `ROWS COLS` (procs/NAME/ID/winsize): two numbers from 1 to 1000. */
export function parseWinsize(text: string): { rows: number; cols: number } {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 2) throw new BadRequest(`bad winsize ${JSON.stringify(text.trim())}: want ROWS COLS (1 to ${TERM_MAX} each)`);
  return { rows: parseIntIn(parts[0]!, 1, TERM_MAX, 'rows'), cols: parseIntIn(parts[1]!, 1, TERM_MAX, 'cols') };
}

export const DEFAULT_CPU_PERIOD = 100000;

/** `QUOTA PERIOD` in microseconds, or `max PERIOD`, or `max`. */
export function parseCpuMax(text: string): CpuMax {
  const parts = text.trim().split(/\s+/);
  const bad = () => new BadRequest(`bad cpu.max ${JSON.stringify(text)}: want QUOTA PERIOD, max PERIOD or max (microseconds)`);
  if (parts.length < 1 || parts.length > 2 || parts[0] === '') throw bad();
  const [q, p] = parts as [string, string | undefined];
  let period = DEFAULT_CPU_PERIOD;
  if (p !== undefined) {
    if (!/^\d{1,10}$/.test(p)) throw bad();
    period = Number(p);
    if (period < 1000 || period > 1000000) throw new BadRequest(`bad cpu.max period ${p}: want 1000 to 1000000`);
  }
  if (q === 'max') return { quota: 'max', period };
  if (!/^\d{1,15}$/.test(q)) throw bad();
  const quota = Number(q);
  if (quota < 1000) throw new BadRequest(`bad cpu.max quota ${q}: want at least 1000`);
  return { quota, period };
}

export interface Signal { number: number; name: string }

/** A signal by name (`TERM`, `SIGTERM`, any case) or number (`15`). */
export function parseSignal(text: string): Signal {
  const t = text.trim();
  const table = constants.signals as Record<string, number>;
  if (/^\d{1,2}$/.test(t)) {
    const n = Number(t);
    const entry = Object.entries(table).find(([, v]) => v === n);
    if (!entry || n === 0) throw new BadRequest(`bad signal ${JSON.stringify(text)}`);
    return { number: n, name: entry[0].slice(3) };
  }
  const upper = t.toUpperCase();
  const key = upper.startsWith('SIG') ? upper : 'SIG' + upper;
  const n = table[key];
  if (n === undefined) throw new BadRequest(`bad signal ${JSON.stringify(text)}`);
  return { number: n, name: key.slice(3) };
}

/** The name of a signal number without SIG, e.g. 9 → KILL. */
export function signalName(n: number): string {
  const table = constants.signals as Record<string, number>;
  const entry = Object.entries(table).find(([k, v]) => v === n && k !== 'SIGIOT' && k !== 'SIGPOLL');
  return entry ? entry[0].slice(3) : String(n);
}

/**
 * `user=` as written: each part a number or a name, looked up later in the container's
 * own /etc/passwd and /etc/group (core/users.ts). No group: the user's own from passwd.
 */
export type { User };

/** A passwd/group name as useradd takes them (and Samba's trailing '$'). */
const ACCOUNT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

/** `USER[:GROUP]`, each a number (0 … 4294967294) or a name. */
export function parseUser(text: string): User {
  const bad = (why: string) => new BadRequest(`bad user ${JSON.stringify(text)}: ${why}`);
  const parts = text.trim().split(':');
  if (parts.length > 2) throw bad('want USER or USER:GROUP (names or numbers)');
  const [u, g] = parts.map((p) => {
    if (/^\d{1,10}$/.test(p)) {
      const n = Number(p);
      if (n > 0xfffffffe) throw bad('id too large');
      return n;
    }
    if (!ACCOUNT_NAME.test(p)) throw bad('want USER or USER:GROUP (names or numbers)');
    return p;
  }) as [number | string, (number | string)?];
  return g === undefined ? { user: u } : { user: u, group: g };
}

/** `true` or `false`. */
export function parseBool(text: string, what: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new BadRequest(`bad ${what} ${JSON.stringify(text)}: want true or false`);
}

/** `K=V` environment entry: K non-empty, no '=' or NUL in K. */
export function parseEnv(text: string): string {
  const eq = text.indexOf('=');
  if (eq <= 0 || text.includes('\0')) throw new BadRequest(`bad env ${JSON.stringify(text)}: want K=V`);
  return text;
}

/** A duration in whole seconds (stop SECONDS). */
export function parseSeconds(text: string): number {
  if (!/^\d{1,6}(\.\d{1,3})?$/.test(text.trim())) throw new BadRequest(`bad seconds ${JSON.stringify(text)}`);
  return Number(text);
}

/** One limit's value as written to its cgroup/ file or given at create (`memory.max=64M`). */
export function parseLimit(key: LimitKey, text: string): Limit {
  switch (key) {
    case 'memory.max': return { key, value: parseSize(text) };
    case 'cpu.max': return { key, value: parseCpuMax(text) };
    case 'cpu.weight': return { key, value: parseIntIn(text, 1, 10000, 'cpu.weight') };
    case 'pids.max': return { key, value: parseCount(text, 'pids.max') };
  }
}

/** The name of `rlimit.NAME=`: one of the RLIMIT_* names lower-cased. */
export function parseRlimitName(name: string): RlimitName {
  if (!isRlimitName(name)) throw new BadRequest(`unknown rlimit ${JSON.stringify(name)}: want one of ${RLIMIT_NAMES.join(' ')}`);
  return name;
}

/**
 * One rlimit's value (docs/interface.md §4, `run` options): `N` (soft and hard both N),
 * `unlimited`, or `SOFT:HARD`, each half a number or `unlimited`; the soft limit may not be
 * above the hard one (the kernel's EINVAL, refused here first). Numbers are plain (the unit
 * is setrlimit(2)'s: bytes, seconds, a count) and at most 2^53-1: anything larger is
 * `unlimited` in practice. What only the host can say (nofile against fs.nr_open) is
 * checked where the limits are used (drivers/runtime/rlimits.ts).
 */
export function parseRlimit(name: RlimitName, text: string): Rlimit {
  const what = `rlimit.${name}`;
  const half = (t: string): RlimitValue => {
    if (t === 'unlimited') return 'unlimited';
    if (!/^\d{1,16}$/.test(t) || Number(t) > Number.MAX_SAFE_INTEGER) {
      throw new BadRequest(`bad ${what} ${JSON.stringify(text)}: want a number (at most ${Number.MAX_SAFE_INTEGER}), unlimited or SOFT:HARD`);
    }
    return Number(t);
  };
  const parts = text.split(':');
  if (parts.length > 2) throw new BadRequest(`bad ${what} ${JSON.stringify(text)}: want a number, unlimited or SOFT:HARD`);
  const soft = half(parts[0]!);
  const hard = parts.length === 2 ? half(parts[1]!) : soft;
  if (!rlimitAtMost(soft, hard)) throw new BadRequest(`bad ${what} ${JSON.stringify(text)}: the soft limit ${soft} is above the hard limit ${hard}`);
  return { soft, hard };
}
