/**
 * The FUSE adapter: fuse-native's callbacks in, the node tree out. It resolves paths to
 * nodes, keeps the table of open handles, and maps errors to errnos (fs/errno.ts). It
 * knows no names of the tree and no container logic.
 *
 * Mount options (see docs/fuse.md): fuse-native's option list lacks big_writes and
 * max_write, so the subclass below appends them. Attribute and negative timeouts of 0 make
 * the kernel ask again each time, so sizes and listings are never stale. direct_io is
 * decided per open by the patched binding: every synthetic file gets it (read to EOF
 * whatever the size, a read may block), rootfs files do not (page cache, mmap).
 */
import Fuse, { type Ops, type Stat, type UtimeSpec } from 'fuse-native';
import { constants as C } from 'node:fs';
import { toErrno } from './errno.js';
import {
  NotFound, NotDirectory, IsDirectory, Denied, NotPermitted, NoAttribute, NotSupported, BadRequest, SymlinkLoop, BadHandle, TooManyOpen,
} from '../errors.js';
import { S_IFDIR, S_IFLNK, type DirNode, type FileNode, type Handle, type LinkNode, type NativeRoot, type Node, type Subtree } from './nodes/types.js';
import type { HostDir } from './nodes/hostdir.js';
import { logger } from '../util/log.js';
import { syntheticIno } from './ino.js';

const log = logger('fuse');

export const MOUNT_OPTIONS = [
  'big_writes', 'max_write=131072', 'max_read=131072',
  'attr_timeout=0', 'entry_timeout=1', 'negative_timeout=0',
  'fsname=wardenfs', 'subtype=wardenfs',
  // st_ino is the file's own number (tagged by its device, src/fs/ino.ts), not libfuse's node id
  'use_ino',
  // reads of rootfs files are answered with their fd (the binding's read_buf): libfuse splices
  // the data from the file into /dev/fuse without copying it through the daemon (docs/fuse.md)
  'splice_write',
];

class WardenFuse extends Fuse {
  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    const extra = MOUNT_OPTIONS.join(',');
    return base ? `${base},${extra}` : `-o${extra}`;
  }
}

type Target =
  | { kind: 'node'; node: FileNode | DirNode | LinkNode }
  | { kind: 'sub'; sub: Subtree; rel: string };

const DIR_STAT = (): Stat => {
  const now = new Date();
  return { mode: S_IFDIR | 0o755, nlink: 2, size: 0, mtime: now, ctime: now, atime: now };
};

/**
 * Handle numbers: JavaScript's own handles count up from 1 below WANTS_FLUSH (and carry
 * that bit when their node has work to do at close); a handle
 * with a real fd (a rootfs file) is numbered PASSTHROUGH | fd, the bit the patched binding
 * reads to do everything on that handle itself, the close included: such handles never come
 * back here. Both kinds stay positive int32, as the binding carries them. The bits are
 * declared once, in the binding (fuse-native.c, WARDENFS_*), and read from it here; the
 * binding's own handles (snapshot, dir) are above 32 bits, never a number given here
 * (test/unit/handlebits.test.ts checks the layout).
 */
export const HANDLE_BITS = Fuse.HANDLE_BITS;
const PASSTHROUGH = HANDLE_BITS.passthrough;
/** Set on a handle whose node wants FLUSH (Handle.flush); the binding answers every other FLUSH itself. */
const WANTS_FLUSH = HANDLE_BITS.wantsFlush;

function split(p: string): string[] {
  return p.split('/').filter(Boolean);
}

export class FuseAdapter {
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  private fuse?: WardenFuse;
  /** Subtree roots registered with the binding, by tree path ("/containers/web/rootfs"). */
  private readonly nativeRoots = new Map<string, NativeRoot>();

  constructor(private readonly root: DirNode) {}

  /** Walk the tree; a subtree takes the rest of the path. */
  async resolve(p: string): Promise<Target> {
    let node: Node = this.root;
    const parts = split(p);
    for (let i = 0; i < parts.length; i++) {
      if (node.kind === 'subtree') {
        this.registerRoot('/' + parts.slice(0, i).join('/'), node);
        return { kind: 'sub', sub: node, rel: parts.slice(i).join('/') };
      }
      if (node.kind !== 'dir') throw new NotDirectory(`not a directory`);
      const next: Node | undefined = await node.child(parts[i]!);
      if (!next) throw new NotFound(`no such file`);
      node = next;
    }
    if (node.kind === 'subtree') {
      this.registerRoot('/' + parts.join('/'), node);
      return { kind: 'sub', sub: node, rel: '' };
    }
    return { kind: 'node', node };
  }

