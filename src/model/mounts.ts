/**
 * A container's bind mounts (docs/interface.md, containers/NAME/mounts): a host path shown
 * at a path inside the container, read-only unless `rw`. Parsed by ctl/mount-values.ts,
 * attached by core/mounts.ts. Pure: no I/O, no imports.
 */

export interface BindMount {
  /** Absolute, normalised host path (the operator's: symbolic links in it are followed on the host). */
  host: string;
  /** Absolute, normalised path in the container (never `/`, never under /proc, /sys or /dev). */
  path: string;
  rw: boolean;
}

/** The canonical line, which parses back to the same mount: `/srv/data:/data:ro`. */
export function formatBindMount(m: BindMount): string {
  return `${m.host}:${m.path}:${m.rw ? 'rw' : 'ro'}`;
}

/** Whether `a` is `b` or under it (paths already normalised). */
export function pathWithin(a: string, b: string): boolean {
  return a === b || b === '/' || a.startsWith(b + '/');
}
