/**
 * A differential harness for rootfs/ (issue 13.3): the same case — a sequence of file-system
 * operations — runs against the container's own overlay mount (side A, the kernel's answer)
 * and against rootfs/NAME/ of the tree (side B), each in a directory of its own prepared
 * identically; both sides must agree step by step: the result (errno or success, and any
 * value read back) and, for each watched path, its lstat fields (type, mode, nlink, uid, gid,
 * size) and which of its times (atime, mtime, ctime) the step changed.
 *
 * The operations are done by a small C program (test/fixtures/posixops.c, one line a step),
 * spawned as root or — one parameter, `as` — as any uid/gid with any supplementary groups
 * (setpriv). Such a caller need not reach either side by path: the runner gets its base
 * directory (and another container's, for `{O}`) as descriptors opened by root and passed on,
 * so the state dir above the overlay can stay root's.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { PROJECT } from './tree.js';

/** One case: `setup` runs on the overlay for both sides (not compared), then `steps` are compared. */
export interface PosixCase {
  name: string;
  /** Lines run in the case's directory of each side through the overlay before the steps (as root). */
  setup?: string[];
  /** Lines compared; `{O}` stands for the side's other base (another container's dir). */
  steps: string[];
  /** Paths (relative to the case directory) whose stat is taken after every step. */
  watch?: string[];
  /** Compare which times each step changed (the steps are spaced by `tick` ms). */
  times?: boolean;
  /**
   * Documented differences (docs/rootfs.md, "Differences from the overlay"): step index →
   * what the tree's side gives instead (the whole `R ...` line); the test asserts it.
   */
  treeGives?: Record<number, string>;
  /** Documented differences in times: step index → path → the times the tree's step changes ('-': none). */
  treeTimes?: Record<number, Record<string, string>>;
  /** Not run against a container's root inside (a documented difference, asserted by a test of its own). */
  notInside?: string;
  /**
   * Where the steps start (a directory relative to the case directory, made by the setup):
   * the runner is given it as its base, opened by root, and so needs no search permission on
   * the directories above it, as a process whose cwd is there (watched paths are relative to it).
   */
  start?: string;
  /** Paths whose atime is not compared (documented: a symlink's, which the tree reads to stat it). */
  noAtime?: string[];
}

/** A caller: its uid, gid and supplementary groups (none when absent). */
export interface Caller { uid: number; gid: number; groups?: number[] }

export interface Sides {
  /** The container's overlay mount (host path). */
  overlay: string;
  /** The same directory through the tree (rootfs/NAME). */
  tree: string;
  /** Another container's overlay and rootfs/ (for EXDEV), optional. */
  otherOverlay?: string;
  otherTree?: string;
  /** Where case directories live, relative to both roots. */
  dir: string;
  /**
   * Side A run inside the container instead (its root's view: the reference for a container in
   * a user namespace, whose root is not the host's): the setup of both sides runs there too, the
   * case directories are made through the tree, and cases naming another container are skipped.
   */
  inside?: Runner;
}

/** Runs posixops on `base` (a path as the runner sees it) with `lines` on stdin; its stdout. */
export type Runner = (base: string, lines: string[], tick: number) => Promise<string>;

interface StatFields { fixed: string; times: [string, string, string]; ino: string }
interface StepOut { line: string; result: string; watched: Map<string, StatFields | string> }

const TICK_MS = 12;

/** Compile the operation runner once (as test/fixtures/*.c are built by their tests). */
export async function buildOps(outDir: string): Promise<string> {
  const bin = path.join(outDir, 'posixops');
  await execa('gcc', ['-O1', '-Wall', '-o', bin, path.join(PROJECT, 'test/fixtures/posixops.c')]);
  return bin;
}

/** Splits a stat printed by posixops: the six fields that must agree, and the three times. */
function splitStat(words: string[]): StatFields {
  return { fixed: words.slice(0, 6).join(' '), times: [words[6]!, words[7]!, words[8]!], ino: words[9]! };
}

const STAT_OPS = new Set(['stat', 'lstat', 'fstat']);

