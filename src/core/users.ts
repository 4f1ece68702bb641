/**
 * `run user=` as the image knows its users (issue 20): names and defaults come from the
 * container's own /etc/passwd and /etc/group, never the host's, read through the
 * container's confined resolver (drivers/rootfs/smallfile.ts). The lookup rules follow
 * Docker/runc (docs/processes.md, "Users"); `resolveUser` is pure, for the unit tests.
 */
import { BadRequest, q } from '../errors.js';
import type { User } from '../model/records.js';
import type { RootfsResolver } from '../drivers/rootfs/resolver.js';
import { readSmallFile, NotRegular, TooLarge } from '../drivers/rootfs/smallfile.js';

/** Neither file is read past this: a container may make /etc/passwd 10 GB. */
export const ACCOUNT_FILE_MAX = 4 * 1024 * 1024;

export interface PasswdEntry { name: string; uid: number; gid: number; home: string }
export interface GroupEntry { name: string; gid: number; members: string[] }

/** What a process runs as, and the environment that goes with it. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups (OCI `process.user.additionalGids`). */
  additionalGids: number[];
  home: string;
  /** The passwd name, when the user has one: `USER`. */
  name?: string;
}

function id(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xfffffffe ? n : undefined;
}

/** passwd(5) lines; malformed ones are skipped, as glibc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || line.startsWith('#')) continue;
    const uid = id(f[2]);
    const gid = id(f[3]);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]! });
  }
  return out;
}

/** group(5) lines; malformed ones are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || f[0] === '' || line.startsWith('#')) continue;
    const gid = id(f[2]);
    if (gid === undefined) continue;
    out.push({ name: f[0]!, gid, members: f[3]!.split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/**
 * - USER a name: its passwd entry (EINVAL without one); a number: its entry if there is one.
 * - GROUP a name: its group entry (EINVAL without one); a number: as it is. Without GROUP:
 *   the passwd's primary group; a uid without an entry gets gid = uid, not 0 (Docker's 0
 *   would hand an unknown user the root group's files).
 * - Supplementary groups, as initgroups(3) makes them: the primary group, then the groups
 *   of /etc/group that list the user's name; with an explicit GROUP, that group alone.
 * - HOME: the passwd's; without an entry /root for uid 0, else /.
 */
export function resolveUser(spec: User | undefined, passwd: PasswdEntry[], group: GroupEntry[]): ResolvedUser {
  const want = spec?.user ?? 0;
  const entry = typeof want === 'string'
    ? passwd.find((p) => p.name === want)
    : passwd.find((p) => p.uid === want);
  if (typeof want === 'string' && !entry) throw new BadRequest(`no user ${q(want)} in the container's /etc/passwd`);
  const uid = entry?.uid ?? (want as number);
  let gid: number;
  const additionalGids: number[] = [];
  if (spec?.group !== undefined) {
    const g = spec.group;
    if (typeof g === 'string') {
      const ge = group.find((e) => e.name === g);
      if (!ge) throw new BadRequest(`no group ${q(g)} in the container's /etc/group`);
      gid = ge.gid;
    } else {
      gid = g;
    }
  } else {
    gid = entry?.gid ?? uid;
    if (entry) {
      const seen = new Set([gid]);
      for (const ge of group) {
        if (ge.members.includes(entry.name) && !seen.has(ge.gid)) {
          seen.add(ge.gid);
          additionalGids.push(ge.gid);
        }
      }
    }
  }
  additionalGids.unshift(gid);
  const home = entry?.home || (uid === 0 ? '/root' : '/');
  return { uid, gid, additionalGids, home, ...(entry ? { name: entry.name } : {}) };
}

/**
 * One of the container's account files: missing is empty. One that is not a regular file
 * fails every run: runc itself opens it inside the container for each exec, and would wait
 * forever on a FIFO or fail on a directory. Any other trouble (too large, unreadable) fails
 * a run that needs a name from it, and is ignored otherwise.
 */
async function accountFile(root: RootfsResolver, rel: string, needed: boolean): Promise<string> {
  try {
    return (await readSmallFile(root, rel, ACCOUNT_FILE_MAX))?.toString('utf8') ?? '';
  } catch (e) {
    if (!needed && !(e instanceof NotRegular)) return '';
    const why = e instanceof NotRegular || e instanceof TooLarge ? e.message : ((e as NodeJS.ErrnoException).code ?? String(e));
    throw new BadRequest(`cannot read the container's /${rel}: ${why}`);
  }
}

/** The user a run asks for (none: root), looked up in the container's own files. */
export async function lookupUser(root: RootfsResolver, spec: User | undefined): Promise<ResolvedUser> {
  const byName = typeof spec?.user === 'string';
  const groupByName = typeof spec?.group === 'string';
  const passwd = parsePasswd(await accountFile(root, 'etc/passwd', byName));
  const group = parseGroup(await accountFile(root, 'etc/group', groupByName));
  return resolveUser(spec, passwd, group);
}
