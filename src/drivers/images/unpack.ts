/**
 * Building an image's root filesystem from untrusted content (a tar, the layers of an OCI
 * layout, a directory), confined to it: every create, write, link and delete goes through
 * a RootfsResolver opened on the image being built (openat2 RESOLVE_IN_ROOT, the final
 * name never followed), so a symlink made by one member or layer — `evil -> /etc` — is
 * resolved inside the image when a later member (`evil/x`) or whiteout (`evil/.wh.x`)
 * goes through it. Refused outright, failing the whole import: absolute and `..` member
 * names and link targets, hard links to what the image does not hold, device nodes,
 * sparse and unknown member types. Sources are read through a resolver too (directory
 * copy, OCI blobs), so their symlinks never lead out of them.
 */
import { constants as C, write as fsWrite, fchown, fchmod, futimes, fstat, close as fsClose } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { BadRequest, NoSpace } from '../../errors.js';
import { isErrno } from '../../util/files.js';
import type { RootfsResolver, RootStat } from '../rootfs/resolver.js';
import { decompressed, readTar, type MemberType, type TarMember } from './tar.js';

const pWrite = promisify(fsWrite);
const pFchown = promisify(fchown);
const pFchmod = promisify(fchmod);
const pClose = promisify(fsClose);
const pFutimes = promisify(futimes);
const NS = 1_000_000_000n;
const pFstat = promisify(fstat);

/** Extended attributes an image may carry; others (trusted.*, security.selinux …) are dropped. */
function keepXattr(name: string): boolean {
  return name.startsWith('user.') || name === 'security.capability';
}

/**
 * A member name made relative to the image root: `./a/b` and `a//b/` are `a/b`; '' is the
 * root itself. Absolute names and names with a `..` component are refused.
 */
