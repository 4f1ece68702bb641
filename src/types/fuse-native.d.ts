// The parts of fuse-native 2.2.6 that wardenfs uses (the package ships no types).
declare module 'fuse-native' {
  export interface Stat {
    mode: number; uid?: number; gid?: number; size?: number; dev?: number; nlink?: number;
    // ino: a BigInt carries all 64 bits (wardenfs's patch; the kernel uses it with use_ino)
    ino?: number | bigint; rdev?: number; blksize?: number; blocks?: number;
    atime?: Date | number; mtime?: Date | number; ctime?: Date | number;
    // wardenfs's patch: exact times in nanoseconds since the epoch, preferred when given
    atimeNs?: bigint; mtimeNs?: bigint; ctimeNs?: bigint;
  }
  /** A time given to utimens (wardenfs's patch): exact nanoseconds since the epoch, or the
   *  current time / leave unchanged (UTIME_NOW / UTIME_OMIT). */
  export type UtimeSpec = bigint | 'now' | 'omit';
  export interface StatFs {
    bsize: number; frsize: number; blocks: number; bfree: number; bavail: number;
    files: number; ffree: number; favail: number; fsid: number; flag: number; namemax: number;
  }
  type Cb = (err: number) => void;
  export interface Ops {
    init?(cb: Cb): void;
    statfs?(path: string, cb: (err: number, st?: StatFs) => void): void;
    getattr?(path: string, cb: (err: number, st?: Stat) => void): void;
    fgetattr?(path: string, fd: number, cb: (err: number, st?: Stat) => void): void;
    readdir?(path: string, cb: (err: number, names?: string[], stats?: Stat[]) => void): void;
    // fd: a handle with wardenfs's PASSTHROUGH bit carries a directory fd that the patched
    // binding lists (in batches, with offsets) and closes itself.
    opendir?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    releasedir?(path: string, fd: number, cb: Cb): void;
    // content: added by wardenfs's patch; the whole content of a read-only snapshot handle,
    // which the binding then serves itself (fd 0: no JavaScript handle).
    open?(path: string, flags: number, cb: (err: number, fd?: number, content?: Buffer) => void): void;
    create?(path: string, mode: number, cb: (err: number, fd?: number) => void): void;
    // abort: added by wardenfs's patch of the binding; fires when the kernel interrupts the request.
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void, abort?: AbortSignal): void;
    // owner: added by wardenfs's patch; the request's lock owner, the kernel's id of the writer's
    // descriptor table (0n when the kernel gave none). Direct-I/O writes and every FLUSH carry it.
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void, abort?: AbortSignal, owner?: bigint): void;
    release?(path: string, fd: number, cb: Cb): void;
    flush?(path: string, fd: number, cb: Cb, owner?: bigint): void;
    fsync?(path: string, datasync: boolean, fd: number, cb: Cb): void;
    truncate?(path: string, size: number, cb: Cb): void;
    ftruncate?(path: string, fd: number, size: number, cb: Cb): void;
    mkdir?(path: string, mode: number, cb: Cb): void;
    rmdir?(path: string, cb: Cb): void;
    unlink?(path: string, cb: Cb): void;
    rename?(src: string, dest: string, cb: Cb): void;
    link?(src: string, dest: string, cb: Cb): void;
    symlink?(target: string, path: string, cb: Cb): void;
    mknod?(path: string, mode: number, dev: number, cb: Cb): void;
    readlink?(path: string, cb: (err: number, target?: string) => void): void;
    access?(path: string, mode: number, cb: Cb): void;
    chmod?(path: string, mode: number, cb: Cb): void;
    chown?(path: string, uid: number, gid: number, cb: Cb): void;
    utimens?(path: string, atime: UtimeSpec, mtime: UtimeSpec, cb: Cb): void;
    // position is always 0 on Linux; the binding answers ERANGE itself (patched) when a
    // value or list does not fit the caller's buffer, and ENODATA for an undefined value.
    getxattr?(path: string, name: string, position: number, cb: (err: number, value?: Buffer) => void): void;
    listxattr?(path: string, cb: (err: number, names?: string[]) => void): void;
    setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Cb): void;
    removexattr?(path: string, name: string, cb: Cb): void;
  }
  export interface FuseOptions {
    force?: boolean; mkdir?: boolean; timeout?: number | false | Record<string, number | false>;
    allowOther?: boolean; allowRoot?: boolean; defaultPermissions?: boolean;
    fsname?: string; subtype?: string; debug?: boolean; displayFolder?: boolean;
  }
  export default class Fuse {
    constructor(mnt: string, ops: Ops, opts?: FuseOptions);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    protected _fuseOptions(): string;
    // Added by wardenfs's patch: a rootfs/ subtree's root fd (duplicated by the binding),
    // under whose tree path getattr and opendir are answered natively; ids idBase…idBase+idSize-1
    // (a container's user namespace) are shown as 0…idSize-1 (idSize 0: no shift).
    registerRoot(prefix: string, fd: number, idBase?: number, idSize?: number, readOnly?: boolean): void;
    unregisterRoot(prefix: string): void;
    // wardenfs patch: how many requests the binding answered itself for paths below the root
    // registered at prefix (not the root itself); -1 when none is registered there.
    rootUses(prefix: string): number;
    // Added by wardenfs's patch: who made the request being handled (fuse_get_context(); groups:
    // a non-root caller's supplementary groups, from fuse_getgroups()), while an operation's
    // handler runs synchronously; null otherwise.
    caller(): { uid: number; gid: number; pid: number; umask: number; groups: number[] } | null;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    // Added by wardenfs's patch: the bits of handle numbers the binding reads, declared in
    // fuse-native.c only (WARDENFS_*) and exported from there (docs/fuse.md).
    static readonly HANDLE_BITS: Readonly<{ passthrough: number; wantsFlush: number; snapshot: bigint; dir: bigint }>;
  }
}
