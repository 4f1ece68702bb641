/**
 * `images/NAME/export.tar`: an image as a `docker save` archive, streamed — never built
 * whole in memory or on disk — in the order a stream allows:
 *
 *   ID/            a directory
 *   ID/layer.tar   the image's root filesystem as one layer
 *   HEX.json       the image config: the run configuration and the layer's diff_id
 *   manifest.json  [{ Config: "HEX.json", RepoTags: ["NAME:latest"], Layers: ["ID/layer.tar"] }]
 *
 * The outer header of layer.tar needs its size before its bytes, so the image is walked
 * twice: once to add up the headers and file sizes (lstat only), then to stream them. An
 * image never changes, so both walks see the same tree; a file whose size differs from
 * its first lstat fails the read rather than produce a broken archive. The diff_id is
 * hashed while the layer streams, which is why config and manifest come after it.
 *
 * The walk is the image's confined resolver (openat2 RESOLVE_IN_ROOT, the last name never
 * followed): links are read as links, never followed on the host side; every call runs on
 * the libuv pool. Kept per file: type, mode with set-id bits, owner, mtime (to the
 * nanosecond), link target, hard links among the image's files, and the extended
 * attributes an import keeps (user.*, security.capability).
 */
import { constants as C, read, close } from 'node:fs';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { SystemFailure } from '../../errors.js';
import type { ImageConfig } from '../../model/image.js';
import type { RootStat } from '../../model/rootfs.js';
import type { RootfsResolver } from '../rootfs/resolver.js';
import { tarHeader, padding, TAR_END, type HeaderInput } from './tar-write.js';
import { formatImageConfig } from './config.js';
import type { MemberType } from './tar.js';

const pRead = promisify(read);
const pClose = promisify(close);

export type ExportRoot = Pick<RootfsResolver, 'lstat' | 'readdir' | 'readlink' | 'open' | 'listxattr' | 'getxattr'>;

const S_IFMT = 0o170000;
const TYPES: Record<number, MemberType> = { 0o040000: 'dir', 0o100000: 'file', 0o120000: 'symlink', 0o010000: 'fifo' };

function keepXattr(name: string): boolean {
  return name.startsWith('user.') || name === 'security.capability';
}

interface Walked { header: HeaderInput; /** for files: bytes to stream */ rel?: string; size: number }

/** The image's members in a fixed order (names sorted, parents first); sockets and devices, which an import never makes, are left out. */
async function* walk(root: ExportRoot): AsyncGenerator<Walked> {
  const seen = new Map<string, string>();
  async function* dir(rel: string): AsyncGenerator<Walked> {
    const names = (await root.readdir(rel)).sort();
    for (const n of names) {
      const p = rel === '' ? n : `${rel}/${n}`;
      const st: RootStat = await root.lstat(p);
      const type = TYPES[st.mode & S_IFMT];
      if (!type) continue;
      const base = { name: p, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeNs: st.mtimeNs };
      let xattrs: Map<string, Buffer> | undefined;
      if (type === 'file' || type === 'dir') {
        for (const x of await root.listxattr(p).catch(() => [] as string[])) { // a file system without xattrs: none
          if (keepXattr(x)) (xattrs ??= new Map()).set(x, await root.getxattr(p, x));
        }
      }
      if (type === 'file' && st.nlink > 1) {
        const key = String(st.inoBig);
        const first = seen.get(key);
        if (first !== undefined) {
          yield { header: { ...base, type: 'link', size: 0, linkname: first }, size: 0 };
          continue;
        }
        seen.set(key, p);
      }
      if (type === 'symlink') yield { header: { ...base, type, size: 0, linkname: await root.readlink(p) }, size: 0 };
      else if (type === 'file') yield { header: { ...base, type, size: st.size, ...(xattrs ? { xattrs } : {}) }, rel: p, size: st.size };
      else yield { header: { ...base, type, size: 0, ...(xattrs ? { xattrs } : {}) }, size: 0 };
      if (type === 'dir') yield* dir(p);
    }
  }
  yield* dir('');
}

/** The size of the layer tar: headers, data and padding, and the end blocks. */
export async function layerSize(root: ExportRoot): Promise<number> {
  let total = TAR_END.length;
  for await (const w of walk(root)) total += tarHeader(w.header).length + w.size + padding(w.size);
  return total;
}

/** The layer tar's bytes. */
export async function* layerTar(root: ExportRoot): AsyncGenerator<Buffer> {
  for await (const w of walk(root)) {
    yield tarHeader(w.header);
    if (w.rel === undefined) continue;
    const fd = await root.open(w.rel, C.O_RDONLY | C.O_NONBLOCK);
    try {
      let pos = 0;
      while (pos < w.size) {
        const buf = Buffer.allocUnsafe(Math.min(256 * 1024, w.size - pos));
        const { bytesRead } = await pRead(fd, buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        yield buf.subarray(0, bytesRead);
      }
      if (pos !== w.size) throw new SystemFailure(`image file ${JSON.stringify(w.rel)} changed size during the export`);
    } finally {
      await pClose(fd);
    }
    const pad = padding(w.size);
    if (pad) yield Buffer.alloc(pad);
  }
  yield TAR_END;
}

export interface ExportInput {
  name: string;
  /** ISO 8601. */
  created: string;
  config: ImageConfig;
  root: ExportRoot;
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The whole archive, as a stream of chunks. */
export async function* exportArchive(x: ExportInput): AsyncGenerator<Buffer> {
  const t = BigInt(Date.parse(x.created) || 0) * 1_000_000n;
  const id = createHash('sha256').update(`wardenfs:${x.name}:${x.created}`).digest('hex');
  const meta = (name: string, type: MemberType, size: number): Buffer => tarHeader({ name, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtimeNs: t, size });
  yield meta(id, 'dir', 0);
  const size = await layerSize(x.root);
  yield meta(`${id}/layer.tar`, 'file', size);
  const hash = createHash('sha256');
  let n = 0;
  for await (const chunk of layerTar(x.root)) {
    hash.update(chunk);
    n += chunk.length;
    yield chunk;
  }
  if (n !== size) throw new SystemFailure(`the image ${JSON.stringify(x.name)} changed during the export`);
  if (padding(size)) yield Buffer.alloc(padding(size));
  const config = Buffer.from(JSON.stringify({
    architecture: GOARCH[process.arch] ?? process.arch,
    os: 'linux',
    created: x.created,
    config: JSON.parse(formatImageConfig(x.config)) as unknown,
    rootfs: { type: 'layers', diff_ids: [`sha256:${hash.digest('hex')}`] },
  }));
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  yield meta(configName, 'file', config.length);
  yield config;
  if (padding(config.length)) yield Buffer.alloc(padding(config.length));
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [`${x.name}:latest`], Layers: [`${id}/layer.tar`] }]));
  yield meta('manifest.json', 'file', manifest.length);
  yield manifest;
  if (padding(manifest.length)) yield Buffer.alloc(padding(manifest.length));
  yield TAR_END;
}
