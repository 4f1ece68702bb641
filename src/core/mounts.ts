/**
 * Bind mounts from the host (docs/interface.md, containers/NAME/mounts; docs/security.md §9):
 * checked here, attached by drivers/rootfs/bindmount.ts into the container's mount
 * namespace, at create (after the init starts), again when an init is restarted, and live
 * through the table file.
 *
 * The host side is the operator's: symbolic links in a host path are followed, but the real
 * path it ends at may not be, hold or lie under the state dir or the tree's mount (a
 * container must never reach the daemon's state or its own control files), and the tree is
 * never looked into while resolving it (drivers/images/source.ts). The cloned tree's real
 * path is checked again after the clone, so a path changed in between is refused.
 *
 * The container side is the container's: the mount point is made through the confined
 * resolver (never following the container's links out of its root), is refused when the
 * path goes through a symbolic link, and the kernel walk that attaches the mount refuses
 * symbolic links too (RESOLVE_NO_SYMLINKS): a link swapped in after the check fails the
 * attach, it never redirects it.
 */
import { constants as C, promises as fs, close as closeFd } from 'node:fs';
import path from 'node:path';
import { BadRequest, NotFound, Busy, describe, q } from '../errors.js';
import { isErrno } from '../util/files.js';
import { logger } from '../util/log.js';
import { parseBindMount, checkBindMounts } from '../ctl/mount-values.js';
import { formatBindMount, pathWithin, type BindMount } from '../model/mounts.js';
import type { IdRange } from '../model/records.js';
import type { ConfinedRoot } from '../model/rootfs.js';
import { realSource, within, type MountGuard } from '../drivers/images/source.js';
import { openHostTree, attachTree, detachTree, type HostTree } from '../drivers/rootfs/bindmount.js';
import type { Container } from './container.js';
import { saveRecord } from './record.js';

const log = logger('mounts');

/** What the checks of the host side need: the state dir and the tree's own mount. */
export interface MountPolicy {
  stateDir: string;
  guard(): MountGuard | undefined;
}

/** Where a container is, for attaching: its init, its root (confined) and its id range. */
export interface MountTarget {
  pid: number;
  root(): Promise<Pick<ConfinedRoot, 'lstat' | 'mkdir' | 'chown' | 'open'>>;
  idmap?: IdRange;
}

function overlaps(a: string, b: string): boolean {
  return within(a, b) || within(b, a);
}

/** The real host path of `m`, refused when it is, holds or lies under the state dir or the tree. */
export async function checkHost(m: BindMount, policy: MountPolicy): Promise<string> {
  const real = await realSource(m.host, policy.guard(), 'mount');
  checkReal(m, real, policy, await fs.realpath(policy.stateDir));
  return real;
}

function checkReal(m: BindMount, real: string, policy: MountPolicy, stateDir: string): void {
  if (overlaps(real, stateDir)) throw new BadRequest(`cannot mount ${q(m.host)}: it is, holds or lies in the daemon's state dir`);
  if (policy.guard()?.paths.some((p) => overlaps(real, p))) throw new BadRequest(`cannot mount ${q(m.host)}: it is, holds or lies in the tree's own mount`);
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * Make the mount point through the confined resolver: missing directories are made (owned
 * by the container's root), the last component a directory or, for a host file, an empty
 * file. A symbolic link anywhere on the way is refused (the attach would refuse it too).
 */
async function makeMountPoint(t: MountTarget, m: BindMount, dir: boolean): Promise<void> {
  const root = await t.root();
  const parts = m.path.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    const last = i === parts.length;
    let mode: number | undefined;
    try {
      mode = (await root.lstat(rel)).mode & S_IFMT;
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    if (mode === S_IFLNK) throw new BadRequest(`cannot mount at ${q(m.path)}: /${rel} is a symbolic link in the container (give the path without links)`);
    if (mode === undefined) {
      if (last && !dir) {
        const fd = await root.open(rel, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o644);
        await new Promise<void>((res, rej) => closeFd(fd, (e) => (e ? rej(e) : res())));
      } else {
        await root.mkdir(rel, 0o755);
      }
      if (t.idmap) await root.chown(rel, t.idmap.base, t.idmap.base);
      continue;
    }
    if (!last && mode !== S_IFDIR) throw new BadRequest(`cannot mount at ${q(m.path)}: /${rel} is not a directory in the container`);
    if (last && dir !== (mode === S_IFDIR)) {
      throw new BadRequest(`cannot mount ${q(m.host)} at ${q(m.path)}: ${dir ? 'a directory over a file' : 'a file over a directory'}`);
    }
  }
}

/** The kernel's refusals of the attach, said as the table's errors. */
function attachError(m: BindMount, e: unknown): unknown {
  if (isErrno(e, 'ELOOP')) return new BadRequest(`cannot mount at ${q(m.path)}: the path goes through a symbolic link in the container`);
  if (isErrno(e, 'ENOENT', 'ENOTDIR')) return new NotFound(`cannot mount at ${q(m.path)}: no such directory in the container (${describe(e)})`);
  return e;
}

/** Clone, check, make the mount point and attach one mount. */
export async function attachMount(t: MountTarget, m: BindMount, policy: MountPolicy): Promise<void> {
  const real = await checkHost(m, policy);
  let tree: HostTree;
  try {
    tree = await openHostTree(real, m.rw);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) throw new NotFound(`no such file ${q(m.host)}`);
    throw e;
  }
  try {
    // What was cloned must be what was checked: a path swapped in between is refused.
    if (tree.path !== real) throw new Busy(`${q(m.host)} changed while it was being mounted`);
    checkReal(m, tree.path, policy, await fs.realpath(policy.stateDir));
    await makeMountPoint(t, m, tree.dir);
    await attachTree(tree, t.pid, m.path).catch((e: unknown) => { throw attachError(m, e); });
  } finally {
    await tree.close().catch((e: unknown) => log('closing the tree of %s: %s', m.host, e));
  }
}

/** Detach one mount; a path with nothing mounted on it (EINVAL) counts as detached. */
export async function detachMount(t: Pick<MountTarget, 'pid'>, m: BindMount): Promise<void> {
  try {
    await detachTree(t.pid, m.path);
  } catch (e) {
    if (isErrno(e, 'EINVAL', 'ENOENT')) {
      log('%s was not mounted at %s: %s', m.host, m.path, e);
      return;
    }
    throw e;
  }
}

/** Attach every mount of a record (create, a restarted init): the first failure fails the whole. */
export async function attachAll(t: MountTarget, mounts: BindMount[], policy: MountPolicy): Promise<void> {
  for (const m of mounts) await attachMount(t, m, policy);
}

/** One change of a container's mounts at a time (two writers of the table would interleave). */
const queues = new Map<string, Promise<unknown>>();

function serial<T>(key: string, op: () => Promise<T>): Promise<T> {
  const next = (queues.get(key) ?? Promise.resolve()).then(op, op);
  const tail = next.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => { if (queues.get(key) === tail) queues.delete(key); });
  return next;
}

