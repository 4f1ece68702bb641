/**
 * How a container's symlink is presented to the host kernel, which follows it itself on
 * the mount (issue 11.1; docs/security.md, "1. Symlinks seen from the host").
 *
 * The kernel resolves a link's text from the link's own directory, and each '..' in it
 * physically, after following the links before it. So a textual check of the target is not
 * enough: with `r -> /` and `x -> r/../../../../etc/shadow`, the text stays inside, but the
 * kernel, having followed r to the top of rootfs/, climbs out of it. What is presented is
 * therefore always of the form
 *
 *     '../' × k  +  names        (k ≤ the depth of the link's directory under rootfs/;
 *                                 names: no '..')
 *
 * The leading '..' climb, physically, from the link's own directory (its path in the mount
 * is real directories), so they end inside rootfs/; the names only descend; any of them
 * that is a symlink is presented the same way when the kernel reaches it. By induction on
 * the links followed, the walk ends inside the same container's rootfs/ or fails.
 *
 * A stored target of that form is presented exactly as stored (most relative links:
 * `busybox`, `../lib/x.so`). An absolute target without '..' is the climb to rootfs/ plus
 * its names. Anything else is resolved in the container's root (openat2 RESOLVE_IN_ROOT,
 * as the container itself resolves it) up to and including its last '..'; the kernel's name
 * of what that reached, inside the root, is presented, followed by the remaining names.
 * Pure: the resolution is passed in.
 */

import { NameTooLong } from '../../errors.js';

/** Split a relative path into components, dropping '' and '.' (the kernel never sends them). */
export function splitRel(rel: string): string[] {
  return rel.split('/').filter((p) => p !== '' && p !== '.');
}

/** What the root resolver gives: the in-root path of the longest prefix of `parts` that
 *  exists ('' for the root itself), and how many components that prefix had. */
export interface Resolved {
  path: string;
  consumed: number;
}

export type ResolveInRoot = (parts: string[]) => Promise<Resolved>;

/** How a link must be presented: its text is known already, or a prefix must be resolved. */
export type LinkPlan =
  | { text: string }
  | { depth: number; resolve: string[]; tail: string[]; slash: boolean };

function climb(depth: number, names: string[], slash: boolean): string {
  const out = [...Array<string>(depth).fill('..'), ...names].join('/');
  if (out === '') return '.';
  return slash && names.length > 0 ? out + '/' : out;
}

/** Decides, from the text alone, whether a link needs resolving (see the header). */
export function linkPlan(linkRel: string, target: string): LinkPlan {
  const dir = splitRel(linkRel).slice(0, -1);
  const depth = dir.length;
  const absolute = target.startsWith('/');
  // A trailing '/' (or '/.') means "must be a directory": kept on what is presented.
  const slash = /\/\.?$/.test(target) && target !== '/';
  let parts = splitRel(target);
  let lead = 0;
  while (lead < parts.length && parts[lead] === '..') lead++;
  if (absolute) {
    // '..' at the root stays at the root: leading ones mean nothing.
    parts = parts.slice(lead);
    lead = 0;
  }
  const last = parts.lastIndexOf('..');
  if (last < lead) {
    if (!absolute && lead <= depth) return { text: target };
    if (absolute) return { text: climb(depth, parts, slash) };
  }
  const whole = absolute ? parts : [...dir, ...parts];
  const cut = (absolute ? 0 : depth) + last + 1;
  return { depth, resolve: whole.slice(0, cut), tail: whole.slice(cut), slash };
}

/** The text to present, once the plan's prefix is resolved in the root. */
export function presentResolved(plan: Exclude<LinkPlan, { text: string }>, r: Resolved): string {
  const base = r.path === '' ? [] : r.path.split('/');
  const rest = plan.resolve.slice(r.consumed);
  if (rest.length === 0) return climb(plan.depth, [...base, ...plan.tail], plan.slash);
  // The prefix does not exist past `consumed`: the link dangles inside the container too.
  // Present the part up to its first '..', which dangles the same way; when nothing is
  // left (a '..' right after a file), a trailing '/' makes it fail (ENOTDIR) as inside.
  const dotdot = rest.indexOf('..');
  const kept = dotdot < 0 ? rest : rest.slice(0, dotdot);
  if (kept.length === 0) return climb(plan.depth, base, true);
  return climb(plan.depth, [...base, ...kept], false);
}

/** libfuse2 reads a link's text into PATH_MAX + 1 bytes and cuts what is longer. */
const LINK_MAX = 4095;

/**
 * The presented text of a link at `linkRel` (relative to the root) holding `target`.
 * ENAMETOOLONG when that text would not fit what libfuse passes on (deep links to deep
 * places): cut, it would name something else.
 */
export async function containedLinkTarget(linkRel: string, target: string, resolve: ResolveInRoot): Promise<string> {
  const plan = linkPlan(linkRel, target);
  const text = 'text' in plan ? plan.text : presentResolved(plan, await resolve(plan.resolve));
  if (Buffer.byteLength(text) > LINK_MAX) {
    throw new NameTooLong('the link\'s text as presented is too long');
  }
  return text;
}
