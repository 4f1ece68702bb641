/**
 * A container's rootfs, confined: every operation is done by the native addon
 * (native/rootfs/rootfs.c) relative to an O_PATH fd of the root, with openat2(2)
 * RESOLVE_IN_ROOT. A symlink met anywhere in a path — absolute, climbing with '..', or
 * planted by the container mid-operation in place of a directory — is resolved inside
 * the root, as the container itself would see it; the daemon never reaches a host file
 * through it. The final component is never followed (the l* semantics) unless open() is
 * asked to.
 *
 * Each call runs on the libuv thread pool and returns a promise; errors carry Node's
 * `.code` ('ENOENT' …), so src/fs/errno.ts maps them as it maps node:fs errors. The fds
 * open() returns are plain fds (node:fs can use them; the FUSE binding takes them over).
 */
import { BadHandle, BadRequest, q } from '../../errors.js';
import { addon } from './addon.js';
import type { Native, RawStat } from './native.js';
import type { ConfinedRoot, RootStat, RootStatFs, TimeSpec } from '../../model/rootfs.js';
import { actsAsDaemon, callerIds, needsView, type Caller } from '../../model/caller.js';

export type { RootStatFs } from '../../model/rootfs.js';

// The types a confined root deals in belong to the model (fs/ uses them without this driver).
export type { RootStat, TimeSpec } from '../../model/rootfs.js';

/** The flags RootfsResolver.rename takes (renameat2(2)). */
export const renameFlags = {
  get NOREPLACE(): number { return addon().RENAME_NOREPLACE; },
  get EXCHANGE(): number { return addon().RENAME_EXCHANGE; },
};

const NS_PER_S = 1_000_000_000n;

function nsOf(sec: number, nsec: number): bigint {
  return BigInt(sec) * NS_PER_S + BigInt(nsec);
}

function msOf(sec: number, nsec: number): number {
  return sec * 1000 + nsec / 1e6;
}

/** [seconds, nanoseconds] for utimensat, nanoseconds in 0..1e9-1 (also before 1970). */
function timespec(t: TimeSpec, n: Native): [number, number] {
  if (t === 'now') return [0, n.UTIME_NOW];
  if (t === 'omit') return [0, n.UTIME_OMIT];
  if (typeof t === 'bigint') {
    let sec = t / NS_PER_S;
    let nsec = t % NS_PER_S;
    if (nsec < 0n) { sec -= 1n; nsec += NS_PER_S; } // BigInt division truncates toward zero
    return [Number(sec), Number(nsec)];
  }
  const ms = t instanceof Date ? t.getTime() : t;
  if (!Number.isFinite(ms)) throw new BadRequest(`invalid time ${q(String(t))}`);
  let sec = Math.floor(ms / 1000);
  let nsec = Math.round((ms - sec * 1000) * 1e6);
  if (nsec >= 1e9) { sec += 1; nsec -= 1e9; }
  return [sec, nsec];
}

function toStat(r: RawStat): RootStat {
  const atimeMs = msOf(r.atimeSec, r.atimeNsec);
  const mtimeMs = msOf(r.mtimeSec, r.mtimeNsec);
  const ctimeMs = msOf(r.ctimeSec, r.ctimeNsec);
  return {
    dev: r.dev, ino: r.ino, inoBig: r.inoBig, mode: r.mode, nlink: r.nlink, uid: r.uid, gid: r.gid,
    rdev: r.rdev, size: r.size, blksize: r.blksize, blocks: r.blocks,
    atimeNs: nsOf(r.atimeSec, r.atimeNsec), mtimeNs: nsOf(r.mtimeSec, r.mtimeNsec), ctimeNs: nsOf(r.ctimeSec, r.ctimeNsec),
    atimeMs, mtimeMs, ctimeMs,
    atime: new Date(atimeMs), mtime: new Date(mtimeMs), ctime: new Date(ctimeMs),
  };
}

function ebadf(): Error {
  return new BadHandle('the rootfs resolver is closed');
}

/** The state one root shares with its callers' views (RootfsResolver.as). */
class RootState {
  inflight = 0;
  closing: Promise<void> | undefined;
  drained: (() => void) | undefined;
  closeListeners: Array<() => void> = [];
  constructor(public fd: number) {}
}

export class RootfsResolver implements ConfinedRoot {
  readonly #s: RootState;
  /** The caller whose credentials every call takes ([uid, gid, ...groups]); none: the daemon's. */
  readonly #caller: Uint32Array | undefined;
  /** The umask what this view makes takes (the caller's: modes come unmasked); none: 0. */
  readonly #umask: number | undefined;

