/**
 * Properties (`prop.KEY=VALUE`, containers/NAME/properties) and grace times (`grace=5m`,
 * containers/NAME/grace): their grammar (docs/interface.md §5.9, §5.10). Pure: each parser
 * returns a value or throws BadRequest.
 *
 * A key and a value become path names under by-property/ (`KEY=VALUE`, `KEY/VALUE`), so
 * neither may hold '/' or NUL, neither may be '.' or '..', and `KEY=VALUE` must fit in one
 * name (255 bytes). The key holds no '=', so the first '=' of a line splits it; a value may
 * hold '=' (`a=b=c` is key `a`, value `b=c`).
 */
import { BadRequest } from '../errors.js';
import type { Properties } from '../model/records.js';

export type { Properties };

/** 1 to 63 of A-Z a-z 0-9 _ . - :, starting with a letter, digit or '_' (never '.', so never '.' or '..'). */
const KEY_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,62}$/;
export const MAX_KEY = 63;
/** Bytes of UTF-8: KEY=VALUE fits in a name (63 + 1 + 191 = 255). */
export const MAX_VALUE = 191;
/** Properties per container (bounds the record and every by-property/ listing). */
export const MAX_PROPERTIES = 256;

export function parsePropertyKey(key: string): string {
  if (!KEY_RE.test(key)) {
    throw new BadRequest(`bad property key ${JSON.stringify(key)}: use 1 to ${MAX_KEY} of A-Z a-z 0-9 _ . - : starting with a letter, digit or _`);
  }
  return key;
}

export function parsePropertyValue(key: string, value: string): string {
  const bad = (why: string) => new BadRequest(`bad value of property ${JSON.stringify(key)}: ${why}`);
  if (value === '') throw bad('empty (to unset a property, write the table without its line)');
  if (Buffer.byteLength(value) > MAX_VALUE) throw bad(`longer than ${MAX_VALUE} bytes`);
  // Control characters (NUL, newline, tab …) and '/' cannot be part of a path name or a line.
  if (/[\x00-\x1f\x7f/]/.test(value)) throw bad("no '/' or control characters");
  if (value !== value.trim()) throw bad('no blanks at either end');
  if (value === '.' || value === '..') throw bad(`${JSON.stringify(value)} is not a name`);
  return value;
}

/** `KEY=VALUE` (a table line, a by-property/ name): the key ends at the first '='. */
export function parseProperty(text: string): [key: string, value: string] {
  const eq = text.indexOf('=');
  if (eq < 0) throw new BadRequest(`bad property ${JSON.stringify(text)}: want KEY=VALUE`);
  const key = parsePropertyKey(text.slice(0, eq));
  return [key, parsePropertyValue(key, text.slice(eq + 1))];
}

/**
 * Properties from lines in order: a later line for a key replaces the earlier value (so
 * `>> properties` with `k=v2` sets k). Throws on the first bad line, or past MAX_PROPERTIES.
 */
export function propertiesFrom(pairs: Iterable<[string, string]>): Properties {
  const out = new Map<string, string>();
  for (const [k, v] of pairs) {
    out.set(k, v);
    if (out.size > MAX_PROPERTIES) throw new BadRequest(`too many properties: at most ${MAX_PROPERTIES}`);
  }
  return sortedProperties(Object.fromEntries(out));
}

/** The canonical order (by key, bytewise): how they are read back and stored. */
export function sortedProperties(p: Properties): Properties {
  const keys = Object.keys(p).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // fromEntries defines own properties: a key `__proto__` stays a key, never a prototype
  return Object.fromEntries(keys.map((k) => [k, p[k]!]));
}

/** The table's lines: `KEY=VALUE`, by key. */
export function formatProperties(p: Properties): string[] {
  return Object.entries(sortedProperties(p)).map(([k, v]) => `${k}=${v}`);
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
/** A grace time of at most a year. */
export const MAX_GRACE = 365 * 86400;

/**
 * A duration in whole seconds: a number of seconds (`90`) or number-unit pairs, largest
 * first, as Go writes them (`5m`, `1h30m`, `2s`; units d h m s). At least 1s, at most 365d.
 */
export function parseDuration(text: string, what = 'duration'): number {
  const t = text.trim();
  const bad = () => new BadRequest(`bad ${what} ${JSON.stringify(text)}: want seconds or a duration such as 90s, 5m, 1h30m, 2d (at least 1s, at most 365d)`);
  let seconds: number;
  if (/^\d{1,9}$/.test(t)) seconds = Number(t);
  else {
    if (!/^(\d{1,9}[dhms]){1,4}$/.test(t)) throw bad();
    seconds = 0;
    let last = Infinity;
    for (const m of t.matchAll(/(\d+)([dhms])/g)) {
      const unit = UNIT_SECONDS[m[2]!]!;
      if (unit >= last) throw bad(); // each unit once, largest first
      last = unit;
      seconds += Number(m[1]) * unit;
    }
  }
  if (seconds < 1 || seconds > MAX_GRACE) throw bad();
  return seconds;
}

/** `5m`, `1h30m`, `2s`: what parseDuration reads back to the same number. */
export function formatDuration(seconds: number): string {
  let rest = seconds;
  let out = '';
  for (const [unit, n] of Object.entries(UNIT_SECONDS).sort((a, b) => b[1] - a[1])) {
    if (rest >= n) {
      out += `${Math.floor(rest / n)}${unit}`;
      rest %= n;
    }
  }
  return out || '0s';
}

/** A grace time: a duration, or `none` (no grace: kept until destroyed). */
export function parseGrace(text: string): number | 'none' {
  return text.trim() === 'none' ? 'none' : parseDuration(text, 'grace');
}

export function formatGrace(grace: number | undefined): string {
  return grace === undefined ? 'none' : formatDuration(grace);
}
