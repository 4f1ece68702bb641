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
import Fuse, { type FuseOptions, type Ops, type Stat, type UtimeSpec } from 'fuse-native';
import { constants as C } from 'node:fs';
import { toErrno } from './errno.js';
import {
  NotFound, NotDirectory, IsDirectory, Denied, NotPermitted, NoAttribute, NotSupported, BadRequest, SymlinkLoop, BadHandle, TooManyOpen,
} from '../errors.js';
import { S_IFDIR, S_IFLNK, type DirNode, type FileNode, type Handle, type LinkNode, type NativeRoot, type Node, type Subtree, type Used } from './nodes/types.js';
import type { HostDir } from './nodes/hostdir.js';
import { logger } from '../util/log.js';
import { syntheticIno } from './ino.js';
import type { Caller } from '../model/caller.js';

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

/**
 * `--allow-other`: other host users may enter the tree, and the kernel checks every access
 * against the modes and owners the tree reports (default_permissions): synthetic files are
 * root's alone (FuseAdapter.getattr), rootfs/ shows the real owners and acts as the caller.
 */
export const SHARED_MOUNT_OPTIONS = ['allow_other', 'default_permissions'];

class WardenFuse extends Fuse {
  constructor(mnt: string, ops: Ops, opts: FuseOptions, private readonly extraOptions: string[]) {
    super(mnt, ops, opts);
  }

  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    const extra = [...MOUNT_OPTIONS, ...this.extraOptions].join(',');
    return base ? `${base},${extra}` : `-o${extra}`;
  }
}

export interface AdapterOptions {
  /** `wardenfs mount --allow-other` (SHARED_MOUNT_OPTIONS). */
  allowOther?: boolean;
}