  private constructor(state: RootState, readonly hostRoot: string, caller?: Uint32Array, umask?: number) {
    this.#s = state;
    this.#caller = caller;
    this.#umask = umask;
  }

  /** Opens `hostRoot` (a trusted host path: the daemon's own state dir) as the root: a
   *  private detached copy of its mount, nodev and nosuid (open_tree + mount_setattr). */
  static async open(hostRoot: string): Promise<RootfsResolver> {
    return new RootfsResolver(new RootState(await addon().openRoot(hostRoot)), hostRoot);
  }

  /**
   * The same root, every call done with `caller`'s credentials (fsuid, fsgid, groups, on
   * the pool thread that does it: native/rootfs/rootfs.c, creds_enter); a root caller, or
   * none, gets this very resolver (a view with the caller's umask when it has one: what it
   * makes is made with that umask, or a default ACL in its place, by the file system).
   * Closing either closes the root.
   */
  as(caller: Caller | undefined): ConfinedRoot {
    if (!needsView(caller)) return this;
    const umask = caller?.umask ? caller.umask & 0o777 : undefined;
    return new RootfsResolver(this.#s, this.hostRoot, actsAsDaemon(caller) ? undefined : callerIds(caller!), umask);
  }

  /**
   * Every call goes through here. The root fd is closed only once no call is in flight:
   * a call still queued on the thread pool would otherwise use the fd number after
   * close(), when it may already name another file the daemon opened since.
   */
  async #run<T>(fn: (n: Native, rootFd: number, caller: Uint32Array | undefined) => Promise<T>): Promise<T> {
    const s = this.#s;
    if (s.closing) throw ebadf();
    s.inflight++;
    try {
      return await fn(addon(), s.fd, this.#caller);
    } finally {
      if (--s.inflight === 0) s.drained?.();
    }
  }

  async lstat(rel: string): Promise<RootStat> {
    return toStat(await this.#run((n, fd, as) => n.lstat(fd, rel, as)));
  }

  /**
   * An fd for `rel`, O_CLOEXEC always added. The final component is not followed
   * (O_NOFOLLOW: ELOOP on a symlink, and O_CREAT never creates through a dangling one)
   * unless `follow`, and then it is followed inside the root.
   * Only a regular file or a directory is handed out: anything else that was opened (a
   * FIFO or socket swapped in) is closed and refused with EACCES; a device node is refused
   * by the open itself (the root is a nodev mount). Opening a FIFO without O_NONBLOCK holds
   * a pool thread until a peer comes, and is then refused.
   */
  async open(rel: string, flags: number, mode = 0o666, opts: { follow?: boolean } = {}): Promise<number> {
    return this.#run((n, fd, as) => n.open(fd, rel, flags, mode, opts.follow ?? false, as, this.#umask));
  }

  /**
   * The names in directory `rel`, without '.' and '..'; a final symlink is followed (inside the
   * root). Holds the whole listing: never for a directory whose size a container decides (the
   * tree lists rootfs/ through the FUSE binding, in batches; docs/security.md §6).
   */
  async readdir(rel: string): Promise<string[]> {
    return this.#run((n, fd, as) => n.readdir(fd, rel, as));
  }

  async mkdir(rel: string, mode = 0o777): Promise<void> {
    return this.#run((n, fd, as) => n.mkdir(fd, rel, mode, as, this.#umask));
  }

  async rmdir(rel: string): Promise<void> {
    return this.#run((n, fd, as) => n.rmdir(fd, rel, as));
  }

  async unlink(rel: string): Promise<void> {
    return this.#run((n, fd, as) => n.unlink(fd, rel, as));
  }

  /** rename(2) within the root; `flags` from renameFlags (renameat2). */
  async rename(from: string, to: string, flags = 0): Promise<void> {
    return this.#run((n, fd, as) => n.rename(fd, from, to, flags, as));
  }

  /** A hard link; a symlink at `from` is linked itself, not its target. */
  async link(from: string, to: string): Promise<void> {
    return this.#run((n, fd, as) => n.link(fd, from, to, as));
  }

  /** A symlink at `rel` holding `target` as given (it means what it says inside the container). */
  async symlink(target: string, rel: string): Promise<void> {
    return this.#run((n, fd, as) => n.symlink(fd, target, rel, as));
  }

  /** The target as stored. */
  async readlink(rel: string): Promise<string> {
    return this.#run((n, fd, as) => n.readlink(fd, rel, as));
  }

  /**
   * Where a path leads inside the root, as the container resolves it (every symlink, the
   * last one too, and '..' taken in the root): the kernel's name for what the longest
   * existing prefix of `parts` reaches, relative to the root ('' for the root itself),
   * and how many of `parts` that prefix had. `parts` are names or '..' (no '' or '.').
   */
  async resolve(parts: string[]): Promise<{ path: string; consumed: number }> {
    if (parts.some((p) => p === '' || p === '.' || p.includes('/'))) {
      throw new BadRequest(`a path component is empty, "." or holds "/": ${q(parts.join('/'))}`);
    }
    return this.#run((n, fd, as) => n.resolve(fd, parts.join('/'), as));
  }

  /** Permission bits of `rel` itself; EOPNOTSUPP on a symlink (which has none that matter). */
  async chmod(rel: string, mode: number): Promise<void> {
    return this.#run((n, fd, as) => n.chmod(fd, rel, mode & 0o7777, as));
  }

  /** faccessat(AT_EACCESS | AT_SYMLINK_NOFOLLOW) of `rel`: F_OK, or R_OK | W_OK | X_OK bits. */
  async access(rel: string, mode: number): Promise<void> {
    return this.#run((n, fd, as) => n.access(fd, rel, mode & 7, as));
  }

  /** lchown: a symlink's own owner. -1 keeps the current uid or gid. */
  async chown(rel: string, uid: number, gid: number): Promise<void> {
    return this.#run((n, fd, as) => n.chown(fd, rel, uid, gid, as));
  }

  /** Times of `rel` itself (a symlink's own), to the nanosecond when given as bigint. */
  async utimens(rel: string, atime: TimeSpec, mtime: TimeSpec): Promise<void> {
    return this.#run((n, fd, caller) => {
      const [as, ans] = timespec(atime, n);
      const [ms, mns] = timespec(mtime, n);
      return n.utimens(fd, rel, as, ans, ms, mns, caller);
    });
  }

