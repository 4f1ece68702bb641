/**
 * The lines of containers/NAME/mounts and the values of `create mount=` (docs/interface.md
 * §5): `HOST:PATH[:ro|:rw]`. Pure: each parser returns a value or throws BadRequest. What
 * the host side allows (the state dir, the tree) is core's check (core/mounts.ts).
 */
import path from 'node:path';
import { BadRequest } from '../errors.js';
import { formatBindMount, pathWithin, type BindMount } from '../model/mounts.js';

/** Where a container's own layer is not: its kernel file systems, which a bind mount must not cover. */
const SYSTEM_DIRS = ['/proc', '/sys', '/dev'];

function checkPath(p: string, what: string, line: string): void {
  if (!p.startsWith('/')) throw new BadRequest(`bad mount ${JSON.stringify(line)}: the ${what} path must be absolute`);
  if (p.split('/').some((c) => c === '..' || c === '.')) throw new BadRequest(`bad mount ${JSON.stringify(line)}: no . or .. in the ${what} path`);
  if (path.posix.normalize(p) !== p || (p.length > 1 && p.endsWith('/'))) {
    throw new BadRequest(`bad mount ${JSON.stringify(line)}: the ${what} path must be normalised (no // or trailing /)`);
  }
  if (/[\0\n]/.test(p)) throw new BadRequest(`bad mount ${JSON.stringify(line)}: the ${what} path holds a NUL or newline`);
  if (Buffer.byteLength(p) > 4000) throw new BadRequest(`bad mount ${JSON.stringify(line)}: the ${what} path is too long`);
}

/** One mount: `HOST:PATH`, `HOST:PATH:ro` or `HOST:PATH:rw` (paths without ':'). */
export function parseBindMount(line: string): BindMount {
  const parts = line.trim().split(':');
  if (parts.length < 2 || parts.length > 3) throw new BadRequest(`bad mount ${JSON.stringify(line)}: want HOST:PATH[:ro|:rw] (no ':' in the paths)`);
  const [host, inside, mode = 'ro'] = parts as [string, string, string?];
  if (mode !== 'ro' && mode !== 'rw') throw new BadRequest(`bad mount ${JSON.stringify(line)}: the mode is ro or rw, not ${JSON.stringify(mode)}`);
  checkPath(host, 'host', line);
  checkPath(inside, 'container', line);
  if (inside === '/') throw new BadRequest(`bad mount ${JSON.stringify(line)}: cannot mount over the container's /`);
  if (SYSTEM_DIRS.some((d) => pathWithin(inside, d))) throw new BadRequest(`bad mount ${JSON.stringify(line)}: not under ${SYSTEM_DIRS.join(', ')} (not the container's own files)`);
  return { host, path: inside, rw: mode === 'rw' };
}

/** A whole table: no two mounts at the same path, none inside another (its mount point would be in the other's host files). */
export function checkBindMounts(mounts: BindMount[]): void {
  for (const [i, a] of mounts.entries()) {
    for (const b of mounts.slice(i + 1)) {
      if (pathWithin(a.path, b.path) || pathWithin(b.path, a.path)) {
        throw new BadRequest(`mounts ${JSON.stringify(formatBindMount(a))} and ${JSON.stringify(formatBindMount(b))} overlap in the container: one path each, none under another`);
      }
    }
  }
}
