/**
 * Unpacking an OCI image layout (index.json → manifest → layers) into an image, layer
 * after layer, through the confined writer (unpack.ts): whiteouts (`.wh.NAME`,
 * `.wh..wh..opq`) delete what lower layers made, never what the same layer makes, and
 * resolve inside the image like every other name. The layout is read through its own
 * resolver, so a blob that is a symlink never leads out of the layout; every blob is
 * checked against its digest.
 *
 * Which manifest: the only one index.json lists (with or without a ref name); among
 * several, the one for this host's platform if exactly one is; otherwise the import is
 * refused and the error lists what the layout holds. An image index met on the way is
 * followed by the same rule.
 */
import { constants as C, read, close } from 'node:fs';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { BadRequest } from '../../errors.js';
import { isErrno } from '../../util/files.js';
import type { RootfsResolver } from '../rootfs/resolver.js';
import { applyTar, type ImageWriter } from './unpack.js';
import { imageConfigOf } from './config.js';
import type { ImageConfig } from '../../model/image.js';

const pRead = promisify(read);
const pClose = promisify(close);

interface Descriptor {
  mediaType?: string;
  digest: string;
  platform?: { os?: string; architecture?: string };
  annotations?: Record<string, string>;
}
interface Index { manifests?: Descriptor[] }
interface Manifest { mediaType?: string; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] }

const MAX_JSON = 4 << 20;

function blobPath(digest: unknown): string {
  const m = typeof digest === 'string' ? /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/.exec(digest) : null;
  if (!m || (m[1] === 'sha256') !== (m[2]!.length === 64)) throw new BadRequest(`bad digest ${JSON.stringify(digest)} in the OCI layout`);
  return `blobs/${m[1]}/${m[2]}`;
}

/** A small file of the layout, read through its resolver. */
async function readSmall(layout: RootfsResolver, rel: string): Promise<Buffer> {
  const fd = await layout.open(rel, C.O_RDONLY | C.O_NONBLOCK, 0, { follow: true });
  try {
    const out: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(65536);
      const { bytesRead } = await pRead(fd, buf, 0, buf.length, total);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_JSON) throw new BadRequest(`${rel} of the OCI layout is too large`);
      out.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(out);
  } finally {
    await pClose(fd);
  }
}

async function readJsonBlob<T>(layout: RootfsResolver, digest: string): Promise<T> {
  const rel = blobPath(digest);
  try {
    const data = await readSmall(layout, rel);
    const [alg, hex] = digest.split(':');
    if (createHash(alg!).update(data).digest('hex') !== hex) throw new BadRequest(`blob ${digest} of the OCI layout does not match its digest`);
    return JSON.parse(data.toString('utf8')) as T;
  } catch (e) {
    if (e instanceof BadRequest) throw e;
    throw new BadRequest(`cannot read blob ${digest} of the OCI layout: ${(e as Error).message}`);
  }
}

export async function isOciLayout(layout: RootfsResolver): Promise<boolean> {
  for (const f of ['oci-layout', 'index.json']) {
    try {
      await layout.lstat(f);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return false;
      throw e;
    }
  }
  return true;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

function pick(list: Descriptor[] | undefined, where: string): Descriptor {
  if (!list?.length) throw new BadRequest(`the OCI layout lists no manifest (${where})`);
  if (list.length === 1) return list[0]!;
  const arch = ARCH[process.arch] ?? process.arch;
  const mine = list.filter((d) => d.platform?.os === 'linux' && d.platform.architecture === arch);
  if (mine.length === 1) return mine[0]!;
  const names = list.map((d) => d.annotations?.['org.opencontainers.image.ref.name'] ?? `${d.platform?.os ?? '?'}/${d.platform?.architecture ?? '?'}`);
  throw new BadRequest(`the OCI layout lists ${list.length} manifests (${names.join(', ')}) in ${where}: import a layout with one`);
}

/** Unpack the layout's image into `w`; its run configuration (validated, config.ts) is returned. */
export async function unpackOciLayout(layout: RootfsResolver, w: ImageWriter, progress: (line: string) => void): Promise<ImageConfig> {
  let index: Index;
  try {
    index = JSON.parse((await readSmall(layout, 'index.json')).toString('utf8')) as Index;
  } catch (e) {
    throw new BadRequest(`cannot read index.json of the OCI layout: ${(e as Error).message}`);
  }
  let manifest = await readJsonBlob<Manifest>(layout, pick(index.manifests, 'index.json').digest);
  // An image index (multi-platform) points at manifests.
  for (let depth = 0; !manifest.layers && manifest.manifests; depth++) {
    if (depth > 3) throw new BadRequest('the OCI layout nests image indexes too deep');
    manifest = await readJsonBlob<Manifest>(layout, pick(manifest.manifests, 'an image index').digest);
  }
  // The config first: a bad one refuses the import before any layer is unpacked.
  const config = manifest.config === undefined ? {} : imageConfigOf(await readJsonBlob<unknown>(layout, manifest.config.digest));
  const layers = manifest.layers ?? [];
  for (const [i, layer] of layers.entries()) {
    progress(`layer ${i + 1}/${layers.length} ${layer.digest.slice(0, 19)}`);
    w.newLayer();
    const fd = await layout.open(blobPath(layer.digest), C.O_RDONLY | C.O_NONBLOCK, 0, { follow: true }).catch((e: Error) => {
      throw new BadRequest(`cannot open layer ${layer.digest} of the OCI layout: ${e.message}`);
    });
    await applyTar(w, fd, `layer ${layer.digest}`, true, layer.digest);
  }
  return config;
}
