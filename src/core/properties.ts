/**
 * A container's properties and grace time through its files (docs/interface.md §5.9,
 * §5.10), and the lookup of containers by property (by-property/). A change is parsed whole
 * first (ctl/props.ts): a refused line changes nothing; then it is recorded in
 * container.json and logged in the container's events.
 */
import { describe } from '../errors.js';
import { parseProperty, propertiesFrom, parseGrace, formatGrace, sortedProperties, parsePropertyKey, parsePropertyValue, MAX_PROPERTIES, type Properties } from '../ctl/props.js';
import { saveRecord } from './record.js';
import type { Container } from './container.js';

async function logged<T>(c: Container, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    await c.events.error(describe(e));
    throw e;
  }
}

/** Record `change` on the record; undo it when container.json cannot be written. */
async function recorded(c: Container, change: () => void, undo: () => void, line: string): Promise<void> {
  change();
  try {
    await saveRecord(c.paths, c.record);
  } catch (e) {
    undo();
    throw e;
  }
  await c.events.append(line);
}

/** The lines of `properties` replace the container's properties (a later line for a key wins). */
export function setProperties(c: Container, lines: string[]): Promise<void> {
  return logged(c, async () => {
    const props = propertiesFrom(lines.map((l) => parseProperty(l)));
    const before = c.record.properties;
    const put = (p: Properties | undefined): void => {
      if (p && Object.keys(p).length > 0) c.record.properties = p;
      else delete c.record.properties;
    };
    await recorded(c, () => put(props), () => put(before), `properties ${Object.keys(props).length}`);
  });
}

/** A write to `grace`: a duration or `none`. Restarts the clock (it is a use anyway). */
export function setGrace(c: Container, text: string): Promise<void> {
  return logged(c, async () => {
    const g = parseGrace(text);
    const before = c.record.grace;
    const put = (v: number | undefined): void => {
      if (v === undefined) delete c.record.grace;
      else c.record.grace = v;
    };
    const after = g === 'none' ? undefined : g;
    await recorded(c, () => put(after), () => put(before), `grace ${formatGrace(after)}`);
    c.touch();
  });
}

/**
 * A container's properties at create: its image's `Labels` as defaults, the create's own
 * `prop.` options over them. A label that cannot be a property (a key or value the grammar
 * refuses: docs/interface.md §5.9) is left out and named in `skipped`, as are labels past
 * MAX_PROPERTIES (by key order); the create's own always fit (its parser bounds them).
 */
export function propertiesAtCreate(labels: Record<string, string> | undefined, own: Properties | undefined): { properties: Properties; skipped: string[] } {
  const out: Properties = {};
  const skipped: string[] = [];
  const ownCount = Object.keys(own ?? {}).length;
  let room = MAX_PROPERTIES - ownCount;
  for (const k of Object.keys(labels ?? {}).sort()) {
    if (own && Object.hasOwn(own, k)) continue;
    try {
      parsePropertyKey(k);
      parsePropertyValue(k, labels![k]!);
    } catch {
      skipped.push(k);
      continue;
    }
    if (room <= 0) { skipped.push(k); continue; }
    out[k] = labels![k]!;
    room--;
  }
  return { properties: sortedProperties({ ...out, ...(own ?? {}) }), skipped };
}

/** What the lookup uses of a container. */
export interface Described {
  readonly name: string;
  readonly record: { readonly properties?: Properties };
}

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The keys some container has (by-property/). */
export function propertyKeys(all: Iterable<Described>): string[] {
  const keys: string[] = [];
  for (const c of all) keys.push(...Object.keys(c.record.properties ?? {}));
  return sortedUnique(keys);
}

/** The values of `key` in use (by-property/KEY/). */
export function propertyValues(all: Iterable<Described>, key: string): string[] {
  const values: string[] = [];
  for (const c of all) {
    const v = c.record.properties?.[key];
    if (v !== undefined && Object.hasOwn(c.record.properties!, key)) values.push(v);
  }
  return sortedUnique(values);
}

/** The names of the containers whose `key` is `value` (by-property/KEY=VALUE/). */
export function withProperty(all: Iterable<Described>, key: string, value: string): string[] {
  const names: string[] = [];
  for (const c of all) {
    const p = c.record.properties;
    if (p && Object.hasOwn(p, key) && p[key] === value) names.push(c.name);
  }
  return sortedUnique(names);
}
