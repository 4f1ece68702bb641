/**
 * `docker save` archives: a tar holding `manifest.json`, a config JSON and one tar per
 * layer (`ID/layer.tar` before Docker 25, `blobs/sha256/HEX` since, the same files
 * `image export` writes). The archive is untrusted like every import source: its members
 * are only ever read as data, never extracted; the layers are applied through the
 * confined writer (unpack.ts) with whiteouts, as an OCI layout's are.
 *
 * A tar is told to be such an archive by its member names alone: it is one when every name
 * is one Docker writes (manifest.json, repositories, index.json, oci-layout, HEX.json,
 * HEX/layer.tar, HEX/json, HEX/VERSION, blobs/…) and manifest.json is among them. A rootfs
 * tarball stops the scan at its first name (`bin/`, `etc/` …), so telling costs nothing there.
 * The members are then read where they lie: by offset in an uncompressed archive (what
 * `docker save` writes), by reading the archive again up to them in a compressed one.
 */
import { constants as C, open, read, fstat, createReadStream } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { BadRequest } from '../../errors.js';
import type { ImageConfig } from '../../model/image.js';
import { decompressed, decompressedStream, readTar, type MemberType } from './tar.js';
import { applyTarStream, memberPath, type ImageWriter } from './unpack.js';
import { parseImageConfig } from './config.js';

const pOpen = promisify(open);
const pRead = promisify(read);
const pFstat = promisify(fstat);

const ARCHIVE_NAME = /^(?:manifest\.json|repositories|index\.json|oci-layout|[0-9a-f]{64}(?:\.json)?|[0-9a-f]{64}\/(?:layer\.tar|json|VERSION)|blobs|blobs\/sha(?:256|512)|blobs\/sha(?:256|512)\/[0-9a-f]{64,128})$/;
/** Members of an image archive: Docker writes a handful per layer. */
const MAX_MEMBERS = 4096;
const MAX_JSON = 4 << 20;
const MAX_LAYERS = 256;
const MAX_LINKS = 8;

interface Indexed { type: MemberType; size: number; offset: number; linkname: string }

export interface ImageArchive {
  /** The archive (an fd this does not own), and what to call it. */
  fd: number;
  what: string;
  compressed: boolean;
  members: Map<string, Indexed>;
}

/** A new fd on the same open file (its own offset and lifetime), never the path again. */
export function reopen(fd: number): Promise<number> {
  return pOpen(`/proc/self/fd/${fd}`, C.O_RDONLY | C.O_NONBLOCK);
}

async function isCompressed(fd: number): Promise<boolean> {
  const b = Buffer.alloc(6);
  const { bytesRead } = await pRead(fd, b, 0, 6, 0);
  const m = b.subarray(0, bytesRead);
  const is = (...x: number[]): boolean => x.every((v, i) => m[i] === v);
  return is(0x1f, 0x8b) || is(0x42, 0x5a, 0x68) || is(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00) || is(0x28, 0xb5, 0x2f, 0xfd);
}

/**
 * The index of a `docker save` archive, or undefined when the tar is something else (a
 * rootfs tarball: imported as one). A file that is no tar at all is undefined too: the
 * rootfs import says what is wrong with it.
 */
export async function indexImageArchive(fd: number, what: string): Promise<ImageArchive | undefined> {
  if (!(await pFstat(fd)).isFile()) return undefined;
  const compressed = await isCompressed(fd);
  const d = await decompressed(await reopen(fd), what);
  const members = new Map<string, Indexed>();
  try {
    for await (const { member, offset } of readTar(d.stream)) {
      let name: string;
      try {
        name = memberPath(member.name);
      } catch {
        return undefined;
      }
      if (name === '') continue;
      if (!ARCHIVE_NAME.test(name) || members.size >= MAX_MEMBERS) return undefined;
      members.set(name, { type: member.type, size: member.size, offset, linkname: member.linkname });
    }
  } catch {
    return undefined; // not a (readable) tar: the plain import reports it
  } finally {
    d.done();
  }
  return members.has('manifest.json') ? { fd, what, compressed, members } : undefined;
}

/** A member's entry, its links (within the archive) followed. */
function find(a: ImageArchive, name: string): { name: string; m: Indexed } {
  let cur = name;
  for (let i = 0; i <= MAX_LINKS; i++) {
    const m = a.members.get(cur);
    if (!m) throw new BadRequest(`the image archive has no ${JSON.stringify(cur)}`);
    if (m.type === 'file') return { name: cur, m };
    if (m.type === 'link') cur = memberPath(m.linkname, 'link target');
    else if (m.type === 'symlink') {
      const t = path.posix.normalize(path.posix.join(path.posix.dirname(cur), m.linkname));
      if (m.linkname.startsWith('/') || t.startsWith('..')) throw new BadRequest(`link ${JSON.stringify(cur)} leads out of the image archive`);
      cur = t;
    } else throw new BadRequest(`${JSON.stringify(cur)} of the image archive is not a file`);
  }
  throw new BadRequest(`too many links to ${JSON.stringify(name)} in the image archive`);
}

