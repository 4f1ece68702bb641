/**
 * Each test tree's own subnet 10.N.K.0/24, with no table to edit: test files run in
 * parallel (and so do checkouts in other git worktrees), and two bridges with one subnet
 * would fight over the host's route to it.
 *
 * K is WARDENFS_TEST_NET's third octet (one per checkout). N is derived from the tree's
 * tag (the same tag gets the same N from run to run, unless it is taken) and claimed
 * host-wide with a file CLAIMS/N.K made with O_EXCL, holding "PID OWNER"; the next N is
 * tried when it is taken. A claim is released at the tree's cleanup; one whose process is
 * gone (a test run killed) is stale and taken over. An N whose 10.N.K. addresses are on a
 * host interface already (a daemon left running, a checkout that still uses fixed
 * numbers) is skipped too.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, linkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

/**
 * The third octet of every test subnet, 0 unless WARDENFS_TEST_NET says otherwise: two
 * checkouts running the same test file at once on one machine (parallel work in git
 * worktrees) must not both put 10.N.0.0/24 on a bridge.
 */
export const SUBNET_THIRD = Number(process.env.WARDENFS_TEST_NET ?? 0) & 255;

/** Where the claims are kept (emptied at boot, as the bridges are gone then too). */
export const CLAIMS = '/run/wardenfs-test/subnets';

/** The second octets handed out: 10.200.K.0/24 … 10.254.K.0/24. */
export const FIRST = 200;
export const LAST = 254;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

/** Whether some host interface has an address in 10.n.K.0/24. */
function onHost(n: number): boolean {
  const prefix = `10.${n}.${SUBNET_THIRD}.`;
  return Object.values(os.networkInterfaces()).some((addrs) => addrs?.some((a) => a.address.startsWith(prefix)));
}

/** The preferred N of a tag: the same from run to run. */
export function preferred(tag: string): number {
  return FIRST + (createHash('sha256').update(tag).digest().readUInt32BE(0) % (LAST - FIRST + 1));
}

function file(n: number, dir: string): string {
  return path.join(dir, `${n}.${SUBNET_THIRD}`);
}

function tryCreate(f: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(f, 'wx', 0o644);
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Take over a stale claim: move it aside under a name of our own (one process wins the
 * rename), then check that what was moved is the stale claim judged; a live claim that
 * replaced it meanwhile is put back.
 */
function takeOver(f: string, stale: string): void {
  const aside = `${f}.stale-${process.pid}`;
  try {
    renameSync(f, aside);
  } catch (e) {
    if (errno(e) === 'ENOENT') return; // taken over by another process: try again
    throw e;
  }
  const moved = readFileSync(aside, 'utf8');
  if (moved !== stale) {
    try {
      linkSync(aside, f);
    } catch { /* a third claim came meanwhile: the moved one is lost (a run that races twice on one stale claim) */ }
  }
  rmSync(aside, { force: true });
}

/** Claim a second octet for `tag`; `owner` tells this claim from another of the same process. */
export function claimSubnet(tag: string, owner: string, dir = CLAIMS): number {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const text = `${process.pid} ${owner}`;
  const span = LAST - FIRST + 1;
  const start = preferred(tag) - FIRST;
  for (let k = 0; k < span; k++) {
    const n = FIRST + ((start + k) % span);
    if (onHost(n)) continue;
    const f = file(n, dir);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (tryCreate(f, text)) return n;
      let held: string;
      try {
        held = readFileSync(f, 'utf8');
      } catch (e) {
        if (errno(e) === 'ENOENT') continue; // released meanwhile
        throw e;
      }
      const pid = Number(held.split(' ')[0]);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) break; // held: the next N
      takeOver(f, held);
    }
  }
  throw new Error(`no free test subnet 10.${FIRST}-${LAST}.${SUBNET_THIRD}.0/24 (claims in ${dir})`);
}

/** Release a claim of `owner` (made by this process); another's is left alone. */
export function releaseSubnet(n: number, owner: string, dir = CLAIMS): void {
  const f = file(n, dir);
  try {
    if (readFileSync(f, 'utf8') === `${process.pid} ${owner}`) rmSync(f, { force: true });
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
  }
}