/** `use`: the hook of the innermost node the path went below (called once by resolve). */
type Target =
  | { kind: 'node'; node: FileNode | DirNode | LinkNode; use?: Used }
  | { kind: 'sub'; sub: Subtree; rel: string; use?: Used };

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
  /** Per registered root with a use hook: the binding's count of its requests last seen. */
  private readonly nativeUses = new Map<string, { use: Used; seen: number }>();
  /** The use hook of each JavaScript handle opened below a node that has one. */
  private readonly handleUses = new Map<number, Used>();

  constructor(private readonly root: DirNode, private readonly options: AdapterOptions = {}) {}

  /**
   * Who made the request being handled (the patched binding's Fuse#caller()): call it first
   * thing in an operation's callback, before anything is awaited.
   */
  private caller(): Caller | undefined {
    return this.fuse?.caller() ?? undefined;
  }

  /**
   * Walk the tree; a subtree takes the rest of the path, and acts for `who` (its
   * operations are done with a non-root caller's credentials). The use hook of each node the
   * path goes below is called (the innermost one is the target's `use`); `inside`: the request
   * is about a name in the directory at `p` (a create, mkdir, unlink there), so its own counts too.
   */
  async resolve(p: string, who?: Caller, inside = false): Promise<Target> {
    let node: Node = this.root;
    let use: Used | undefined;
    const used = (u: Used | undefined): Used | undefined => {
      u?.();
      return u ?? use;
    };
    const parts = split(p);
    for (let i = 0; i < parts.length; i++) {
      if (node.kind === 'subtree') {
        this.registerRoot('/' + parts.slice(0, i).join('/'), node);
        return { kind: 'sub', sub: node.as(who), rel: parts.slice(i).join('/'), use: used(node.use) };
      }
      if (node.kind !== 'dir') throw new NotDirectory(`not a directory`);
      use = used(node.use);
      const next: Node | undefined = await node.child(parts[i]!);
      if (!next) throw new NotFound(`no such file`);
      node = next;
    }
    if (node.kind === 'subtree') {
      this.registerRoot('/' + parts.join('/'), node);
      return { kind: 'sub', sub: node.as(who), rel: '', use: inside ? used(node.use) : use };
    }
    if (inside && node.kind === 'dir') use = used(node.use);
    return { kind: 'node', node, use };
  }

  /**
   * Report the requests the binding answered itself under registered roots since the last
   * call (its per-root counters) to their subtrees' use hooks. Called before a grace decision.
   */
  pollUses(): void {
    const fuse = this.fuse;
    if (!fuse) return;
    for (const [prefix, u] of this.nativeUses) {
      let n: number;
      try {
        n = fuse.rootUses(prefix);
      } catch (e) {
        log('uses of %s: %s', prefix, (e as Error).message);
        continue;
      }
      if (n !== u.seen) {
        u.seen = n;
        if (n > 0) u.use();
      }
    }
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
        // idBase with idSize 0 (--allow-other: host ids shown): what root makes still goes to the container's root
        fuse.registerRoot(prefix, root.fd, sub.ids?.base ?? sub.owner ?? 0, sub.ids?.size ?? 0, sub.readOnly);
      } catch (e) {
        log('register %s: %s', prefix, (e as Error).message);
        return;
      }
      this.nativeRoots.set(prefix, root);
      if (sub.use) this.nativeUses.set(prefix, { use: sub.use, seen: 0 });
      root.onClose(() => {
        if (this.nativeRoots.get(prefix) !== root) return;
        this.nativeRoots.delete(prefix);
        this.nativeUses.delete(prefix);
        fuse.unregisterRoot(prefix);
      });
    }, (e: unknown) => log('no native root for %s, the JavaScript side answers: %s', prefix, e));
  }

  /** The parent directory node of a path and the last name, for mkdir/rmdir of synthetic entries. */
  private async parent(p: string, who?: Caller): Promise<{ target: Target; name: string }> {
    const parts = split(p);
    const name = parts.pop() ?? '';
    return { target: await this.resolve('/' + parts.join('/'), who, true), name };
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
  private async pair(a: string, b: string, who?: Caller): Promise<[Subtree, string, string]> {
    const ta = await this.resolve(a, who);
    const tb = await this.parent(b, who);
    if (ta.kind !== 'sub' || tb.target.kind !== 'sub') throw new NotPermitted('only files inside rootfs/ can be moved or linked');
    (ta.sub as HostDir).same(tb.target.sub);
    const relB = [tb.target.rel, tb.name].filter(Boolean).join('/');
    return [ta.sub, ta.rel, relB];
  }

  /** A subtree op on the path (or its parent for ops that create the last name). */
  private async onSub(p: string, creating: boolean, who?: Caller): Promise<[Subtree, string]> {
    if (!creating) {
      const t = await this.resolve(p, who);
      if (t.kind !== 'sub') throw new NotPermitted('not permitted here');
      return [t.sub, t.rel];
    }
    const { target, name } = await this.parent(p, who);
    if (target.kind !== 'sub') throw new Denied('cannot create files here');
    return [target.sub, [target.rel, name].filter(Boolean).join('/')];
  }

  ops(): Ops {
    // Every callback answers exactly once: success values, or the error's errno.
    const done = <T>(p: Promise<T>, ok: (v: T) => void, fail: (errno: number) => void): void => {
      p.then(ok, (e: unknown) => fail(toErrno(e)));
    };
    const unit = (p: Promise<unknown>, cb: (err: number) => void): void => done(p, () => cb(0), cb);

    // `who`: the request's caller, taken synchronously first (this.caller()).
    return {
      getattr: (path, cb) => done(this.getattr(path, this.caller()), (st) => cb(0, st), cb),
      fgetattr: (path, _fd, cb) => done(this.getattr(path, this.caller()), (st) => cb(0, st), cb),
      readdir: (path, cb) => done(this.readdir(path), (names) => cb(0, names), cb),
      // A subtree's directory is a real fd, listed and closed by the binding itself; a
      // synthetic directory has handle 0 and is listed here, whole (its size is the daemon's).
      // releasedir is answered by the binding for both; it is here so that the binding has it.
      opendir: (path, _flags, cb) => done(this.opendir(path, this.caller()), (fh) => cb(0, fh), cb),
      releasedir: (_path, _fd, cb) => cb(0),
      open: (path, flags, cb) => done(this.open(path, flags, this.caller()), (r) => (typeof r === 'number' ? cb(0, r) : cb(0, 0, r.content)), cb),
      create: (path, mode, cb) => done(this.onSub(path, true, this.caller()).then(([s, r]) => s.create(r, mode)).then((fd) => this.passthrough(fd)), (fh) => cb(0, fh), cb),
      read: (_path, fd, buf, len, pos, cb, abort) => done(Promise.resolve().then(() => {
        this.handleUses.get(fd)?.();
        return this.handle(fd).read(buf, len, pos, abort);
      }), cb, cb),
      // owner: the lock owner the patched binding passes (0n: none), see Owner in nodes/types.ts
      write: (_path, fd, buf, len, pos, cb, abort, owner) => {
        const who = this.caller();
        done(Promise.resolve().then(() => {
          this.handleUses.get(fd)?.();
          return this.handle(fd).write(buf, len, pos, abort, owner || undefined, who);
        }), cb, cb);
      },
      release: (_path, fd, cb) => {
        const h = this.handles.get(fd);
        this.handles.delete(fd);
        this.handleUses.delete(fd);
        unit(h ? h.release() : Promise.resolve(), cb);
      },
      flush: (_path, fd, cb, owner) => {
        const who = this.caller();
        unit(Promise.resolve().then(() => this.handles.get(fd)?.flush?.(owner || undefined, who)), cb);
      },
      fsync: (_path, _datasync, fd, cb) => unit(Promise.resolve().then(() => this.handle(fd).fsync?.()), cb),
      truncate: (path, size, cb) => unit(this.truncate(path, size, this.caller()), cb),
      ftruncate: (path, fd, size, cb) => {
        const who = this.caller();
        const h = this.handles.get(fd);
        unit(h?.truncate ? h.truncate(size) : this.truncate(path, size, who), cb);
      },
      mkdir: (path, mode, cb) => unit(this.mkdir(path, mode, this.caller()), cb),
      rmdir: (path, cb) => unit(this.rmdir(path, this.caller()), cb),
      unlink: (path, cb) => unit(this.unlink(path, this.caller()), cb),
      rename: (a, b, cb) => unit(this.pair(a, b, this.caller()).then(([s, ra, rb]) => s.rename(ra, rb)), cb),
      link: (a, b, cb) => unit(this.pair(a, b, this.caller()).then(([s, ra, rb]) => s.link(ra, rb)), cb),
      mknod: (path, mode, dev, cb) => unit(this.onSub(path, true, this.caller()).then(([s, r]) => s.mknod(r, mode, dev)), cb),
      symlink: (target, path, cb) => unit(this.onSub(path, true, this.caller()).then(([s, r]) => s.symlink(target, r)), cb),
      readlink: (path, cb) => done(this.readlink(path, this.caller()), (t) => cb(0, t), cb),
      access: (path, mode, cb) => unit(this.access(path, mode, this.caller()), cb),
      chmod: (path, mode, cb) => unit(this.onSub(path, false, this.caller()).then(([s, r]) => s.chmod(r, mode)), cb),
      chown: (path, uid, gid, cb) => unit(this.onSub(path, false, this.caller()).then(([s, r]) => s.chown(r, uid, gid)), cb),
      utimens: (path, atime, mtime, cb) => unit(this.utimens(path, atime, mtime, this.caller()), cb),
      statfs: (path, cb) => done(this.statfs(path, this.caller()), (st) => cb(0, st), cb),
      // Extended attributes exist in rootfs/ only; synthetic files have none and take none.
      getxattr: (path, name, _pos, cb) => done(this.xattrTarget(path, this.caller()).then((t) => {
        if (!t) throw new NoAttribute('no such attribute');
        return t[0].getxattr(t[1], name);
      }), (v) => cb(0, v), cb),
      listxattr: (path, cb) => done(this.xattrTarget(path, this.caller()).then((t) => (t ? t[0].listxattr(t[1]) : [])), (names) => cb(0, names), cb),
      setxattr: (path, name, value, _pos, flags, cb) => unit(this.xattrWritable(path, this.caller()).then(([s, r]) => s.setxattr(r, name, value, flags)), cb),
      removexattr: (path, name, cb) => unit(this.xattrWritable(path, this.caller()).then(([s, r]) => s.removexattr(r, name)), cb),
    };
  }

  /** The subtree and relative path for an xattr call, or undefined for a synthetic node. */
  private async xattrTarget(p: string, who?: Caller): Promise<[Subtree, string] | undefined> {
    const t = await this.resolve(p, who);
    return t.kind === 'sub' ? [t.sub, t.rel] : undefined;
  }

  /** As xattrTarget, for a change: synthetic files take none. */
  private async xattrWritable(p: string, who?: Caller): Promise<[Subtree, string]> {
    const t = await this.xattrTarget(p, who);
    if (!t) throw new NotSupported('synthetic files have no extended attributes');
    return t;
  }

  private async getattr(p: string, who?: Caller): Promise<Stat> {
    const t = await this.resolve(p, who);
    if (t.kind === 'sub') return t.sub.getattr(t.rel);
    if (t.node.kind === 'dir') return { ...DIR_STAT(), mode: S_IFDIR | this.synthetic(t.node, t.node.mode ?? 0o755), ino: syntheticIno(p) };
    if (t.node.kind === 'link') return { ...DIR_STAT(), mode: S_IFLNK | 0o777, nlink: 1, size: Buffer.byteLength(t.node.target), ino: syntheticIno(p) };
    const st = await t.node.getattr();
    return { ...st, mode: (st.mode & ~0o7777) | this.synthetic(t.node, st.mode & 0o7777), ino: syntheticIno(p) };
  }

  /**
   * The permission bits a synthetic node shows. With --allow-other the kernel checks them for
   * every caller (default_permissions): every synthetic file and directory is root's (uid 0)
   * with no access for group or others, but the directories marked `shared` (the way to
   * rootfs/), so only root can create, run, retune or read what the daemon says.
   */
  private synthetic(node: FileNode | DirNode, mode: number): number {
    if (!this.options.allowOther || (node.kind === 'dir' && node.shared)) return mode;
    return mode & ~0o077;
  }

  private async readlink(p: string, who?: Caller): Promise<string> {
    const t = await this.resolve(p, who);
    if (t.kind === 'sub') return t.sub.readlink(t.rel);
    if (t.node.kind !== 'link') throw new BadRequest('not a symlink');
    return t.node.target;
  }

  private async opendir(p: string, who?: Caller): Promise<number> {
    const t = await this.resolve(p, who, true); // listing is a request about the names inside
    if (t.kind === 'sub') return this.passthrough(await t.sub.opendir(t.rel));
    if (t.node.kind !== 'dir') throw new NotDirectory('not a directory');
    return 0;
  }

  /** Synthetic directories only: a subtree's listing never comes here (opendir gave the binding an fd). */
  private async readdir(p: string): Promise<string[]> {
    const t = await this.resolve(p, undefined, true);
    if (t.kind === 'sub') throw new NotSupported('listed by the binding');
    if (t.node.kind !== 'dir') throw new NotDirectory('not a directory');
    return ['.', '..', ...(await t.node.list())];
  }

  /** A handle number, or the content of a read-only snapshot that the binding serves itself. */
  private async open(p: string, flags: number, who?: Caller): Promise<number | { content: Buffer }> {
    const t = await this.resolve(p, who);
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
    const fd = this.addHandle(h);
    if (t.use) this.handleUses.set(fd, t.use);
    return fd;
  }

  private async truncate(p: string, size: number, who?: Caller): Promise<void> {
    const t = await this.resolve(p, who);
    if (t.kind === 'sub') return t.sub.truncate(t.rel, size);
    if (t.node.kind === 'dir') throw new IsDirectory('is a directory');
    if (t.node.kind === 'link' || !t.node.truncate) throw new NotPermitted('read-only file');
    return t.node.truncate(size);
  }

  private async mkdir(p: string, mode: number, who?: Caller): Promise<void> {
    const { target, name } = await this.parent(p, who);
    if (target.kind === 'sub') return target.sub.mkdir([target.rel, name].filter(Boolean).join('/'), mode);
    if (target.node.kind !== 'dir' || !target.node.mkdir) throw new Denied('cannot make a directory here');
    return target.node.mkdir(name, mode, who);
  }

  private async rmdir(p: string, who?: Caller): Promise<void> {
    const t = await this.resolve(p, who);
    if (t.kind === 'sub') {
      if (t.rel === '') throw new NotPermitted('cannot remove rootfs');
      return t.sub.rmdir(t.rel);
    }
    const { target, name } = await this.parent(p);
    if (target.kind !== 'node' || target.node.kind !== 'dir' || !target.node.rmdir) throw new NotPermitted('cannot remove this directory');
    return target.node.rmdir(name, who);
  }

  private async unlink(p: string, who?: Caller): Promise<void> {
    const t = await this.resolve(p, who);
    if (t.kind === 'sub') return t.sub.unlink(t.rel);
    const { target, name } = await this.parent(p);
    if (target.kind !== 'node' || target.node.kind !== 'dir' || !target.node.unlink) throw new NotPermitted('not permitted here');
    return target.node.unlink(name);
  }

  /**
   * access(2) and chdir: under rootfs/ the kernel's answer for the file (before this op existed
   * libfuse answered ENOSYS and the kernel then granted everything, `test -x` of a 0644 file
   * included). A synthetic node exists if it resolves; X_OK needs an exec bit on a file, as
   * for root anywhere.
   */
  private async access(p: string, mode: number, who?: Caller): Promise<void> {
    const t = await this.resolve(p, who);
    if (t.kind === 'sub') return t.sub.access(t.rel, mode);
    if (!(mode & C.X_OK) || t.node.kind !== 'file') return;
    const st = await t.node.getattr();
    if (!((st.mode ?? 0) & 0o111)) throw new Denied('not executable');
  }

  private async utimens(p: string, atime: UtimeSpec, mtime: UtimeSpec, who?: Caller): Promise<void> {
    const t = await this.resolve(p, who);
    if (t.kind === 'sub') return t.sub.utimens(t.rel, atime, mtime);
    // touch on a synthetic file changes nothing and is not an error.
  }

  private async statfs(p: string, who?: Caller) {
    const t = await this.resolve(p, who).catch(() => undefined); // no such path: the tree's own figures
    if (t?.kind === 'sub') return t.sub.statfs(t.rel);
    return { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 };
  }

  mount(mountpoint: string): Promise<void> {
    // timeout: false — a ctl message may take longer than fuse-native's 15 s default,
    // and a stream read waits for output; every callback above answers exactly once.
    this.fuse = new WardenFuse(mountpoint, this.ops(), { force: true, mkdir: true, timeout: false }, this.options.allowOther ? SHARED_MOUNT_OPTIONS : []);
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