  /** Regular files only (EISDIR, EINVAL otherwise; ELOOP on a symlink). */
  async truncate(rel: string, size: number): Promise<void> {
    return this.#run((n, fd, as) => n.truncate(fd, rel, size, as));
  }

  /** The filesystem holding `rel`; a final symlink is followed (inside the root), as statfs(2) does. */
  async statfs(rel: string): Promise<RootStatFs> {
    return this.#run((n, fd, as) => n.statfs(fd, rel, as));
  }

  /** FIFOs, sockets and devices (`mode` carries S_IF*), which node:fs cannot make. */
  async mknod(rel: string, mode: number, dev = 0): Promise<void> {
    return this.#run((n, fd, as) => n.mknod(fd, rel, mode, dev, as, this.#umask));
  }

  /**
   * Extended attributes of `rel` itself (never through a final symlink; a symlink has
   * none and takes none: ENODATA, [], EPERM). getxattr gives the whole value (ENODATA
   * when absent); `flags` of setxattr are XATTR_CREATE (1) / XATTR_REPLACE (2).
   */
  async getxattr(rel: string, name: string): Promise<Buffer> {
    return this.#run((n, fd, as) => n.getxattr(fd, rel, name, as));
  }

  async listxattr(rel: string): Promise<string[]> {
    return this.#run((n, fd, as) => n.listxattr(fd, rel, as));
  }

  async setxattr(rel: string, name: string, value: Buffer, flags = 0): Promise<void> {
    return this.#run((n, fd, as) => n.setxattr(fd, rel, name, value, flags, as));
  }

  async removexattr(rel: string, name: string): Promise<void> {
    return this.#run((n, fd, as) => n.removexattr(fd, rel, name, as));
  }

  /**
   * The root's O_PATH fd, -1 once close() has begun. The FUSE binding duplicates it to
   * answer getattr, getxattr and opendir under the root itself (docs/fuse.md, "registered roots").
   */
  get fd(): number {
    return this.#s.closing ? -1 : this.#s.fd;
  }

  /** `fn` runs once, synchronously, when close() begins (before the root fd is closed). */
  onClose(fn: () => void): void {
    if (this.#s.closing) fn();
    else this.#s.closeListeners.push(fn);
  }

  /** Waits for the calls in flight, then closes the root fd. Idempotent. */
  close(): Promise<void> {
    const s = this.#s;
    if (!s.closing) for (const fn of s.closeListeners.splice(0)) fn();
    s.closing ??= (async () => {
      if (s.inflight > 0) await new Promise<void>((resolve) => { s.drained = resolve; });
      await addon().close(s.fd);
      s.fd = -1;
    })();
    return s.closing;
  }
}
