/**
 * `image commit`: a container's files, as the container sees them, copied into a new image
 * (docs/decisions.md, "image commit"). The walk is over the container's merged overlay (its
 * own view: whiteouts, opaque and renamed directories are already applied by the kernel),
 * through a resolver confined to it, so that a symlink the container planted is only ever
 * copied as a symlink and never followed on the host side.
 *
 * Sharing: a regular file the container never touched (its writable layer has nothing at
 * that path, and the original image has a regular file there with the inode the overlay
 * reports) becomes a hard link to the original image's file: images are immutable and live
 * in the same state dir, so they can share inodes. Everything else (directories, changed
 * and new files, symlinks, FIFOs) is made anew. Device nodes and sockets are skipped.
 *
 * Owners: in a user namespace the host sees the container's id N as base+N; the new image
 * holds N, as an imported image does (an id outside the range — nothing the container can
 * make — becomes 65534, nobody).
 */
import { constants as C, link as fsLink, closeSync } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { copyFd } from '../rootfs/addon.js';
import { promisify } from 'node:util';
import path from 'node:path';
import { isErrno } from '../../util/files.js';
import type { RootfsResolver, RootStat } from '../rootfs/resolver.js';
import type { IdRange } from '../../model/records.js';

const pLink = promisify(fsLink);

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;

const NOBODY = 65534;
/** Entries of one directory in flight at once (commitRoot's walk). */
const CONCURRENCY = 8;

/** Extended attributes kept (as an import keeps them); the overlay's own never show in the merged view. */
function keepXattr(name: string): boolean {
  return name.startsWith('user.') || name === 'security.capability';
}

export interface CommitSource {
  /** The container's merged root (its view). */
  merged: RootfsResolver;
  /** Its writable layer: only asked whether a path is there. */
  upper: RootfsResolver;
  /** The image it was made from. */
  lower: RootfsResolver;
  /** That image's root on the host (the daemon's own, never changed after it was made): hard links are made from it. */
  lowerHost: string;
  /** The container's user namespace: its ids are shifted back. */
  idmap?: IdRange;
}

export interface CommitStats {
  entries: number;
  /** Files shared with the original image (hard links). */
  shared: number;
  /** Files copied (new or changed). */
  copied: number;
  bytes: number;
  /** Device nodes and sockets left out. */
  skipped: number;
}

/** The container's own id of a host id. */
export function unshiftId(id: number, idmap?: IdRange): number {
  if (!idmap) return id;
  return id >= idmap.base && id < idmap.base + idmap.size ? id - idmap.base : NOBODY;
}

/**
 * Copy the container's root into `dst` (a resolver on the new image's empty root, whose host
 * path is `dstHost`). `onCount` hears of every entry made.
 */
