/**
 * container.json, the record of a container on disk: the one place where the typed record
 * (core/container.ts) becomes text and back. Ports, rules and the rate are kept as their
 * canonical lines (and the bind mounts too), as every earlier daemon wrote them, so that a restarted daemon adopts the
 * records of any earlier one and an earlier one adopts these (properties and the grace time
 * are optional keys: an earlier daemon ignores them, a record without them has none). `saveRecord` is the one writer of
 * container.json (create, limit and network changes), `loadRecord` its reader (adoption).
 */
import { parsePortForward, parseEgressRule, parseRate } from '../ctl/net-values.js';
import { parseProperty, propertiesFrom, MAX_GRACE } from '../ctl/props.js';
import { BadRequest } from '../errors.js';
import { formatPortForward, formatEgressRule, formatRate } from '../model/net.js';
import { formatBindMount } from '../model/mounts.js';
import { parseBindMount } from '../ctl/mount-values.js';
import type { Settings } from '../model/settings.js';
import { formatRlimit, type Rlimits } from '../model/rlimits.js';
import { parseRlimit, parseRlimitName, isValidName, isValidHostname } from '../ctl/values.js';
import { writeFileAtomic, readJson } from '../util/files.js';
import type { ContainerRecord } from './container.js';
import type { ContainerPaths } from './paths.js';

/** The settings as container.json holds them. */
export type SettingsFile = Omit<Settings, 'ports' | 'rules' | 'rate' | 'mounts'> & { ports?: string[]; rules?: string[]; rate?: string; mounts?: string[] };

/** The rlimits as container.json holds them: `{ "nofile": "1024:4096" }`, each value in canonical form. */
export type RlimitsFile = Record<string, string>;

/** A record as container.json holds it. */
export type RecordFile = Omit<ContainerRecord, 'settings' | 'rlimits'> & { settings: SettingsFile; rlimits?: RlimitsFile };

/** The text of container.json for a record (the keys in the record's order). */
export function encodeRecord(r: ContainerRecord): string {
  const settings: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.settings)) {
    if (k === 'ports') settings[k] = r.settings.ports!.map(formatPortForward);
    else if (k === 'rules') settings[k] = r.settings.rules!.map(formatEgressRule);
    else if (k === 'rate') settings[k] = formatRate(r.settings.rate!);
    else if (k === 'mounts') settings[k] = r.settings.mounts!.map(formatBindMount);
    else settings[k] = v;
  }
  const rlimits = r.rlimits && Object.fromEntries(Object.entries(r.rlimits).map(([k, v]) => [k, formatRlimit(v)]));
  return JSON.stringify({ ...r, settings, ...(rlimits ? { rlimits } : {}) }, null, 2) + '\n';
}

/** The typed record of a container.json's contents; throws BadRequest on a value it cannot parse. */
export function decodeRecord(f: RecordFile): ContainerRecord {
  const { ports, rules, rate, mounts, ...limits } = f.settings;
  const settings: Settings = { ...limits };
  if (ports) settings.ports = ports.map((l) => parsePortForward(l));
  if (rules) settings.rules = rules.map((l) => parseEgressRule(l));
  if (rate) settings.rate = parseRate(rate); // an empty one (an early `rate=`) is none
  if (mounts) settings.mounts = mounts.map((l) => parseBindMount(l));
  const { rlimits: rf, ...rest } = f;
  const r: ContainerRecord = { ...rest, settings };
  if (rf) {
    const rlimits: Rlimits = {};
    for (const [k, v] of Object.entries(rf)) {
      const name = parseRlimitName(k);
      rlimits[name] = parseRlimit(name, v);
    }
    r.rlimits = rlimits;
  }
  // Records before properties and grace have neither: none. Those written here are checked
  // as a write of the tree would be (a key that is no path name must never reach by-property/).
  if (f.properties !== undefined) {
    if (typeof f.properties !== 'object' || f.properties === null) throw new BadRequest('bad properties in the record');
    r.properties = propertiesFrom(Object.entries(f.properties).map(([k, v]) => parseProperty(`${k}=${String(v)}`)));
  }
  if (f.hostname !== undefined && (typeof f.hostname !== 'string' || !isValidHostname(f.hostname))) throw new BadRequest(`bad hostname ${JSON.stringify(f.hostname)} in the record`);
  if (f.joins !== undefined && (typeof f.joins !== 'string' || !isValidName(f.joins))) throw new BadRequest(`bad joins ${JSON.stringify(f.joins)} in the record`);
  if (f.grace !== undefined && !(Number.isInteger(f.grace) && f.grace >= 1 && f.grace <= MAX_GRACE)) throw new BadRequest(`bad grace ${JSON.stringify(f.grace)} in the record`);
  return r;
}

/** Write a container's record (atomically: a reader sees the old one or the new one). */
export async function saveRecord(cp: Pick<ContainerPaths, 'record'>, r: ContainerRecord): Promise<void> {
  await writeFileAtomic(cp.record, encodeRecord(r));
}

/** container.json as it is on disk, not yet decoded (undefined: none); throws when it cannot be read as JSON. */
export function loadRecord(cp: Pick<ContainerPaths, 'record'>): Promise<RecordFile | undefined> {
  return readJson<RecordFile>(cp.record);
}