  /**
   * The first time a subtree is met at `prefix`, its root is registered with the binding,
   * which from then on answers getattr and getxattr (but of symlinks) and opendir under that
   * prefix itself, confined as the resolver is (fuse-native.c, wardenfs_root_t); the registration
   * ends when the root closes (destroy, image remove).
   */
  private registerRoot(prefix: string, sub: Subtree): void {
    if (!this.fuse || this.nativeRoots.has(prefix)) return;
    sub.nativeRoot().then((root) => {
      const fuse = this.fuse;
      if (!fuse || this.nativeRoots.has(prefix) || root.fd < 0) return;
      try {
        fuse.registerRoot(prefix, root.fd, sub.ids?.base ?? 0, sub.ids?.size ?? 0, sub.readOnly);
      } catch (e) {
        log('register %s: %s', prefix, (e as Error).message);
        return;
      }
      this.nativeRoots.set(prefix, root);
      root.onClose(() => {
        if (this.nativeRoots.get(prefix) !== root) return;
        this.nativeRoots.delete(prefix);
        fuse.unregisterRoot(prefix);
      });
    }, (e: unknown) => log('no native root for %s, the JavaScript side answers: %s', prefix, e));
  }

  /** The parent directory node of a path and the last name, for mkdir/rmdir of synthetic entries. */
  private async parent(p: string): Promise<{ target: Target; name: string }> {
    const parts = split(p);
    const name = parts.pop() ?? '';
    return { target: await this.resolve('/' + parts.join('/')), name };
  }

  /** A real fd handed to the binding, which owns it from here on (closes it at release). */
  private passthrough(fd: number): number {
    if (!(fd >= 0 && fd < PASSTHROUGH)) throw new TooManyOpen(`fd ${fd} out of range`);
    return PASSTHROUGH | fd;
  }

  private addHandle(h: Handle): number {
    const next = (n: number): number => (n + 1) % WANTS_FLUSH || 1;
    while (this.handles.has(this.nextHandle) || this.handles.has(this.nextHandle | WANTS_FLUSH)) this.nextHandle = next(this.nextHandle);
    const fd = this.nextHandle | (h.flush ? WANTS_FLUSH : 0);
    this.nextHandle = next(this.nextHandle);
    this.handles.set(fd, h);
    return fd;
  }

  private handle(fd: number): Handle {
    const h = this.handles.get(fd);
    if (!h) throw new BadHandle('bad handle');
    return h;
  }

  /** Same-tree check for rename and link: both ends in one subtree. */
  private async pair(a: string, b: string): Promise<[Subtree, string, string]> {
    const ta = await this.resolve(a);
    const tb = await this.parent(b);
    if (ta.kind !== 'sub' || tb.target.kind !== 'sub') throw new NotPermitted('only files inside rootfs/ can be moved or linked');
    (ta.sub as HostDir).same(tb.target.sub);
    const relB = [tb.target.rel, tb.name].filter(Boolean).join('/');
    return [ta.sub, ta.rel, relB];
  }

  /** A subtree op on the path (or its parent for ops that create the last name). */
  private async onSub(p: string, creating: boolean): Promise<[Subtree, string]> {
    if (!creating) {
      const t = await this.resolve(p);
      if (t.kind !== 'sub') throw new NotPermitted('not permitted here');
      return [t.sub, t.rel];
    }
    const { target, name } = await this.parent(p);
    if (target.kind !== 'sub') throw new Denied('cannot create files here');
    return [target.sub, [target.rel, name].filter(Boolean).join('/')];
  }

