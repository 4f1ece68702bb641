/**
 * The image store: `STATE/images/NAME/rootfs` is an image's root filesystem, used as the
 * read-only lower layer of every container made from it; `image.json` beside it is
 * written last, so a half-made image (daemon killed mid-import) is never listed and is
 * swept at the next start. Images are built in a temporary directory and renamed into place.
 */
import { promises as fs, constants, open as openFd, close as closeFd } from 'node:fs';
import path from 'node:path';
import { BadRequest, Exists, NotFound, Busy, q } from '../../errors.js';
import { writeFileAtomic, exists, randomHex, isErrno } from '../../util/files.js';
import { logger } from '../../util/log.js';
import { buildBusyboxRootfs } from './busybox.js';
import { isOciLayout, unpackOciLayout } from './oci-layout.js';
import { ImageWriter, applyTar, copyDirectory } from './unpack.js';
import { indexImageArchive, unpackDockerArchive, reopen } from './docker-archive.js';
import type { ImageConfig } from '../../model/image.js';
import { exportArchive } from './export.js';
import { formatImageConfig } from './config.js';
import { readJson } from '../../util/files.js';
import { realSource, type MountGuard } from './source.js';
import { commitRoot, type CommitSource, type CommitStats } from './commit.js';
import { LRUCache } from 'lru-cache';
import { RootfsResolver } from '../rootfs/resolver.js';

const log = logger('images');

export const DEFAULT_IMAGE = 'busybox';

/** How many image roots stay open at once (ImageStore#resolver). */
export const IMAGE_ROOTS_OPEN = 32;

export interface ImageRecord {
  name: string;
  created: string;
  source: string;
  /** How the image is meant to run (an OCI layout's or a `docker save` archive's config); absent: none. */
  config?: ImageConfig;
}

export class ImageStore {
  /** Names being imported or removed right now: a second message on the same name waits its turn by failing fast. */
  private readonly pending = new Set<string>();

  constructor(readonly dir: string, private readonly inUse: (image: string) => boolean) {}

  rootfs(name: string): string {
    return path.join(this.dir, name, 'rootfs');
  }

  /**
   * Open image roots, at most IMAGE_ROOTS_OPEN (each holds an fd and a detached mount, and the
   * FUSE binding a duplicate of it): the least recently used is closed when another is opened
   * (its registration with the binding ends with it; the next access opens it again). A call
   * already running on an evicted root finishes first (RootfsResolver#close waits for it).
   */
  private readonly resolvers = new LRUCache<string, Promise<RootfsResolver>>({
    max: IMAGE_ROOTS_OPEN,
    dispose: (r, name, reason) => {
      if (reason !== 'evict') return; // removed by remove(), which closes it itself
      r.then((x) => x.close(), () => undefined).catch((e: unknown) => log('closing the root of image %s: %s', name, e));
    },
  });

  /** The confined, cached view of an image's root filesystem (closed when the image is removed). */
  resolver(name: string): Promise<RootfsResolver> {
    let r = this.resolvers.get(name);
    if (!r) {
      r = RootfsResolver.open(this.rootfs(name));
      r.catch(() => { if (this.resolvers.peek(name) === r) this.resolvers.delete(name); }); // the caller gets the failure through `r`; the next open tries again
      this.resolvers.set(name, r);
    }
    return r;
  }

