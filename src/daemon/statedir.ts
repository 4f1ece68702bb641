/**
 * The state dir is trusted only when it is root's (docs/security.md §5): it holds what
 * the daemon reads back as truth (records, pid files, images used as lower layers) and
 * where it writes as root. If anyone else could write into it or into a directory above
 * it, they could plant links that make the daemon write host files, or forge records.
 *
 * The rule, checked on every directory the path goes through (as the kernel walks it,
 * following symlinks, each of which must be root's too):
 * - owned by root (uid 0);
 * - not writable by group or others — except a sticky directory (mode +t, like /tmp:
 *   1777 root) that is root's, when what the path takes next in it is root's: the
 *   sticky bit keeps others from renaming or deleting an entry they do not own, so the
 *   entry stays root's. The state dir itself may never be group/other-writable, sticky or not.
 * Modes 0700, 0711, 0755 owned by root are all accepted.
 *
 * Inside it, the daemon's own entries must be what they are meant to be — never a
 * symbolic link — before anything is written: `images/`, `containers/`, `runtime/` and
 * what they hold directly, `daemon.pid`, `events`.
 */
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { BadRequest } from '../errors.js';
import { isErrno } from '../util/files.js';

const S_ISVTX = 0o1000;

function describe(p: string, st: Stats): string {
  return `${p} (owner uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`;
}

function refuse(why: string): never {
  throw new BadRequest(`refusing the state dir: ${why}`);
}

/**
 * Check the chain from / to `stateDir`. Components that do not exist yet are fine if the
 * last existing directory is safe to create them in (they will be made by root, 0700).
 * Returns whether the whole path exists.
 */
export async function checkStateDirChain(stateDir: string): Promise<boolean> {
  const todo = path.resolve(stateDir).split('/').filter(Boolean);
  let cur = '/';
  let links = 0;
  let curSt = await fs.lstat('/');
  // A directory is safe to be walked through when root's and not writable by others —
  // or root's and sticky, with the next entry root's (checked when that entry is met).
  const check = (p: string, st: Stats, isStateDir: boolean): void => {
    if (st.uid !== 0) refuse(`${describe(p, st)} is not owned by root`);
    if (st.mode & 0o022) {
      if (isStateDir) refuse(`${describe(p, st)} is writable by group or others`);
      if (!(st.mode & S_ISVTX)) refuse(`${describe(p, st)} is writable by group or others and not sticky`);
    }
  };
  check('/', curSt, false);
  while (todo.length) {
    const c = todo.shift()!;
    if (c === '.') continue;
    if (c === '..') {
      cur = path.dirname(cur);
      curSt = await fs.lstat(cur);
      continue;
    }
    const next = path.join(cur, c);
    let st: Stats;
    try {
      st = await fs.lstat(next);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) {
        // To be made by root in `cur`: `cur` must not let others plant it first unseen —
        // if they do, the check after mkdir sees their entry and refuses.
        return false;
      }
      throw e;
    }
    // In a sticky group/other-writable directory, only a root-owned entry stays put.
    if ((curSt.mode & 0o022) && st.uid !== 0) refuse(`${describe(next, st)} is not owned by root, in the shared directory ${cur}`);
    if (st.isSymbolicLink()) {
      if (st.uid !== 0) refuse(`the symbolic link ${next} is not owned by root`);
      if (++links > 40) refuse(`too many symbolic links in ${stateDir}`);
      const target = await fs.readlink(next);
      todo.unshift(...target.split('/').filter(Boolean));
      if (target.startsWith('/')) {
        cur = '/';
        curSt = await fs.lstat('/');
      }
      continue;
    }
    if (!st.isDirectory()) refuse(`${next} is not a directory`);
    check(next, st, false);
    cur = next;
    curSt = st;
  }
  check(cur, curSt, true);
  return true;
}

/** The daemon's own entries in the state dir are what they are meant to be, never links. */
export async function checkStateEntries(root: string): Promise<void> {
  const kinds: Array<[string, 'dir' | 'file']> = [
    ['images', 'dir'], ['containers', 'dir'], ['runtime', 'dir'], ['daemon.pid', 'file'], ['events', 'file'],
  ];
  for (const [name, kind] of kinds) {
    const p = path.join(root, name);
    let st: Stats;
    try {
      st = await fs.lstat(p);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) continue;
      throw e;
    }
    if (st.isSymbolicLink()) refuse(`${p} is a symbolic link`);
    if (kind === 'dir' ? !st.isDirectory() : !st.isFile()) refuse(`${p} is not a ${kind === 'dir' ? 'directory' : 'regular file'}`);
    if (kind === 'dir' && name !== 'runtime') {
      for (const n of await fs.readdir(p)) {
        const e = await fs.lstat(path.join(p, n)).catch(() => undefined); // gone meanwhile: nothing to check
        if (e?.isSymbolicLink()) refuse(`${path.join(p, n)} is a symbolic link`);
      }
    }
  }
}

/**
 * Both checks, making the state dir (root's, 0700) if it does not exist yet. `reset` asks
 * for the chain only: it removes links without following them, but it kills the processes
 * the state dir's pid files name, so those must be root's word.
 */
export async function trustStateDir(stateDir: string, opts: { entries?: boolean } = {}): Promise<void> {
  if (!(await checkStateDirChain(stateDir))) {
    await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
    if (!(await checkStateDirChain(stateDir))) refuse(`${stateDir} could not be made`);
  }
  if (opts.entries ?? true) await checkStateEntries(stateDir);
}