export async function commitRoot(src: CommitSource, dst: RootfsResolver, dstHost: string, onCount?: (n: number) => void): Promise<CommitStats> {
  const stats: CommitStats = { entries: 0, shared: 0, copied: 0, bytes: 0, skipped: 0 };
  const dirTimes: Array<[string, bigint]> = [];
  /** Copied files with more than one name: the merged inode → the first name, made once `done` settles. */
  const links = new Map<string, { rel: string; done: Promise<unknown> }>();
  const uid = (st: RootStat): number => unshiftId(st.uid, src.idmap);
  const gid = (st: RootStat): number => unshiftId(st.gid, src.idmap);

  const lstatOr = async (r: RootfsResolver, rel: string): Promise<RootStat | undefined> => {
    try {
      return await r.lstat(rel);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
  };

  const xattrs = async (rel: string): Promise<void> => {
    // A file system without extended attributes: none to copy.
    for (const name of await src.merged.listxattr(rel).catch(() => [] as string[])) {
      if (!keepXattr(name)) continue;
      const value = await src.merged.getxattr(rel, name).catch((e: unknown) => {
        if (isErrno(e, 'ENODATA')) return undefined; // removed since it was listed
        throw e;
      });
      if (value) await dst.setxattr(rel, name, value);
    }
  };

  const counted = (): void => { stats.entries++; onCount?.(stats.entries); };

  /** A file the container never changed: a hard link to the original image's. */
  const sharedWith = async (rel: string, st: RootStat, lowerReal: boolean): Promise<boolean> => {
    if (!lowerReal) return false;
    if (await lstatOr(src.upper, rel)) return false;
    const low = await lstatOr(src.lower, rel);
    if (!low || (low.mode & S_IFMT) !== S_IFREG || low.inoBig !== st.inoBig) return false;
    // Every directory on the way is a real directory of the image (checked on the way down),
    // and the last component is not followed by link(2): the host path names that very file.
    await pLink(path.join(src.lowerHost, rel), path.join(dstHost, rel));
    return true;
  };

  const copyFile = async (rel: string, st: RootStat): Promise<void> => {
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.inoBig}`;
      const first = links.get(key);
      if (first !== undefined) {
        await first.done; // copied by another branch of the walk, maybe still under way
        await dst.link(first.rel, rel);
        return;
      }
      // Set before the first await: a second name met meanwhile waits for this copy.
      const done = copyData(rel, st);
      links.set(key, { rel, done: done.catch(() => undefined) });
      return done;
    }
    return copyData(rel, st);
  };

  const copyData = async (rel: string, st: RootStat): Promise<void> => {
    const from = await src.merged.open(rel, C.O_RDONLY | C.O_NONBLOCK);
    try {
      const to = await dst.open(rel, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
      try {
        // Data (in the kernel), owner, mode, kept xattrs and times in one pool job, between the
        // two files already open: nothing is resolved by path through the container's tree.
        const n = await copyFd(from, to, uid(st), gid(st), st.mode, st.mtimeNs, src.idmap?.base);
        stats.bytes += n; // after the await: `stats.bytes += await …` would add to a stale value
      } finally {
        closeSync(to); // a file of the state dir: a close never waits
      }
    } finally {
      try { closeSync(from); } catch { /* read-only: a failed close loses nothing */ }
    }
    stats.copied++;
  };

  /**
   * The entries of a directory are done CONCURRENCY at a time (each a few calls on the thread
   * pool, which would otherwise wait on one another); a subdirectory is made before its walk
   * starts, so every entry's parent exists when it is made. The names are read in batches from
   * the directory opened through the resolver (its /proc/self/fd/N is that very directory),
   * never whole: a container decides how many there are (docs/security.md §6).
   */
  const walk = async (dir: string, lowerReal: boolean): Promise<void> => {
    const fd = await src.merged.open(dir, C.O_RDONLY | C.O_DIRECTORY);
    try {
      const d = await opendir(`/proc/self/fd/${fd}`, { bufferSize: 128 });
      try {
        const worker = async (): Promise<void> => {
          for (let e = await d.read(); e; e = await d.read()) await one(dir === '' ? e.name : `${dir}/${e.name}`, lowerReal);
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      } finally {
        await d.close().catch(() => undefined); // read-only: a failed close loses nothing
      }
    } finally {
      closeSync(fd);
    }
  };

  const one = async (rel: string, lowerReal: boolean): Promise<void> => {
    const st = await lstatOr(src.merged, rel);
    if (!st) return; // gone since it was listed (a write through the tree's rootfs/)
    switch (st.mode & S_IFMT) {
      case S_IFDIR: {
        await dst.mkdir(rel, 0o700);
        await dst.chown(rel, uid(st), gid(st));
        await dst.chmod(rel, st.mode & 0o7777);
        await xattrs(rel);
        dirTimes.push([rel, st.mtimeNs]);
        counted();
        const low = lowerReal ? await lstatOr(src.lower, rel) : undefined;
        await walk(rel, low !== undefined && (low.mode & S_IFMT) === S_IFDIR);
        break;
      }
      case S_IFREG:
        if (await sharedWith(rel, st, lowerReal)) stats.shared++;
        else await copyFile(rel, st);
        counted();
        break;
      case S_IFLNK:
        await dst.symlink(await src.merged.readlink(rel), rel);
        await dst.chown(rel, uid(st), gid(st));
        await dst.utimens(rel, 'omit', st.mtimeNs);
        counted();
        break;
      case S_IFIFO:
        await dst.mknod(rel, S_IFIFO | 0o600);
        await dst.chown(rel, uid(st), gid(st));
        await dst.chmod(rel, st.mode & 0o7777);
        await dst.utimens(rel, 'omit', st.mtimeNs);
        counted();
        break;
      default:
        // Devices (the runtime makes /dev; an image carries none) and sockets (nothing to copy).
        stats.skipped++;
    }
  };

  const root = await src.merged.lstat('');
  await walk('', true);
  // Directory times last (making their children changed them), deepest first; the root's mode
  // is the store's (0755) as for every image, its owner the container's root.
  for (const [rel, t] of dirTimes.reverse()) await dst.utimens(rel, 'omit', t);
  await dst.chown('', uid(root), gid(root));
  return stats;
}