/** Runs `lines` in `base`; one StepOut per line. `other`: the directory `{O}` names (see OTHER_FD). */
export async function runOps(bin: string, base: string, lines: string[], opts: { tick?: number; as?: Caller; other?: string } = {}): Promise<StepOut[]> {
  return parseOps(await spawnOps(bin, base, lines, opts.tick ?? 0, opts.as, opts.other), base, lines);
}

/** posixops as a host process (as root, or as `as`). */
export function hostRunner(bin: string, as?: Caller): Runner {
  return (base, lines, tick) => spawnOps(bin, base, lines, tick, as);
}

/** For a caller other than root, `{O}` stands for this path: another container's root, passed as fd 4. */
export const OTHER_FD = '/proc/self/fd/4';

async function spawnOps(bin: string, base: string, lines: string[], tick: number, as?: Caller, other?: string): Promise<string> {
  // as another user: root opens the directories, the runner starts in them by descriptor
  // (fd 3; its own /proc/self/fd entries are reachable whatever its ids)
  const fds = as ? [await fs.open(base, 'r'), ...(other ? [await fs.open(other, 'r')] : [])] : [];
  try {
    return await spawnWith(bin, as ? '/proc/self/fd/3' : base, lines, tick, as, fds.map((f) => f.fd));
  } finally {
    for (const f of fds) await f.close();
  }
}

