/**
 * Unpacking an OCI image layout (index.json → manifest → layers) into a directory.
 * Layers are applied in order; whiteouts (`.wh.NAME`, `.wh..wh..opq`) delete what lower
 * layers made before the layer's own files are extracted, so a layer that both makes a
 * directory opaque and adds files to it keeps its files.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BadRequest } from '../../errors.js';
import { run } from '../../util/exec.js';

interface Descriptor { mediaType?: string; digest: string }
interface Index { manifests?: Descriptor[] }
interface Manifest { layers?: Descriptor[]; manifests?: Descriptor[] }

function blobPath(layout: string, digest: string): string {
  const m = /^(sha256|sha512):([a-f0-9]{32,128})$/.exec(digest);
  if (!m) throw new BadRequest(`bad digest ${JSON.stringify(digest)} in OCI layout`);
  return path.join(layout, 'blobs', m[1]!, m[2]!);
}

async function readJsonBlob<T>(layout: string, digest: string): Promise<T> {
  try {
    return JSON.parse(await fs.readFile(blobPath(layout, digest), 'utf8')) as T;
  } catch (e) {
    if (e instanceof BadRequest) throw e;
    throw new BadRequest(`cannot read blob ${digest} of the OCI layout: ${(e as Error).message}`);
  }
}

export async function isOciLayout(dir: string): Promise<boolean> {
  try {
    await fs.access(path.join(dir, 'oci-layout'));
    await fs.access(path.join(dir, 'index.json'));
    return true;
  } catch {
    return false;
  }
}

/** Inside `root`, resolve a layer member path without leaving root (members never contain '..' after tar's checks, but be strict). */
function inside(root: string, member: string): string | undefined {
  const clean = path.normalize('/' + member);
  if (clean.split('/').includes('..')) return undefined;
  return path.join(root, clean);
}

async function applyWhiteouts(root: string, members: string[]): Promise<void> {
  for (const m of members) {
    const base = path.posix.basename(m);
    const dir = path.posix.dirname(m);
    if (base === '.wh..wh..opq') {
      const d = inside(root, dir);
      if (!d) continue;
      const entries = await fs.readdir(d).catch(() => [] as string[]);
      for (const e of entries) await fs.rm(path.join(d, e), { recursive: true, force: true });
    } else if (base.startsWith('.wh.')) {
      const target = inside(root, path.posix.join(dir, base.slice(4)));
      if (target) await fs.rm(target, { recursive: true, force: true });
    }
  }
}

export async function unpackOciLayout(layout: string, dest: string): Promise<void> {
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as Index;
  let desc = index.manifests?.[0];
  if (!desc) throw new BadRequest('the OCI layout lists no manifest');
  let manifest = await readJsonBlob<Manifest>(layout, desc.digest);
  // An image index (multi-platform) points at manifests: take the first.
  if (!manifest.layers && manifest.manifests?.[0]) {
    desc = manifest.manifests[0];
    manifest = await readJsonBlob<Manifest>(layout, desc.digest);
  }
  for (const layer of manifest.layers ?? []) {
    const blob = blobPath(layout, layer.digest);
    const { stdout } = await run('tar', ['-tf', blob]);
    const members = stdout.split('\n').filter(Boolean);
    await applyWhiteouts(dest, members);
    await run('tar', ['-xf', blob, '-C', dest, '--numeric-owner', '--exclude=.wh.*', '--exclude=*/.wh.*']);
  }
}