/** A member's bytes as they are in the archive (never decompressed here), as a stream; the caller calls `done`. */
async function memberBytes(a: ImageArchive, name: string): Promise<{ stream: AsyncIterable<Buffer>; done: () => void; size: number }> {
  const { m } = find(a, name);
  if (!a.compressed) {
    if (m.size === 0) return { stream: (async function* () { /* empty */ })(), done: () => undefined, size: 0 };
    const fd = await reopen(a.fd);
    const s = createReadStream('', { fd, autoClose: true, start: m.offset, end: m.offset + m.size - 1 });
    return { stream: s, done: () => { s.destroy(); }, size: m.size };
  }
  const d = await decompressed(await reopen(a.fd), a.what);
  async function* body(): AsyncGenerator<Buffer> {
    for await (const { offset, body: b } of readTar(d.stream)) {
      if (offset === m.offset) {
        yield* b;
        return;
      }
    }
    throw new BadRequest(`${JSON.stringify(name)} vanished from the image archive`);
  }
  return { stream: body(), done: d.done, size: m.size };
}

async function readMember(a: ImageArchive, name: string): Promise<Buffer> {
  const { m } = find(a, name);
  if (m.size > MAX_JSON) throw new BadRequest(`${JSON.stringify(name)} of the image archive is too large`);
  const r = await memberBytes(a, name);
  try {
    const parts: Buffer[] = [];
    let total = 0;
    for await (const b of r.stream) {
      total += b.length;
      if (total > MAX_JSON) throw new BadRequest(`${JSON.stringify(name)} of the image archive is too large`);
      parts.push(b);
    }
    return Buffer.concat(parts);
  } finally {
    r.done();
  }
}

/** The digest a member's name promises (`HEX.json`, `blobs/sha256/HEX`), if any. */
function namedDigest(name: string): string | undefined {
  const m = /^(?:blobs\/(sha256|sha512)\/([0-9a-f]+)|([0-9a-f]{64})\.json)$/.exec(name);
  if (!m) return undefined;
  return m[3] ? `sha256:${m[3]}` : `${m[1]}:${m[2]}`;
}

interface DockerManifest { Config?: unknown; Layers?: unknown; RepoTags?: unknown }

/** Unpack the archive's one image into `w`; its run configuration is returned. */
export async function unpackDockerArchive(a: ImageArchive, w: ImageWriter, progress: (line: string) => void): Promise<ImageConfig> {
  let list: unknown;
  try {
    list = JSON.parse((await readMember(a, 'manifest.json')).toString('utf8'));
  } catch (e) {
    if (e instanceof BadRequest) throw e;
    throw new BadRequest(`bad manifest.json in the image archive: ${(e as Error).message}`);
  }
  if (!Array.isArray(list) || list.length === 0) throw new BadRequest('manifest.json of the image archive lists no image');
  if (list.length > 1) {
    const tags = list.map((m: DockerManifest) => (Array.isArray(m?.RepoTags) ? m.RepoTags.join(' ') : '?'));
    throw new BadRequest(`the image archive holds ${list.length} images (${tags.join(', ')}): import an archive of one`);
  }
  const man = list[0] as DockerManifest;
  if (typeof man?.Config !== 'string' || !Array.isArray(man.Layers) || !man.Layers.every((l) => typeof l === 'string')) {
    throw new BadRequest('manifest.json of the image archive wants "Config" (a name) and "Layers" (a list of names)');
  }
  const layers = man.Layers as string[];
  if (layers.length > MAX_LAYERS) throw new BadRequest(`the image archive has more than ${MAX_LAYERS} layers`);
  const configName = find(a, memberPath(man.Config, 'config name')).name;
  const configData = await readMember(a, configName);
  const want = namedDigest(configName);
  if (want) {
    const [alg, hex] = want.split(':');
    if (createHash(alg!).update(configData).digest('hex') !== hex) throw new BadRequest(`config ${JSON.stringify(configName)} of the image archive does not match its digest`);
  }
  const config = parseImageConfig(configData);
  for (const [i, layer] of layers.entries()) {
    const { name } = find(a, memberPath(layer, 'layer name'));
    progress(`layer ${i + 1}/${layers.length} ${name.slice(0, 40)}`);
    w.newLayer();
    const bytes = await memberBytes(a, name);
    const what = `layer ${JSON.stringify(name)}`;
    let inner;
    try {
      inner = await decompressedStream(bytes.stream, what, namedDigest(name));
    } catch (e) {
      bytes.done();
      throw e;
    }
    await applyTarStream(w, { stream: inner.stream, done: () => { inner.done(); bytes.done(); } }, true);
  }
  return config;
}