  async list(): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]); // no images dir yet: no images
    const ready: string[] = [];
    for (const n of names) {
      if (n.startsWith('.')) continue;
      if (await exists(path.join(this.dir, n, 'image.json'))) ready.push(n);
    }
    return ready.sort();
  }

  async has(name: string): Promise<boolean> {
    return exists(path.join(this.dir, name, 'image.json'));
  }

  /** The image's run configuration (`{}`: it has none); NotFound for no such image. */
  async config(name: string): Promise<ImageConfig> {
    const rec = await readJson<ImageRecord>(path.join(this.dir, name, 'image.json'));
    if (!rec) throw new NotFound(`no such image ${q(name)}`);
    return rec.config ?? {};
  }

  /** `images/NAME/config`: the run configuration as JSON (config.ts, formatImageConfig). */
  async configText(name: string): Promise<string> {
    return formatImageConfig(await this.config(name));
  }

  /** `images/NAME/export.tar`: the image as a `docker save` archive, streamed (export.ts). */
  async *export(name: string): AsyncGenerator<Buffer> {
    const rec = await readJson<ImageRecord>(path.join(this.dir, name, 'image.json'));
    if (!rec) throw new NotFound(`no such image ${q(name)}`);
    yield* exportArchive({ name, created: rec.created, config: rec.config ?? {}, root: await this.resolver(name) });
  }

  /** Remove leftovers of interrupted imports and removals. */
  async sweep(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const n of await fs.readdir(this.dir)) {
      const p = path.join(this.dir, n);
      if (n.startsWith('.') || !(await exists(path.join(p, 'image.json')))) {
        log('sweeping half-made image %s', n);
        await fs.rm(p, { recursive: true, force: true });
      }
    }
  }

  /** Make the default image at first start. */
  async ensureDefault(progress: (line: string) => void): Promise<void> {
    if (await this.has(DEFAULT_IMAGE)) return;
    progress(`building image ${DEFAULT_IMAGE} from busybox-static`);
    await this.build(DEFAULT_IMAGE, 'busybox-static', (rootfs) => buildBusyboxRootfs(rootfs));
    progress(`image ${DEFAULT_IMAGE} ready`);
  }

  /** The tree's own mount, set once mounted: import sources must keep out of it. */
  guard?: MountGuard;

  /**
   * `image import NAME PATH`: a directory, a tar archive (gzip, bzip2, xz or zstd) or an OCI
   * image layout. Everything is written through a resolver confined to the image being
   * built (unpack.ts); `progress` hears of long imports (layers, every 5000 entries).
   */
  async import(name: string, source: string, progress: (line: string) => void = () => undefined): Promise<void> {
    if (!path.isAbsolute(source)) throw new BadRequest(`bad path ${q(source)}: want an absolute host path`);
    if (this.pending.has(name) || (await this.has(name))) throw new Exists(`image ${q(name)} exists`);
    const real = await realSource(source, this.guard);
    const st = await fs.stat(real).catch((e: unknown) => {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) throw new NotFound(`no such file ${q(source)}`);
      throw e;
    });
    if (this.guard?.dev !== undefined && st.dev === this.guard.dev) throw new BadRequest(`cannot import ${q(source)}: it is inside the tree's own mount`);
    if (!st.isDirectory() && !st.isFile()) throw new BadRequest(`cannot import ${q(source)}: not a directory, tar archive or OCI layout`);
    const say = (line: string): void => {
      log('import %s: %s', name, line);
      progress(`image import ${name}: ${line}`);
    };
    await this.build(name, source, async (rootfs) => {
      const root = await RootfsResolver.open(rootfs);
      const w = new ImageWriter(root, (n) => { if (n % 5000 === 0) say(`${n} entries`); });
      w.refuseDev = this.guard?.dev;
      let config: ImageConfig | undefined;
      try {
        if (st.isDirectory()) {
          const src = await RootfsResolver.open(real);
          try {
            if (await isOciLayout(src)) config = await unpackOciLayout(src, w, say);
            else await copyDirectory(w, src);
          } finally {
            await src.close();
          }
        } else {
          const fd = await new Promise<number>((resolve, reject) => {
            openFd(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK, (e, fd) => (e ? reject(e) : resolve(fd)));
          });
          try {
            const fst = await fs.stat(`/proc/self/fd/${fd}`);
            if (this.guard?.dev !== undefined && fst.dev === this.guard.dev) throw new BadRequest(`${q(source)} is in the tree's own mount`);
            // A `docker save` archive (told by its member names), or a rootfs tarball.
            const archive = await indexImageArchive(fd, q(source));
            if (archive) config = await unpackDockerArchive(archive, w, say);
            else await applyTar(w, await reopen(fd), q(source), false);
          } finally {
            await new Promise<void>((resolve) => closeFd(fd, () => resolve())); // read-only: a failed close loses nothing
          }
        }
        await w.finish();
        log('image %s: %d entries', name, w.count);
        return config;
      } catch (e) {
        if (e instanceof BadRequest && !e.message.startsWith('cannot import')) {
          throw new BadRequest(`cannot import ${q(source)}: ${e.message}`);
        }
        throw e;
      } finally {
        await root.close();
      }
    });
  }

  /**
   * `image commit NAME CONTAINER`: the container's files (`from`, minus the original image's
   * resolver and host path, which come from here) become image NAME, with `config`
   * (the container's copy of its image's config). Built like an import: in a temporary
   * directory, renamed into place, so that a failed or killed commit leaves no image.
   * The caller keeps the container still (frozen) meanwhile.
   */
  async commit(
    name: string,
    from: Omit<CommitSource, 'lower' | 'lowerHost'> & { image: string; container: string },
    config: ImageConfig | undefined,
    progress: (line: string) => void = () => undefined,
  ): Promise<CommitStats> {
    const say = (line: string): void => {
      log('commit %s: %s', name, line);
      progress(`image commit ${name}: ${line}`);
    };
    let stats: CommitStats | undefined;
    const t0 = Date.now();
    await this.build(name, `container ${from.container}`, async (rootfs) => {
      const dst = await RootfsResolver.open(rootfs);
      try {
        stats = await commitRoot(
          { ...from, lower: await this.resolver(from.image), lowerHost: this.rootfs(from.image) },
          dst, rootfs, (n) => { if (n % 5000 === 0) say(`${n} entries`); },
        );
      } finally {
        await dst.close();
      }
      log('commit %s: copied in %d ms', name, Date.now() - t0);
      say(`${stats.entries} entries, ${stats.shared} files shared with image ${from.image}, ${stats.copied} copied (${stats.bytes} bytes)${stats.skipped ? `, ${stats.skipped} devices or sockets skipped` : ''}`);
      return config && Object.keys(config).length > 0 ? config : undefined;
    });
    return stats!;
  }

  private async build(name: string, source: string, fill: (rootfs: string) => Promise<ImageConfig | undefined | void>): Promise<void> {
    if (this.pending.has(name) || (await this.has(name))) throw new Exists(`image ${q(name)} exists`);
    this.pending.add(name);
    const tmp = path.join(this.dir, `.import-${name}-${randomHex()}`);
    try {
      const rootfs = path.join(tmp, 'rootfs');
      await fs.mkdir(rootfs, { recursive: true, mode: 0o755 });
      const config = await fill(rootfs);
      // The root directory of an image is world-readable whatever the source said.
      await fs.chmod(rootfs, 0o755);
      const rec: ImageRecord = { name, created: new Date().toISOString(), source, ...(config ? { config } : {}) };
      await writeFileAtomic(path.join(tmp, 'image.json'), JSON.stringify(rec, null, 2) + '\n');
      await fs.rename(tmp, path.join(this.dir, name));
      log('image %s imported from %s', name, source);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      this.pending.delete(name);
    }
  }

  /** True while NAME is being imported or removed: a create must not start using it. */
  isChanging(name: string): boolean {
    return this.pending.has(name);
  }

  /**
   * `image remove NAME`: refused with EBUSY while a container uses it. The in-use check and
   * the pending mark happen in one synchronous step, so a concurrent create cannot slip in.
   */
  async remove(name: string): Promise<void> {
    if (this.pending.has(name)) throw new Busy(`image ${q(name)} is being imported or removed`);
    if (this.inUse(name)) throw new Busy(`image ${q(name)} is used by a container`);
    this.pending.add(name);
    try {
      if (!(await this.has(name))) throw new NotFound(`no such image ${q(name)}`);
      // Renamed first so that the name disappears at once; the tree is deleted after.
      const r = this.resolvers.get(name);
      this.resolvers.delete(name);
      if (r) await (await r.catch(() => undefined))?.close(); // a resolver that never opened has nothing to close
      const trash = path.join(this.dir, `.remove-${name}-${randomHex()}`);
      await fs.rename(path.join(this.dir, name), trash);
      await fs.rm(trash, { recursive: true, force: true });
      log('image %s removed', name);
    } finally {
      this.pending.delete(name);
    }
  }
}
