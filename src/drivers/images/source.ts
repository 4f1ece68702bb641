/**
 * Where an import source really is, found without ever looking inside the tree's own
 * mount: a source under the mountpoint (or through a link into it) would have the daemon
 * read its own tree, each read holding a libuv pool thread while the request it waits on
 * needs one too — with enough of them, the daemon deadlocks. So the path is resolved by
 * hand, one component at a time, and every path is compared with the mountpoint *before*
 * it is looked at; the device of the source is then compared with the mount's.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BadRequest, NotFound, q } from '../../errors.js';
import { isErrno } from '../../util/files.js';

/** The tree's own mount, which import sources must keep out of. */
export interface MountGuard {
  /** The mountpoint as given and as its real path. */
  paths: string[];
  /** Its st_dev (from mountinfo), when known. */
  dev?: number;
}

export function within(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function refuseUnder(p: string, source: string, guard: MountGuard | undefined, verb: string): void {
  if (guard?.paths.some((m) => within(p, m))) {
    throw new BadRequest(`cannot ${verb} ${q(source)}: it is inside the tree's own mount`);
  }
}

/**
 * The real path of `source` (absolute), refused if it is or leads under the mountpoint, or
 * holds it. `verb` says what for in the errors (`import`, `mount`).
 */
export async function realSource(source: string, guard?: MountGuard, verb = 'import'): Promise<string> {
  const todo = path.resolve(source).split('/').filter(Boolean);
  let cur = '/';
  let links = 0;
  refuseUnder(path.resolve(source), source, guard, verb);
  while (todo.length) {
    const c = todo.shift()!;
    if (c === '.') continue;
    if (c === '..') { cur = path.dirname(cur); continue; }
    const next = path.join(cur, c);
    refuseUnder(next, source, guard, verb);
    let st;
    try {
      st = await fs.lstat(next);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) throw new NotFound(`no such file ${q(source)}`);
      throw e;
    }
    if (st.isSymbolicLink()) {
      if (++links > 40) throw new BadRequest(`cannot ${verb} ${q(source)}: too many levels of symbolic links`);
      const target = await fs.readlink(next);
      todo.unshift(...target.split('/').filter(Boolean));
      if (target.startsWith('/')) cur = '/';
    } else {
      cur = next;
    }
  }
  // A directory that holds the mountpoint would be walked into it.
  if (guard?.paths.some((m) => within(m, cur))) {
    throw new BadRequest(`cannot ${verb} ${q(source)}: it holds the tree's own mount`);
  }
  return cur;
}

/** st_dev of the mount at `mountpoint`, from /proc/self/mountinfo (no stat of the mount itself). */
export async function mountDev(mountpoint: string): Promise<number | undefined> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  let found: number | undefined;
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const mp = (f[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp !== mountpoint) continue;
    const [maj, min] = (f[2] ?? '').split(':').map(Number);
    if (maj === undefined || min === undefined) continue;
    // glibc's makedev, as Node reports st_dev.
    found = (min % 256) + (maj % 4096) * 256 + Math.floor(min / 256) * 2 ** 20 + Math.floor(maj / 4096) * 4096 * 2 ** 32;
  }
  return found;
}
