/**
 * How CRI objects are named and labelled in the tree (docs/cri.md, "Names" and "Labels").
 * Pure: names from metadata, labels and annotations as properties, image references as
 * image names and mirror paths. Unit-tested (test/unit/cri-names.test.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { isValidName } from '../ctl/values.js';
import { parseProperty, MAX_PROPERTIES } from '../ctl/props.js';
import { BadRequest, q } from '../errors.js';

/** Longest tree name (docs/interface.md §3). */
const MAX_NAME = 63;

/** A new CRI id: 64 hex digits, as containerd's and CRI-O's. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

const hash8 = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 8);

/**
 * A valid tree name from readable parts: each part's characters outside `A-Za-z0-9_.-`
 * become `_`, the parts are joined by `-`, `.N` is added for an attempt N > 0, and a name
 * longer than 63 keeps its first 54 characters and ends with `-` and 8 hex digits of the
 * whole (so two long names that share a beginning stay apart).
 */
export function treeName(parts: string[], attempt = 0): string {
  const clean = parts.map((p) => p.replace(/[^A-Za-z0-9_.-]/g, '_')).filter((p) => p !== '');
  let name = clean.join('-') + (attempt > 0 ? `.${attempt}` : '');
  if (!/^[A-Za-z0-9]/.test(name)) name = `k${name}`;
  if (name.length > MAX_NAME) name = `${name.slice(0, MAX_NAME - 9)}-${hash8(name)}`;
  if (!isValidName(name)) throw new BadRequest(`no tree name can be made of ${q(parts.join(' '))}`);
  return name;
}

/** The same name made unique with a part of the object's id, for when the readable one is taken. */
export function uniqueName(name: string, id: string): string {
  const tail = `-${id.slice(0, 8)}`;
  return name.slice(0, MAX_NAME - tail.length) + tail;
}

/**
 * A Kubernetes label or annotation key as a property key: `label.` or `annotation.` before
 * it, its `/` (between the prefix and the name) as `:`. Kubernetes keys never hold `:`
 * (DNS subdomain, `/`, then `A-Za-z0-9_.-`), so the way back is exact.
 */
export function propertyKey(kind: 'label' | 'annotation', key: string): string {
  return `${kind}.${key.replace(/\//g, ':')}`;
}

/** The Kubernetes key of a property key made by propertyKey (undefined: not one). */
export function kubeKey(kind: 'label' | 'annotation', property: string): string | undefined {
  const prefix = `${kind}.`;
  return property.startsWith(prefix) ? property.slice(prefix.length).replace(/:/g, '/') : undefined;
}

/**
 * The properties of a CRI object: `cri.*` first (they always fit), then each label and
 * annotation whose key and value make a valid property (key up to 63 bytes, value 1 to 191
 * bytes without `/` or control characters); the others are kept in the CRI record only
 * (store.ts), up to the tree's 256 properties.
 */
export function crProperties(fixed: Record<string, string>, labels: Record<string, string>, annotations: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (k: string, v: string): void => {
    if (Object.keys(out).length >= MAX_PROPERTIES) return;
    try {
      const [key, value] = parseProperty(`${k}=${v}`);
      out[key] = value;
    } catch {
      // Not a valid property (too long, empty, a `/` in the value …): CRI keeps it whole in its record.
    }
  };
  for (const [k, v] of Object.entries(fixed)) put(k, v);
  for (const k of Object.keys(labels).sort()) put(propertyKey('label', k), labels[k]!);
  for (const k of Object.keys(annotations).sort()) put(propertyKey('annotation', k), annotations[k]!);
  return out;
}

/** The CRI's `linux.resources` of a container, as it sets them (0: not set). */
export interface CriResources { cpu_period?: string | number; cpu_quota?: string | number; cpu_shares?: string | number; memory_limit_in_bytes?: string | number }

