/**
 * Pure path arithmetic that keeps symlinks inside a container's root when the kernel
 * follows them on the mount. Pure: no I/O.
 */
import path from 'node:path';

/** Split a relative path into components, refusing '..' and '.' (the kernel never sends them). */
export function splitRel(rel: string): string[] {
  return rel.split('/').filter((p) => p !== '' && p !== '.');
}

/**
 * A symlink at `linkRel` (relative to the container's root) pointing at `target`, as
 * the container would resolve it, rewritten as a relative link from the link's directory
 * that cannot climb above the root: absolute targets are taken from the container's
 * root, and '..' stops at the root as it does inside the container.
 */
export function containedLinkTarget(linkRel: string, target: string): string {
  const linkDir = splitRel(linkRel).slice(0, -1);
  const absolute = target.startsWith('/');
  const resolved: string[] = absolute ? [] : [...linkDir];
  let climbed = false;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.length === 0) climbed = true;
      resolved.pop();
    } else {
      resolved.push(part);
    }
  }
  // A relative link that stays inside the root is shown exactly as stored.
  if (!absolute && !climbed) return target;
  const up = linkDir.map(() => '..');
  const rel = path.posix.join(...up, ...resolved);
  const out = rel === '' ? '.' : rel;
  // Keep a trailing slash: it means "must be a directory".
  return target.endsWith('/') && resolved.length > 0 ? out + '/' : out;
}