/**
 * The table file's write: the lines are the whole new table. Every line is parsed and every
 * new host path checked before anything changes (a bad line changes nothing). Then the
 * removed mounts are detached (a line stays while its mount could not be detached) and the
 * new ones attached; a failed attach detaches the ones this write attached and fails it.
 * The record holds what is mounted.
 */
export function setMounts(c: Container, lines: string[], policy: MountPolicy): Promise<void> {
  return serial(c.name, async () => {
    try {
      const next = lines.map((l) => parseBindMount(l));
      checkBindMounts(next);
      if (c.state === 'destroying') throw new BadRequest(`container ${q(c.name)} is being destroyed`);
      const cur = c.record.settings.mounts ?? [];
      const same = (a: BindMount, b: BindMount): boolean => formatBindMount(a) === formatBindMount(b);
      const removed = cur.filter((m) => !next.some((n) => same(n, m)));
      const added = next.filter((n) => !cur.some((m) => same(m, n)));
      // A new one may not sit inside a mount that stays (its point would be in host files).
      for (const a of added) {
        const kept = cur.find((m) => !removed.includes(m) && (pathWithin(a.path, m.path) || pathWithin(m.path, a.path)));
        if (kept) throw new BadRequest(`mounts ${JSON.stringify(formatBindMount(a))} and ${JSON.stringify(formatBindMount(kept))} overlap in the container`);
      }
      for (const m of added) await checkHost(m, policy);
      const target: MountTarget = { pid: c.initPid, root: () => c.rootfs(), ...(c.record.idmap ? { idmap: c.record.idmap } : {}) };
      let mounted = [...cur];
      let failure: unknown;
      for (const m of removed) {
        try {
          await detachMount(target, m);
          mounted = mounted.filter((x) => x !== m);
          await c.events.append(`unmounted ${formatBindMount(m)}`);
        } catch (e) {
          failure ??= e;
        }
      }
      const attached: BindMount[] = [];
      if (failure === undefined) {
        for (const m of added) {
          try {
            await attachMount(target, m, policy);
            attached.push(m);
          } catch (e) {
            failure = e;
            for (const a of attached) await detachMount(target, a).catch((de: unknown) => log('undoing %s: %s', formatBindMount(a), de));
            attached.length = 0;
            break;
          }
        }
      }
      if (failure === undefined) mounted = next; // in the order written
      for (const m of attached) await c.events.append(`mounted ${formatBindMount(m)}`);
      if (mounted.length) c.record.settings.mounts = mounted;
      else delete c.record.settings.mounts;
      await saveRecord(c.paths, c.record);
      if (failure !== undefined) throw failure;
    } catch (e) {
      await c.events.error(describe(e));
      throw e;
    }
  });
}

/** The policy of a daemon: its state dir, and the tree's mount once it is known. */
export function mountPolicy(stateDir: string, guard: () => MountGuard | undefined): MountPolicy {
  return { stateDir: path.resolve(stateDir), guard };
}