async function spawnWith(bin: string, base: string, lines: string[], tick: number, as: Caller | undefined, fds: number[]): Promise<string> {
  const groups = as?.groups?.length ? [`--groups=${as.groups.join(',')}`] : ['--clear-groups'];
  const child = as
    ? spawn('setpriv', [`--reuid=${as.uid}`, `--regid=${as.gid}`, ...groups, '--', bin, base, String(tick)], { stdio: ['pipe', 'pipe', 'pipe', ...fds] })
    : spawn(bin, [base, String(tick)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  child.stdin!.end(lines.map((l) => l + '\n').join(''));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await exited.finally(() => clearTimeout(timer));
  if (code !== 0) throw new Error(`posixops ${base} exited ${code}: ${err}`);
  return out;
}

function parseOps(out: string, base: string, lines: string[]): StepOut[] {
  const blocks = out.split('\n.\n').filter((b) => b.length > 0);
  if (blocks.length !== lines.length) throw new Error(`posixops ${base}: ${blocks.length} answers for ${lines.length} steps:\n${out}`);
  return blocks.map((block, i) => {
    const [first, ...rest] = block.split('\n');
    const op = lines[i]!.split(' ')[0]!;
    let result = first!;
    if (STAT_OPS.has(op) && result.startsWith('R ok ')) result = 'R ok ' + splitStat(result.slice(5).split(' ')).fixed;
    const watched = new Map<string, StatFields | string>();
    for (const l of rest) {
      const words = l.split(' ');
      watched.set(words[1]!, words[2] === '-' ? words.slice(2).join(' ') : splitStat(words.slice(2)));
    }
    return { line: lines[i]!, result, watched };
  });
}

/**
 * Which of atime, mtime, ctime differ between two snapshots ('' for none, e.g. "mc"); 'new'
 * when the name now holds another file (a rename over it), whose times are its own.
 */
function changed(before: StatFields | string | undefined, after: StatFields | string | undefined): string {
  if (typeof before !== 'object' || typeof after !== 'object') return '';
  if (before.ino !== after.ino) return 'new';
  return 'amc'.split('').filter((_, i) => before.times[i] !== after.times[i]).join('');
}

/** What one step looks like for the comparison: its result, each watched path's fields and changed times. */
function view(steps: StepOut[], i: number, c: PosixCase, long: (p: string) => string, given?: Record<string, string>): string[] {
  const s = steps[i]!;
  const out = [s.result];
  for (const [p, st] of s.watched) {
    const fields = typeof st === 'string' ? st : st.fixed;
    let ch = changed(steps[i - 1]?.watched.get(p), st);
    if (c.noAtime?.includes(p)) ch = ch.replace('a', '');
    if (given?.[p] !== undefined) ch = given[p]!;
    const t = c.times && i > 0 ? ` times:${ch || '-'}` : '';
    out.push(`  ${long(p)}: ${fields}${t}`);
  }
  return out;
}

export interface CaseReport { name: string; diffs: string[]; overlay: string[]; tree: string[] }

/**
 * Runs one case on both sides and returns the differences (empty when they agree), each a
 * readable block: the step, what the overlay gave, what the tree gave.
 */
export async function runCase(bin: string, sides: Sides, c: PosixCase, as?: Caller): Promise<CaseReport> {
  const rel = (side: 'a' | 'b') => path.join(sides.dir, side, c.name);
  const prep = async (side: 'a' | 'b') => {
    const dirOnOverlay = path.join(sides.overlay, rel(side));
    // inside a container: made through the tree, so that they are its root's
    const dir = sides.inside ? path.join(sides.tree, rel(side)) : dirOnOverlay;
    await fs.rm(dirOnOverlay, { recursive: true, force: true });
    await fs.mkdir(dir, { recursive: true, mode: 0o777 });
    await fs.chmod(dir, 0o777);
    if (sides.otherOverlay) {
      const o = path.join(sides.otherOverlay, rel(side));
      await fs.rm(o, { recursive: true, force: true });
      await fs.mkdir(o, { recursive: true, mode: 0o777 });
      await fs.chmod(o, 0o777);
    }
    if (c.setup?.length) {
      const setup = c.setup.map((l) => subst(l, side, true));
      const r = sides.inside
        ? parseOps(await sides.inside('/' + rel(side), setup, 0), rel(side), setup)
        : await runOps(bin, dirOnOverlay, setup);
      const bad = r.filter((s) => !s.result.startsWith('R ok'));
      if (bad.length) throw new Error(`${c.name}: setup failed: ${bad.map((s) => `${s.line} → ${s.result}`).join('; ')}`);
    }
  };
  const otherOf = (side: 'a' | 'b', onOverlay: boolean) => (side === 'a' || onOverlay ? sides.otherOverlay : sides.otherTree);
  const subst = (line: string, side: 'a' | 'b', onOverlay: boolean, viaFd = false): string => {
    const other = otherOf(side, onOverlay);
    return other ? line.replaceAll('{O}', path.join(viaFd ? OTHER_FD : other, rel(side))) : line;
  };
  await prep('a');
  await prep('b');
  const lines = ['watch ' + (c.watch ?? ['.']).join(' '), ...c.steps];
  const opts = { tick: c.times ? TICK_MS : 0, ...(as ? { as } : {}) };
  const linesA = lines.map((l) => subst(l, 'a', true, !!as));
  const linesB = lines.map((l) => subst(l, 'b', false, !!as));
  const otherA = as ? otherOf('a', true) : undefined;
  const otherB = as ? otherOf('b', false) : undefined;
  const [a, b] = await Promise.all([
    sides.inside
      ? sides.inside('/' + rel('a'), linesA, opts.tick).then((out) => parseOps(out, rel('a'), linesA))
      : runOps(bin, path.join(sides.overlay, rel('a'), c.start ?? ''), linesA, { ...opts, ...(otherA ? { other: otherA } : {}) }),
    runOps(bin, path.join(sides.tree, rel('b'), c.start ?? ''), linesB, { ...opts, ...(otherB ? { other: otherB } : {}) }),
  ]);
  const short = (p: string) => (p.length > 60 ? `${p.slice(0, 24)}…(${p.length} bytes)…${p.slice(-24)}` : p);
  const diffs: string[] = [];
  const overlay: string[] = [];
  const tree: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const givenTimes = c.treeTimes?.[i - 1];
    const va = view(a, i, c, short, givenTimes);
    const vb = view(b, i, c, short);
    const known = c.treeGives?.[i - 1] ?? (givenTimes ? va[0] : undefined);
    if (known !== undefined) va[0] = known; // the documented difference is what the tree must give
    const stepName = `step ${i - 1}: ${short(lines[i]!)}`;
    overlay.push(stepName, ...va);
    tree.push(stepName, ...vb);
    if (va.join('\n') !== vb.join('\n')) {
      diffs.push(`${c.name} ${stepName}\n  overlay${known !== undefined ? ' (documented: the tree gives)' : ''}:\n    ${va.join('\n    ')}\n  tree:\n    ${vb.join('\n    ')}`);
    }
  }
  return { name: c.name, diffs, overlay, tree };
}
