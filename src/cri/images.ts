/**
 * The ImageService of the CRI face (docs/cri.md, "Images"): references resolved against the
 * images pulled through CRI (store.ts), the tree's own images (`busybox`,
 * `docker.io/library/busybox:latest`), and, for PullImage, the mirror: `--image-mirror DIR`
 * holds one OCI layout per reference (names.ts, mirrorPath), imported into the tree as any
 * `image import` is (confined, docs/security.md §2). No registry is ever contacted.
 */
import { promises as fs, constants as C } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Warden } from '../core/warden.js';
import { NotFound, BadRequest, q } from '../errors.js';
import { parseImageRef, formatImageRef, mirrorPath, imageTreeName, ownImageName, type ImageRef } from './names.js';
import type { CriStore, ImgRecord } from './store.js';
import { logger } from '../util/log.js';

const log = logger('cri');

/** Largest index.json or manifest read from the mirror. */
const MAX_JSON = 1 << 20;

export interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: string;
  username: string;
  spec: { image: string };
}

/** A small JSON file of the mirror, read without following a link at its end. */
async function readSmallJson(file: string): Promise<unknown> {
  const fh = await fs.open(file, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(MAX_JSON + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_JSON) throw new BadRequest(`${q(file)} is larger than ${MAX_JSON} bytes`);
    return JSON.parse(buf.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await fh.close();
  }
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The manifest digest and the config digest (the image id, as containerd reports it) of an OCI layout's first manifest. */
async function layoutDigests(layout: string): Promise<{ manifest: string; config: string }> {
  const index = await readSmallJson(path.join(layout, 'index.json')) as { manifests?: Array<{ digest?: string }> };
  const manifest = index.manifests?.[0]?.digest;
  if (!manifest || !DIGEST.test(manifest)) throw new BadRequest(`${q(layout)}: index.json names no sha256 manifest`);
  const m = await readSmallJson(path.join(layout, 'blobs', 'sha256', manifest.slice(7))) as { config?: { digest?: string } };
  const config = m.config?.digest;
  if (!config || !DIGEST.test(config)) throw new BadRequest(`${q(layout)}: the manifest names no sha256 config`);
  return { manifest, config };
}

export class CriImages {
  /** Sizes of the tree's images, computed once per image (a walk of its files). */
  private readonly sizes = new Map<string, number>();

  constructor(private readonly w: Warden, private readonly store: CriStore, private readonly mirror?: string) {}

  /** The tree image a reference (or an image id) means, or undefined. */
  async resolve(ref: string): Promise<string | undefined> {
    let parsed: ImageRef | undefined;
    try {
      parsed = parseImageRef(ref);
    } catch {
      // not a reference: an id, or one of the tree's own names
    }
    const canon = parsed && formatImageRef(parsed);
    for (const r of this.store.images.values()) {
      const hit = r.id === ref || r.id === `sha256:${ref}` || r.repoTags.includes(ref) || r.repoDigests.includes(ref)
        || (canon !== undefined && (r.repoTags.includes(canon) || r.repoDigests.includes(canon)));
      if (hit && (await this.w.images.has(r.tree))) return r.tree;
    }
    const own = ownImageName(ref);
    if (own && (await this.w.images.has(own))) return own;
    for (const name of await this.w.images.list()) if ((await this.describe(name)).id === ref) return name;
    return undefined;
  }

  /** The CRI view of a tree image. */
  async describe(name: string): Promise<CriImage> {
    const rec = this.store.images.get(name);
    const id = rec?.id ?? await this.ownId(name);
    return {
      id,
      repo_tags: rec ? rec.repoTags : [`${name}:latest`],
      repo_digests: rec ? rec.repoDigests : [],
      size: String(await this.size(name)),
      username: '',
      spec: { image: id },
    };
  }

  /** A tree image made otherwise (`image import`, the default image): an id of its name and when it was made. */
  private async ownId(name: string): Promise<string> {
    const st = await fs.stat(path.join(this.w.images.dir, name, 'image.json'));
    return `sha256:${createHash('sha256').update(`wardenfs image ${name} ${st.mtimeMs}`).digest('hex')}`;
  }

  private async size(name: string): Promise<number> {
    const known = this.sizes.get(name);
    if (known !== undefined) return known;
    let total = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else total += (await fs.lstat(p).catch(() => undefined))?.size ?? 0;
      }
    };
    await walk(this.w.images.rootfs(name));
    const size = Math.max(total, 1); // CRI: must be > 0
    this.sizes.set(name, size);
    return size;
  }

  async list(): Promise<CriImage[]> {
    return Promise.all((await this.w.images.list()).map((n) => this.describe(n)));
  }

  async status(ref: string): Promise<CriImage | undefined> {
    const name = await this.resolve(ref);
    return name === undefined ? undefined : this.describe(name);
  }

  /** Pulls under way, by reference as asked: a second pull of the same waits for the first. */
  private readonly pulling = new Map<string, Promise<string>>();

  /** PullImage: the image the reference means, made from the mirror when the tree has none; its id. */
  pull(ref: string): Promise<string> {
    let p = this.pulling.get(ref);
    if (!p) {
      p = this.pullNow(ref).finally(() => this.pulling.delete(ref));
      this.pulling.set(ref, p);
    }
    return p;
  }

  private async pullNow(ref: string): Promise<string> {
    const have = await this.resolve(ref);
    if (have !== undefined) return (await this.describe(have)).id;
    const parsed = parseImageRef(ref);
    const layout = this.mirror && path.join(this.mirror, mirrorPath(parsed));
    const st = layout ? await fs.stat(layout).catch(() => undefined) : undefined;
    if (!layout || !st?.isDirectory()) {
      throw new NotFound(`image ${q(ref)} is neither in the tree nor in the mirror${this.mirror ? ` (${path.join(this.mirror, mirrorPath(parsed))})` : ' (no --image-mirror)'}`);
    }
    const digests = await layoutDigests(layout);
    const tree = imageTreeName(parsed);
    const rec: ImgRecord = {
      tree,
      id: digests.config,
      repoTags: parsed.tag ? [formatImageRef({ name: parsed.name, tag: parsed.tag })] : [],
      repoDigests: [`${parsed.name}@${digests.manifest}`],
    };
    if (!(await this.w.images.has(tree))) {
      await this.w.images.import(tree, layout, (line) => void this.w.events.append(line));
      await this.w.events.append(`image imported ${tree}`);
      log('pulled %s from %s as %s', ref, layout, tree);
    }
    await this.store.saveImage(rec);
    return rec.id;
  }

  /** RemoveImage: gone already is success. Busy while a container uses it. */
  async remove(ref: string): Promise<void> {
    const name = await this.resolve(ref);
    if (name === undefined) return;
    await this.w.images.remove(name);
    await this.w.events.append(`image removed ${name}`);
    this.sizes.delete(name);
    await this.store.dropImage(name);
  }

  /** ImageFsInfo: the file system of the image store. */
  async fsInfo(): Promise<{ mountpoint: string; used: number; inodes: number }> {
    const s = await fs.statfs(this.w.images.dir);
    return { mountpoint: this.w.images.dir, used: (s.blocks - s.bfree) * s.bsize, inodes: s.files - s.ffree };
  }
}