  ops(): Ops {
    // Every callback answers exactly once: success values, or the error's errno.
    const done = <T>(p: Promise<T>, ok: (v: T) => void, fail: (errno: number) => void): void => {
      p.then(ok, (e: unknown) => fail(toErrno(e)));
    };
    const unit = (p: Promise<unknown>, cb: (err: number) => void): void => done(p, () => cb(0), cb);

    return {
      getattr: (path, cb) => done(this.getattr(path), (st) => cb(0, st), cb),
      fgetattr: (path, _fd, cb) => done(this.getattr(path), (st) => cb(0, st), cb),
      readdir: (path, cb) => done(this.readdir(path), (names) => cb(0, names), cb),
      // A subtree's directory is a real fd, listed and closed by the binding itself; a
      // synthetic directory has handle 0 and is listed here, whole (its size is the daemon's).
      // releasedir is answered by the binding for both; it is here so that the binding has it.
      opendir: (path, _flags, cb) => done(this.opendir(path), (fh) => cb(0, fh), cb),
      releasedir: (_path, _fd, cb) => cb(0),
      open: (path, flags, cb) => done(this.open(path, flags), (r) => (typeof r === 'number' ? cb(0, r) : cb(0, 0, r.content)), cb),
      create: (path, mode, cb) => done(this.onSub(path, true).then(([s, r]) => s.create(r, mode)).then((fd) => this.passthrough(fd)), (fh) => cb(0, fh), cb),
      read: (_path, fd, buf, len, pos, cb, abort) => done(Promise.resolve().then(() => this.handle(fd).read(buf, len, pos, abort)), cb, cb),
      // owner: the lock owner the patched binding passes (0n: none), see Owner in nodes/types.ts
      write: (_path, fd, buf, len, pos, cb, abort, owner) => done(Promise.resolve().then(() => this.handle(fd).write(buf, len, pos, abort, owner || undefined)), cb, cb),
      release: (_path, fd, cb) => {
        const h = this.handles.get(fd);
        this.handles.delete(fd);
        unit(h ? h.release() : Promise.resolve(), cb);
      },
      flush: (_path, fd, cb, owner) => unit(Promise.resolve().then(() => this.handles.get(fd)?.flush?.(owner || undefined)), cb),
      fsync: (_path, _datasync, fd, cb) => unit(Promise.resolve().then(() => this.handle(fd).fsync?.()), cb),
      truncate: (path, size, cb) => unit(this.truncate(path, size), cb),
      ftruncate: (path, fd, size, cb) => {
        const h = this.handles.get(fd);
        unit(h?.truncate ? h.truncate(size) : this.truncate(path, size), cb);
      },
      mkdir: (path, mode, cb) => unit(this.mkdir(path, mode), cb),
      rmdir: (path, cb) => unit(this.rmdir(path), cb),
      unlink: (path, cb) => unit(this.unlink(path), cb),
      rename: (a, b, cb) => unit(this.pair(a, b).then(([s, ra, rb]) => s.rename(ra, rb)), cb),
      link: (a, b, cb) => unit(this.pair(a, b).then(([s, ra, rb]) => s.link(ra, rb)), cb),
      mknod: (path, mode, dev, cb) => unit(this.onSub(path, true).then(([s, r]) => s.mknod(r, mode, dev)), cb),
      symlink: (target, path, cb) => unit(this.onSub(path, true).then(([s, r]) => s.symlink(target, r)), cb),
      readlink: (path, cb) => done(this.readlink(path), (t) => cb(0, t), cb),
      chmod: (path, mode, cb) => unit(this.onSub(path, false).then(([s, r]) => s.chmod(r, mode)), cb),
      chown: (path, uid, gid, cb) => unit(this.onSub(path, false).then(([s, r]) => s.chown(r, uid, gid)), cb),
      utimens: (path, atime, mtime, cb) => unit(this.utimens(path, atime, mtime), cb),
      statfs: (path, cb) => done(this.statfs(path), (st) => cb(0, st), cb),
      // Extended attributes exist in rootfs/ only; synthetic files have none and take none.
      getxattr: (path, name, _pos, cb) => done(this.xattrTarget(path).then((t) => {
        if (!t) throw new NoAttribute('no such attribute');
        return t[0].getxattr(t[1], name);
      }), (v) => cb(0, v), cb),
      listxattr: (path, cb) => done(this.xattrTarget(path).then((t) => (t ? t[0].listxattr(t[1]) : [])), (names) => cb(0, names), cb),
      setxattr: (path, name, value, _pos, flags, cb) => unit(this.xattrWritable(path).then(([s, r]) => s.setxattr(r, name, value, flags)), cb),
      removexattr: (path, name, cb) => unit(this.xattrWritable(path).then(([s, r]) => s.removexattr(r, name)), cb),
    };
  }

  /** The subtree and relative path for an xattr call, or undefined for a synthetic node. */
  private async xattrTarget(p: string): Promise<[Subtree, string] | undefined> {
    const t = await this.resolve(p);
    return t.kind === 'sub' ? [t.sub, t.rel] : undefined;
  }

  /** As xattrTarget, for a change: synthetic files take none. */
  private async xattrWritable(p: string): Promise<[Subtree, string]> {
    const t = await this.xattrTarget(p);
    if (!t) throw new NotSupported('synthetic files have no extended attributes');
    return t;
  }

  private async getattr(p: string): Promise<Stat> {
    const t = await this.resolve(p);
    if (t.kind === 'sub') return t.sub.getattr(t.rel);
    if (t.node.kind === 'dir') return { ...DIR_STAT(), mode: S_IFDIR | (t.node.mode ?? 0o755), ino: syntheticIno(p) };
    if (t.node.kind === 'link') return { ...DIR_STAT(), mode: S_IFLNK | 0o777, nlink: 1, size: Buffer.byteLength(t.node.target), ino: syntheticIno(p) };
    return { ...(await t.node.getattr()), ino: syntheticIno(p) };
  }