/**
 * Those resources as the tree's limits, in the text its `cgroup/` files take (parsed then as a
 * write there is: the same checks and errors): memory.max from memory_limit_in_bytes, cpu.max
 * from quota and period (period 100000 when unset), cpu.weight from shares by runc's
 * conversion (1 + (shares − 2) · 9999 / 262142, as drivers/runtime/spec.ts inverts it).
 */
export function limitTexts(r: CriResources | null | undefined): Array<['memory.max' | 'cpu.max' | 'cpu.weight', string]> {
  if (!r) return [];
  const n = (v: string | number | undefined): number => Number(v ?? 0);
  const out: Array<['memory.max' | 'cpu.max' | 'cpu.weight', string]> = [];
  if (n(r.memory_limit_in_bytes) > 0) out.push(['memory.max', String(n(r.memory_limit_in_bytes))]);
  if (n(r.cpu_quota) > 0) out.push(['cpu.max', `${n(r.cpu_quota)} ${n(r.cpu_period) > 0 ? n(r.cpu_period) : 100000}`]);
  if (n(r.cpu_shares) > 0) out.push(['cpu.weight', String(1 + Math.floor(((Math.max(2, n(r.cpu_shares)) - 2) * 9999) / 262142))]);
  return out;
}

/** An image reference split: registry/path name, and a tag or a digest. */
export interface ImageRef {
  /** `docker.io/library/busybox` */
  name: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+:\d+|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+:\d+)$/;

/**
 * Parse and normalize a reference as Docker does: `busybox` is
 * `docker.io/library/busybox:latest`, `me/app:1` is `docker.io/me/app:1`. Strict, since the
 * name becomes a path under the mirror (no `..`, no empty component).
 */
export function parseImageRef(ref: string): ImageRef {
  const bad = (why: string): BadRequest => new BadRequest(`bad image reference ${q(ref)}: ${why}`);
  if (ref === '' || ref.length > 255) throw bad('empty or longer than 255');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw bad('a digest is sha256: and 64 hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw bad('bad tag');
  }
  const parts = rest.split('/');
  let domain = 'docker.io';
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) throw bad('bad registry');
  }
  if (domain === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (!parts.every((p) => COMPONENT.test(p))) throw bad('a name is lower-case components separated by /');
  if (!tag && !digest) tag = 'latest';
  return { name: `${domain}/${parts.join('/')}`, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The reference's canonical text: `NAME:TAG`, `NAME@DIGEST` or `NAME:TAG@DIGEST`. */
export function formatImageRef(r: ImageRef): string {
  return `${r.name}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/**
 * Where the mirror keeps a reference: `DIR/NAME:TAG/` or `DIR/NAME@sha256:HEX/`, NAME's
 * components as directories (`DIR/docker.io/library/busybox:latest/`), each an OCI layout.
 * A reference with both a tag and a digest is looked up by its digest.
 */
export function mirrorPath(r: ImageRef): string {
  return r.digest ? `${r.name}@${r.digest}` : `${r.name}:${r.tag ?? 'latest'}`;
}

/** The tree's name of an image pulled for a reference: the last component and the tag, readable and bounded. */
export function imageTreeName(r: ImageRef): string {
  const last = r.name.slice(r.name.lastIndexOf('/') + 1);
  const full = formatImageRef(r);
  const readable = treeName([last, r.digest ? r.digest.slice(7, 19) : (r.tag ?? 'latest')]);
  // The same last component and tag under two registries or paths must not meet: a hash of the whole.
  return readable.length + 9 <= MAX_NAME ? `${readable}-${hash8(full)}` : uniqueName(readable, hash8(full));
}

/** What a reference means as one of the tree's own images (`busybox`, `busybox:latest`, `docker.io/library/busybox:latest`): its name. */
export function ownImageName(ref: string): string | undefined {
  if (isValidName(ref)) return ref;
  try {
    const r = parseImageRef(ref);
    if (r.digest || r.tag !== 'latest' || !r.name.startsWith('docker.io/library/')) return undefined;
    const n = r.name.slice('docker.io/library/'.length);
    return isValidName(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
