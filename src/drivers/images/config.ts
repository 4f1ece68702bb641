/**
 * An image's run configuration, read from untrusted JSON (an OCI config blob or a `docker
 * save` archive's config file) and validated before anything is imported: the fields
 * wardenfs honours (model/image.ts) must have their documented types, sizes are bounded, and
 * strings that become a program, arguments, environment or a path carry no NUL. Anything
 * else in the blob (history, rootfs, Healthcheck, Volumes …) is ignored. A config that fails
 * fails the whole import (BadRequest), so no image with a half-read config exists.
 */
import { BadRequest } from '../../errors.js';
import { IMAGE_CONFIG_FIELDS, type ImageConfig } from '../../model/image.js';

/** The config as images/NAME/config shows it may not exceed this (it is kept in image.json and in every container's record). */
export const MAX_IMAGE_CONFIG = 256 * 1024;
/** Entries of one list or map. */
export const MAX_CONFIG_ITEMS = 1024;

const ACCOUNT = '(?:\\d{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,31}\\$?)';
const USER = new RegExp(`^${ACCOUNT}(?::${ACCOUNT})?$`);
const PORT = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/;

function bad(field: string, why: string): BadRequest {
  return new BadRequest(`bad image config: ${JSON.stringify(field)} ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(field: string, v: unknown): string {
  if (typeof v !== 'string') throw bad(field, 'must hold strings');
  if (v.includes('\0')) throw bad(field, 'holds a NUL character');
  return v;
}

function strings(field: string, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw bad(field, 'must be a list of strings');
  if (v.length > MAX_CONFIG_ITEMS) throw bad(field, `has more than ${MAX_CONFIG_ITEMS} entries`);
  const out = v.map((s) => str(field, s));
  return out.length ? out : undefined;
}

function map<T>(field: string, v: unknown, value: (k: string, x: unknown) => T): Record<string, T> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad(field, 'must be an object');
  const keys = Object.keys(v);
  if (keys.length > MAX_CONFIG_ITEMS) throw bad(field, `has more than ${MAX_CONFIG_ITEMS} entries`);
  if (!keys.length) return undefined;
  const out: Record<string, T> = {};
  for (const k of keys.sort()) {
    if (k === '' || k.includes('\0')) throw bad(field, `has a bad key ${JSON.stringify(k)}`);
    out[k] = value(k, v[k]);
  }
  return out;
}

/**
 * The run configuration of an image config blob (already parsed JSON): `{ "config": {…} }`
 * as OCI and Docker write it. No `config` (or null) is an image without one: `{}`.
 */
export function imageConfigOf(blob: unknown): ImageConfig {
  if (!isObject(blob)) throw new BadRequest('bad image config: not a JSON object');
  const c = blob['config'];
  if (c === undefined || c === null) return {};
  if (!isObject(c)) throw new BadRequest('bad image config: "config" must be an object');
  const out: ImageConfig = {};
  const env = strings('Env', c['Env']);
  if (env) {
    for (const e of env) if (!/^[^=]+=/.test(e)) throw bad('Env', `entry ${JSON.stringify(e.slice(0, 80))} is not NAME=VALUE`);
    out.Env = env;
  }
  if (c['WorkingDir'] !== undefined && c['WorkingDir'] !== null) {
    const d = str('WorkingDir', c['WorkingDir']);
    if (d !== '' && !d.startsWith('/')) throw bad('WorkingDir', `${JSON.stringify(d.slice(0, 80))} is not an absolute path`);
    if (d !== '') out.WorkingDir = d;
  }
  if (c['User'] !== undefined && c['User'] !== null) {
    const u = str('User', c['User']);
    if (u !== '' && (!USER.test(u) || u.split(':').some((p) => /^\d+$/.test(p) && Number(p) > 0xfffffffe))) throw bad('User', `${JSON.stringify(u.slice(0, 80))} is not USER or USER:GROUP (names or numbers)`);
    if (u !== '') out.User = u;
  }
  const entrypoint = strings('Entrypoint', c['Entrypoint']);
  if (entrypoint) {
    if (entrypoint[0] === '') throw bad('Entrypoint', 'starts with an empty program');
    out.Entrypoint = entrypoint;
  }
  const cmd = strings('Cmd', c['Cmd']);
  if (cmd) {
    if (!entrypoint && cmd[0] === '') throw bad('Cmd', 'starts with an empty program');
    out.Cmd = cmd;
  }
  const ports = map('ExposedPorts', c['ExposedPorts'], (k, x) => {
    const m = PORT.exec(k);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw bad('ExposedPorts', `has a bad port ${JSON.stringify(k.slice(0, 80))}: want PORT[/tcp|/udp|/sctp]`);
    if (x !== null && !isObject(x)) throw bad('ExposedPorts', 'values must be objects');
    return {} as Record<string, never>;
  });
  if (ports) out.ExposedPorts = ports;
  const labels = map('Labels', c['Labels'], (_k, x) => str('Labels', x));
  if (labels) out.Labels = labels;
  if (Buffer.byteLength(formatImageConfig(out)) > MAX_IMAGE_CONFIG) {
    throw new BadRequest(`bad image config: more than ${MAX_IMAGE_CONFIG} bytes in ${IMAGE_CONFIG_FIELDS.join(', ')}`);
  }
  return out;
}

/** Parse a config blob's bytes. */
export function parseImageConfig(data: Buffer): ImageConfig {
  let blob: unknown;
  try {
    blob = JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new BadRequest(`bad image config: not JSON (${(e as Error).message})`);
  }
  return imageConfigOf(blob);
}

/** images/NAME/config: the fields in a fixed order, as JSON (two-space indent, newline at the end). */
export function formatImageConfig(c: ImageConfig): string {
  const ordered: Record<string, unknown> = {};
  for (const f of IMAGE_CONFIG_FIELDS) if (c[f] !== undefined) ordered[f] = c[f];
  return JSON.stringify(ordered, null, 2) + '\n';
}
