/**
 * The node kinds of the tree. The adapter resolves a path to one of them and never
 * looks at names itself:
 *   - DirNode: a synthetic directory (children by name, optional mkdir/rmdir);
 *   - FileNode: a synthetic file (generated text, ctl, event log …) opened into a Handle;
 *   - Subtree: a host directory shown as it is (rootfs/, images/NAME/rootfs/), which
 *     takes the rest of the path itself.
 */
import type { Stat, StatFs, UtimeSpec } from 'fuse-native';
import type { Caller } from '../../model/caller.js';

export type { Stat, StatFs, UtimeSpec };
export type { Caller };

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/**
 * Who made a write or a flush: the FUSE lock owner, the kernel's id of the calling
 * process's descriptor table (its files_struct, shared by its threads, copied for a forked
 * child). Undefined when unknown (the kernel passes it with direct-I/O writes and with
 * every FLUSH; every synthetic file is direct I/O).
 */
export type Owner = bigint | undefined;

/** One open file. Per-open state (snapshots, ctl results) lives here, freed at release. */
export interface Handle {
  /**
   * The whole content, fixed at open (generated text, a cgroup value). A read-only open of
   * such a handle is handed to the FUSE binding with its content, and the binding answers
   * its reads and its release itself (docs/fuse.md, "snapshot handles").
   */
  readonly content?: Buffer;
  /** `abort` fires when the caller is interrupted by a signal: a read that waits must then end with EINTR. */
  read(buf: Buffer, len: number, pos: number, abort?: AbortSignal): Promise<number>;
  /**
   * `owner` identifies the writer's descriptor table (the FUSE lock owner, see Owner); a
   * flush carries the closing table's, so a node can tell a writer's close from the close
   * of a descriptor that a child merely inherited.
   */
  write(buf: Buffer, len: number, pos: number, abort?: AbortSignal, owner?: Owner, caller?: Caller): Promise<number>;
  truncate?(size: number): Promise<void>;
  fsync?(): Promise<void>;
  /** At each close() of the open file, which waits for it (release comes later, asynchronously). */
  flush?(owner?: Owner, caller?: Caller): Promise<void>;
  release(): Promise<void>;
}

export interface FileNode {
  kind: 'file';
  getattr(): Promise<Stat>;
  open(flags: number): Promise<Handle>;
  /** O_TRUNC arrives as a truncate before the open (libfuse2 without atomic_o_trunc). */
  truncate?(size: number): Promise<void>;
}

export interface DirNode {
  kind: 'dir';
  mode?: number;
  /**
   * With --allow-other, others may enter and list it (the ways to rootfs/); every other
   * synthetic file and directory is then root's alone (docs/security.md, "Other users").
   */
  shared?: boolean;
  list(): Promise<string[]> | string[];
  child(name: string): Promise<Node | undefined> | Node | undefined;
  /** `caller`: who asked (for events). */
  mkdir?(name: string, mode: number, caller?: Caller): Promise<void>;
  rmdir?(name: string, caller?: Caller): Promise<void>;
  /** unlink of a synthetic file of this directory (EPERM when absent). */
  unlink?(name: string): Promise<void>;
  /** A request for a path below this directory is a use of what it belongs to (a container's grace clock, see Used). */
  readonly use?: Used;
}

/**
 * Called by the adapter for each request on a path below a node that has it (not on the
 * node itself: `ls -l containers/` uses no container), and for each read and write of a
 * handle opened there; and for the requests the binding answered itself under a registered
 * root (counted there, collected by FuseAdapter.pollUses).
 */
export type Used = () => void;

/**
 * A host directory tree served by relative path ('' is its root). open and create give a
 * real fd, which the patched FUSE binding then owns: it does that file's reads, writes,
 * fstat, fsync, ftruncate and the close itself (docs/fuse.md, "passthrough handles").
 */
export interface Subtree {
  kind: 'subtree';
  /** The same tree for one request's caller: its operations done with the caller's credentials. */
  as(caller: Caller | undefined): Subtree;
  getattr(rel: string): Promise<Stat>;
  /**
   * A real fd of directory `rel`, which the patched binding then owns: it lists it in
   * batches with offsets and closes it at releasedir (docs/fuse.md, "directory handles").
   */
  opendir(rel: string): Promise<number>;
  /** The root the binding may answer getattr and opendir under itself (docs/fuse.md, "registered roots"). */
  nativeRoot(): Promise<NativeRoot>;
  /** Owners the binding must show shifted when it answers for this subtree itself; none when undefined. */
  readonly ids?: IdRange;
  /** The host id that owns what root makes there (the container's root; none: root keeps it). */
  readonly owner?: number;
  /** Nothing under it may be written (an image): the binding's own opens refuse writing with EROFS. */
  readonly readOnly: boolean;
  /** As DirNode's: a request for a path below its root. */
  readonly use?: Used;
  open(rel: string, flags: number): Promise<number>;
  create(rel: string, mode: number): Promise<number>;
  truncate(rel: string, size: number): Promise<void>;
  unlink(rel: string): Promise<void>;
  mkdir(rel: string, mode: number): Promise<void>;
  rmdir(rel: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(from: string, to: string): Promise<void>;
  symlink(target: string, rel: string): Promise<void>;
  readlink(rel: string): Promise<string>;
  chmod(rel: string, mode: number): Promise<void>;
  /** access(2): the kernel's own answer for the file (an exec bit for X_OK, even for root). */
  access(rel: string, mode: number): Promise<void>;
  chown(rel: string, uid: number, gid: number): Promise<void>;
  /** Exact nanoseconds (BigInt), or 'now' / 'omit' (UTIME_NOW, UTIME_OMIT). */
  utimens(rel: string, atime: UtimeSpec, mtime: UtimeSpec): Promise<void>;
  statfs(rel: string): Promise<StatFs>;
  /** FIFOs, sockets and device nodes (mkfifo, mknod). */
  mknod(rel: string, mode: number, dev: number): Promise<void>;
  /** Extended attributes of `rel` itself; getxattr rejects with ENODATA when there is none. */
  getxattr(rel: string, name: string): Promise<Buffer>;
  listxattr(rel: string): Promise<string[]>;
  setxattr(rel: string, name: string, value: Buffer, flags: number): Promise<void>;
  removexattr(rel: string, name: string): Promise<void>;
}

/**
 * A synthetic symlink (containers/NAME/rootfs → ../../rootfs/NAME): the kernel follows it
 * itself; it cannot be removed (rm -r does not follow symlinks, so it never descends).
 */
export interface LinkNode {
  kind: 'link';
  target: string;
}

/** A root fd the binding duplicates (-1 once closing), and the signal to forget it. */
export interface NativeRoot {
  readonly fd: number;
  onClose(fn: () => void): void;
}

/** The host ids a subtree shows shifted (a container's user namespace, idshift.ts): base… are 0…size-1. */
export interface IdRange {
  readonly base: number;
  readonly size: number;
}

export type Node = FileNode | DirNode | Subtree | LinkNode;

/** The access mode bits of open flags. */
export function wantsWrite(flags: number): boolean {
  return (flags & 3) !== 0; // O_WRONLY = 1, O_RDWR = 2
}