  private async readlink(p: string): Promise<string> {
    const t = await this.resolve(p);
    if (t.kind === 'sub') return t.sub.readlink(t.rel);
    if (t.node.kind !== 'link') throw new BadRequest('not a symlink');
    return t.node.target;
  }

  private async opendir(p: string): Promise<number> {
    const t = await this.resolve(p);
    if (t.kind === 'sub') return this.passthrough(await t.sub.opendir(t.rel));
    if (t.node.kind !== 'dir') throw new NotDirectory('not a directory');
    return 0;
  }

  /** Synthetic directories only: a subtree's listing never comes here (opendir gave the binding an fd). */
  private async readdir(p: string): Promise<string[]> {
    const t = await this.resolve(p);
    if (t.kind === 'sub') throw new NotSupported('listed by the binding');
    if (t.node.kind !== 'dir') throw new NotDirectory('not a directory');
    return ['.', '..', ...(await t.node.list())];
  }

  /** A handle number, or the content of a read-only snapshot that the binding serves itself. */
  private async open(p: string, flags: number): Promise<number | { content: Buffer }> {
    const t = await this.resolve(p);
    if (t.kind === 'sub') return this.passthrough(await t.sub.open(t.rel, flags));
    if (t.node.kind === 'dir') {
      if ((flags & 3) !== C.O_RDONLY) throw new IsDirectory('is a directory');
      return 0;
    }
    // The kernel follows links itself; an open that reaches one is an O_NOFOLLOW open.
    if (t.node.kind === 'link') throw new SymlinkLoop('a symlink');
    const h = await t.node.open(flags);
    if (h.content && (flags & 3) === C.O_RDONLY && !h.flush) {
      await h.release(); // nothing of it is needed here any more
      return { content: h.content };
    }
    return this.addHandle(h);
  }

  private async truncate(p: string, size: number): Promise<void> {
    const t = await this.resolve(p);
    if (t.kind === 'sub') return t.sub.truncate(t.rel, size);
    if (t.node.kind === 'dir') throw new IsDirectory('is a directory');
    if (t.node.kind === 'link' || !t.node.truncate) throw new NotPermitted('read-only file');
    return t.node.truncate(size);
  }

  private async mkdir(p: string, mode: number): Promise<void> {
    const { target, name } = await this.parent(p);
    if (target.kind === 'sub') return target.sub.mkdir([target.rel, name].filter(Boolean).join('/'), mode);
    if (target.node.kind !== 'dir' || !target.node.mkdir) throw new Denied('cannot make a directory here');
    return target.node.mkdir(name, mode);
  }

  private async rmdir(p: string): Promise<void> {
    const t = await this.resolve(p);
    if (t.kind === 'sub') {
      if (t.rel === '') throw new NotPermitted('cannot remove rootfs');
      return t.sub.rmdir(t.rel);
    }
    const { target, name } = await this.parent(p);
    if (target.kind !== 'node' || target.node.kind !== 'dir' || !target.node.rmdir) throw new NotPermitted('cannot remove this directory');
    return target.node.rmdir(name);
  }

  private async unlink(p: string): Promise<void> {
    const t = await this.resolve(p);
    if (t.kind === 'sub') return t.sub.unlink(t.rel);
    const { target, name } = await this.parent(p);
    if (target.kind !== 'node' || target.node.kind !== 'dir' || !target.node.unlink) throw new NotPermitted('not permitted here');
    return target.node.unlink(name);
  }

  private async utimens(p: string, atime: UtimeSpec, mtime: UtimeSpec): Promise<void> {
    const t = await this.resolve(p);
    if (t.kind === 'sub') return t.sub.utimens(t.rel, atime, mtime);
    // touch on a synthetic file changes nothing and is not an error.
  }

  private async statfs(p: string) {
    const t = await this.resolve(p).catch(() => undefined); // no such path: the tree's own figures
    if (t?.kind === 'sub') return t.sub.statfs(t.rel);
    return { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 };
  }

  mount(mountpoint: string): Promise<void> {
    // timeout: false — a ctl message may take longer than fuse-native's 15 s default,
    // and a stream read waits for output; every callback above answers exactly once.
    this.fuse = new WardenFuse(mountpoint, this.ops(), { force: true, mkdir: true, timeout: false });
    return new Promise((resolve, reject) => this.fuse!.mount((err) => (err ? reject(err) : resolve())));
  }

  unmount(): Promise<void> {
    const f = this.fuse;
    if (!f) return Promise.resolve();
    return new Promise((resolve) => f.unmount((err) => {
      if (err) log('unmount: %s', err.message);
      resolve();
    }));
  }
}