export function memberPath(raw: string, what = 'member name'): string {
  if (raw.startsWith('/')) throw new BadRequest(`absolute ${what} ${JSON.stringify(raw)} refused`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new BadRequest(`${what} ${JSON.stringify(raw)} with ".." refused`);
  if (raw.includes('\0')) throw new BadRequest(`${what} with a NUL byte refused`);
  return parts.join('/');
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

export interface Entry {
  path: string;
  type: MemberType;
  mode: number;
  uid: number;
  gid: number;
  /** Nanoseconds since the epoch, exact. */
  mtimeNs: bigint;
  linkname: string;
  xattrs: Map<string, Buffer>;
}

/** Applies entries and whiteouts to the image's root, through its resolver. */
export class ImageWriter {
  /** Paths made by the current layer: whiteouts apply to lower layers only (OCI image spec). */
  private created = new Set<string>();
  private readonly dirTimes = new Map<string, bigint>();
  /** Directories known to be there (a cache of parents(); emptied by any removal). */
  private present = new Set<string>();
  count = 0;
  /** Bytes of file content written so far (progress of long imports). */
  bytes = 0;
  /** A device (the tree's own mount) whose files are never read. */
  refuseDev?: number;

  constructor(private readonly root: RootfsResolver, private readonly onCount?: (n: number) => void) {}

  newLayer(): void {
    this.created = new Set();
  }

  private async lstat(rel: string): Promise<RootStat | undefined> {
    try {
      return await this.root.lstat(rel);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    }
  }

  /** Parents of `rel`, made (0755, root's) where missing; an existing one may be a link, resolved inside the root. */
  private async parents(rel: string): Promise<void> {
    const parts = rel.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      // Only saves a call: whatever p is now, what goes through it is resolved in the root.
      if (this.present.has(p)) continue;
      try {
        await this.root.mkdir(p, 0o755);
        this.created.add(p);
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw e;
      }
      this.present.add(p);
    }
  }

  /**
   * Delete `rel` and everything under it; `rel` itself is never followed. With `keep`,
   * what it names stays, and a kept directory is only emptied of what it does not keep.
   */
  async removeTree(rel: string, keep?: (p: string) => boolean): Promise<void> {
    const st = await this.lstat(rel);
    if (!st) return;
    this.present.clear();
    const kept = keep?.(rel) ?? false;
    if ((st.mode & S_IFMT) === S_IFDIR) {
      for (const n of await this.root.readdir(rel)) await this.removeTree(`${rel}/${n}`, kept ? keep : undefined);
      if (!kept) {
        await this.root.rmdir(rel);
        this.dirTimes.delete(rel);
      }
    } else if (!kept) {
      await this.root.unlink(rel);
    }
  }

  /** `DIR/.wh.NAME`: NAME of a lower layer is deleted. */
  async whiteout(rel: string): Promise<void> {
    if (this.created.has(rel)) return;
    await this.removeTree(rel);
  }

  /** `DIR/.wh..wh..opq`: what lower layers put in DIR is deleted; this layer's own entries stay. */
  async opaque(dir: string): Promise<void> {
    const st = dir === '' ? { mode: S_IFDIR } : await this.lstat(dir);
    if (!st || (st.mode & S_IFMT) !== S_IFDIR) return;
    const keep = (p: string): boolean => this.created.has(p);
    for (const n of await this.root.readdir(dir)) {
      const child = dir === '' ? n : `${dir}/${n}`;
      await this.removeTree(child, keep);
    }
  }

  async entry(e: Entry, body?: AsyncIterable<Buffer>): Promise<void> {
    if (e.type === 'char' || e.type === 'block') {
      throw new BadRequest(`device node ${JSON.stringify(e.path)} refused: images carry no devices (the runtime makes /dev)`);
    }
    const rel = e.path;
    if (rel === '') return; // the root itself: it stays root's, 0755
    let linkTarget = '';
    if (e.type === 'link') {
      linkTarget = memberPath(e.linkname, 'hard link target');
      const st = linkTarget === '' ? undefined : await this.lstat(linkTarget);
      if (!st || (st.mode & S_IFMT) === S_IFDIR) {
        throw new BadRequest(`hard link ${JSON.stringify(rel)} to ${JSON.stringify(e.linkname)} refused: not a file of the image`);
      }
    }
    await this.parents(rel);
    // Made with O_EXCL semantics: what is already there (a lower layer's, a link) is
    // removed first, never written through; a directory over a directory stays.
    const make = async (): Promise<number | undefined> => {
      switch (e.type) {
        case 'dir': await this.root.mkdir(rel, 0o700); return;
        case 'file': return this.root.open(rel, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
        case 'symlink': await this.root.symlink(e.linkname, rel); return;
        case 'link': await this.root.link(linkTarget, rel); return;
        case 'fifo': await this.root.mknod(rel, S_IFIFO | 0o600); return;
      }
    };
    let fd: number | undefined;
    try {
      fd = await make();
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      const old = await this.lstat(rel);
      if (!(e.type === 'dir' && old && (old.mode & S_IFMT) === S_IFDIR)) {
        await this.removeTree(rel);
        fd = await make();
      }
    }
    this.created.add(rel);
    this.onCount?.(++this.count);
    switch (e.type) {
      case 'dir':
        await this.root.chown(rel, e.uid, e.gid);
        await this.root.chmod(rel, e.mode & 0o7777);
        this.dirTimes.set(rel, e.mtimeNs);
        await this.xattrs(rel, e.xattrs);
        return;
      case 'file':
        await this.file(fd!, e, body);
        // A time with a fraction is set by path, after the close: futimes takes seconds as a
        // double, which loses nanoseconds (whole seconds, the usual case, it sets exactly).
        if (e.mtimeNs % NS !== 0n) await this.root.utimens(rel, e.mtimeNs, e.mtimeNs);
        await this.xattrs(rel, e.xattrs);
        return;
      case 'symlink':
        await this.root.chown(rel, e.uid, e.gid);
        await this.root.utimens(rel, 'omit', e.mtimeNs);
        return;
      case 'link':
        return;
      case 'fifo':
        await this.root.chown(rel, e.uid, e.gid);
        await this.root.chmod(rel, e.mode & 0o7777);
        await this.root.utimens(rel, 'omit', e.mtimeNs);
        return;
    }
  }

  /** Content, owner, mode and a whole-second time of a file just made; closes fd. */
  private async file(fd: number, e: Entry, body?: AsyncIterable<Buffer>): Promise<void> {
    try {
      if (body) {
        for await (const chunk of body) {
          let off = 0;
          while (off < chunk.length) off += (await pWrite(fd, chunk, off, chunk.length - off)).bytesWritten;
          this.bytes += chunk.length;
        }
      }
      await pFchown(fd, e.uid, e.gid);
      // After chown, which clears set-id bits.
      await pFchmod(fd, e.mode & 0o7777);
      if (e.mtimeNs % NS === 0n) {
        const s = Number(e.mtimeNs / NS);
        await pFutimes(fd, s, s);
      }
    } finally {
      await pClose(fd);
    }
  }

  private async xattrs(rel: string, xattrs: Map<string, Buffer>): Promise<void> {
    for (const [name, value] of xattrs) {
      if (keepXattr(name)) await this.root.setxattr(rel, name, value);
    }
  }

  /** Directory times last (making their children changed them), deepest first. */
  async finish(): Promise<void> {
    const dirs = [...this.dirTimes.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
    for (const d of dirs) {
      await this.root.utimens(d, 'omit', this.dirTimes.get(d)!).catch((e: unknown) => {
        if (!isErrno(e, 'ENOENT')) throw e; // whited out by a later layer
      });
    }
  }
}

function fromMember(m: TarMember): Entry {
  return {
    path: memberPath(m.name), type: m.type, mode: m.mode, uid: m.uid, gid: m.gid,
    mtimeNs: m.mtimeNs, linkname: m.linkname, xattrs: m.xattrs,
  };
}

/**
 * Apply one tar stream (an fd, taken over: closed at the end) to the image. With
 * `layer`, `.wh.` names are OCI whiteouts; in a plain rootfs tarball they are files.
 * `digest`: the bytes must be that blob.
 */
export async function applyTar(w: ImageWriter, fd: number, what: string, layer: boolean, digest?: string): Promise<void> {
  try {
    const st = await pFstat(fd);
    if (!st.isFile()) throw new BadRequest(`${what} is not a regular file`);
    if (w.refuseDev !== undefined && st.dev === w.refuseDev) throw new BadRequest(`${what} is in the tree's own mount`);
  } catch (e) {
    await pClose(fd).catch(() => undefined); // the first failure is the one to report
    throw e;
  }
  await applyTarStream(w, await decompressed(fd, what, digest), layer);
}

/**
 * Apply a tar stream already decompressed (decompressed(), decompressedStream()); `done`
 * is called at the end whatever happens.
 */
export async function applyTarStream(w: ImageWriter, { stream, done }: { stream: AsyncIterable<Buffer>; done: () => void }, layer: boolean): Promise<void> {
  try {
    for await (const { member, body } of readTar(stream)) {
      try {
        const e = fromMember(member);
        const base = path.posix.basename(e.path);
        if (layer && base.startsWith('.wh.')) {
          const dir = e.path.includes('/') ? path.posix.dirname(e.path) : '';
          if (base === '.wh..wh..opq') await w.opaque(dir);
          else if (!base.startsWith('.wh..wh.')) {
            const name = base.slice(4);
            if (name === '' || name === '.' || name === '..') throw new BadRequest(`bad whiteout ${JSON.stringify(member.name)}`);
            await w.whiteout(dir === '' ? name : `${dir}/${name}`);
          }
          continue;
        }
        await w.entry(e, body);
      } catch (e) {
        throw memberError(e, member.name);
      }
    }
    // The rest of the blob (padding after the end blocks): read, so that its digest is checked.
    for await (const _ of stream) { /* drain */ }
  } finally {
    done();
  }
}

/** A failure on one member, named: `member "a/b": ENOTDIR` (what the kernel said, resolving inside the image). */
function memberError(e: unknown, name: string): unknown {
  if (e instanceof BadRequest) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  // A full disk is the host's state, not a bad member: it keeps its errno (ENOSPC)
  if (code === 'ENOSPC' || code === 'EDQUOT') return new NoSpace(`cannot apply member ${JSON.stringify(name)}: no space left in the state dir (${code})`, { cause: e });
  if (code) return new BadRequest(`cannot apply member ${JSON.stringify(name)}: ${code}`);
  return e;
}

/**
 * Copy a host directory (seen through its own resolver, so its links never lead out of
 * it) into the image: files, directories, links, hard links among its files, FIFOs,
 * owners, modes, times and the kept extended attributes. Device nodes are refused, sockets skipped.
 */
export async function copyDirectory(w: ImageWriter, src: RootfsResolver): Promise<void> {
  const links = new Map<string, string>();
  const copyOne = async (p: string): Promise<void> => {
    const st = await src.lstat(p);
    if (w.refuseDev !== undefined && st.dev === w.refuseDev) throw new BadRequest(`${JSON.stringify(p)} is in the tree's own mount`);
    const fmt = st.mode & S_IFMT;
    const xattrs = new Map<string, Buffer>();
    if (fmt === S_IFREG || fmt === S_IFDIR) {
      // A source file system without extended attributes: none to copy.
      for (const name of await src.listxattr(p).catch(() => [] as string[])) {
        if (keepXattr(name)) xattrs.set(name, await src.getxattr(p, name));
      }
    }
    const base: Entry = { path: p, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeNs: st.mtimeNs, linkname: '', xattrs };
    if (fmt === S_IFDIR) {
      await w.entry({ ...base, type: 'dir' });
      await walk(p);
    } else if (fmt === S_IFREG) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) return w.entry({ ...base, type: 'link', linkname: first });
      if (st.nlink > 1) links.set(key, p);
      const fd = await src.open(p, C.O_RDONLY | C.O_NONBLOCK);
      try {
        if (!(await pFstat(fd)).isFile()) throw new BadRequest(`${JSON.stringify(p)} changed while it was copied`);
        await w.entry(base, readFd(fd));
      } finally {
        await pClose(fd).catch(() => undefined); // a read-only source fd: a failed close loses nothing
      }
    } else if (fmt === S_IFLNK) {
      await w.entry({ ...base, type: 'symlink', linkname: await src.readlink(p) });
    } else if (fmt === S_IFIFO) {
      await w.entry({ ...base, type: 'fifo' });
    } else if (fmt === S_IFCHR || fmt === S_IFBLK) {
      await w.entry({ ...base, type: fmt === S_IFCHR ? 'char' : 'block' });
    }
    // sockets: nothing to copy
  };
  const walk = async (rel: string): Promise<void> => {
    for (const n of (await src.readdir(rel)).sort()) {
      const p = rel === '' ? n : `${rel}/${n}`;
      try {
        await copyOne(p);
      } catch (e) {
        throw memberError(e, p);
      }
    }
  };
  await walk('');
}

async function* readFd(fd: number): AsyncGenerator<Buffer> {
  const { read } = await import('node:fs');
  const pRead = promisify(read);
  let pos = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(256 * 1024);
    const { bytesRead } = await pRead(fd, buf, 0, buf.length, pos);
    if (bytesRead === 0) return;
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}
