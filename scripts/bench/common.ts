/**
 * Shared pieces of the benchmarks: a temporary tree, timing, medians, cleanup that also runs
 * on SIGINT/SIGTERM, and the shape of a section of docs/performance.md. Benchmarks never
 * assert speed; they print a markdown section (heading, command, table, goal met / not met).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, chmodSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(here, '../../../bin/wardenfs.js');
/** The repository's root (dist/scripts/bench/../../..). */
export const ROOT = path.resolve(here, '../../..');

// ---------------------------------------------------------------------------------------------
// Cleanup: every resource a benchmark makes registers its release here, so that an error, a
// SIGINT or a SIGTERM (the runner's timeout) still leaves the host clean.

const cleanups: Array<() => Promise<unknown>> = [];
let signalled = false;

/** Register a release; returns a function that runs it now (once) and unregisters it. */
export function onCleanup(fn: () => Promise<unknown>): () => Promise<void> {
  let done = false;
  const once = async (): Promise<void> => {
    if (done) return;
    done = true;
    const i = cleanups.indexOf(once);
    if (i >= 0) cleanups.splice(i, 1);
    await fn();
  };
  cleanups.push(once);
  return once;
}

async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups[cleanups.length - 1]!;
    await fn().catch((e: unknown) => console.error('bench cleanup:', e));
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (signalled) return;
    signalled = true;
    console.error(`bench: ${sig}, cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  });
}

/**
 * The main of a benchmark run alone: print the section it returns on stdout; on failure print
 * the reason on stderr and exit 1. Cleanups run in both cases.
 */
export function benchMain(fn: () => Promise<string>): void {
  fn().then(
    async (section) => {
      await runCleanups();
      process.stdout.write(section.endsWith('\n') ? section : section + '\n');
      process.exit(0);
    },
    async (e: unknown) => {
      await runCleanups();
      console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
      process.exit(1);
    },
  );
}

// ---------------------------------------------------------------------------------------------
// A tree of its own: temporary mountpoint and state dir.

export interface BenchTree { mnt: string; state: string; base: string; daemon: ChildProcess; close(): Promise<void> }

/** Subnets of the benchmark trees: apart from the tests' 10.201–10.215 and the default 10.88. */
const SUBNETS: Record<string, number> = {
  create: 230, 'create-crun': 231, run: 232, ctlfiles: 233, stdout: 234, rootfs: 235, scale: 236, 'scale-par': 237,
  metadata: 238, metrics: 240, commit: 242, peers: 243,
};

export async function mountTree(tag: string, args: string[] = []): Promise<BenchTree> {
  const base = mkdtempSync(path.join(os.tmpdir(), `wfs-bench-${tag}-`));
  chmodSync(base, 0o711); // containers in a user namespace: their root must pass (docs/operating.md)
  const mnt = path.join(base, 'mnt');
  const state = path.join(base, 'state');
  const subnet = args.includes('--subnet') ? [] : ['--subnet', `10.${SUBNETS[tag] ?? 239}.0.0/16`];
  const daemon = spawn(process.execPath, [CLI, 'mount', mnt, '--state-dir', state, ...subnet, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => {
    if (daemon.exitCode !== null || daemon.signalCode !== null) r();
    else daemon.once('exit', () => r());
  });
  const close = onCleanup(async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      const t = setTimeout(() => daemon.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
    await execa('fusermount', ['-u', '-z', mnt], { reject: false });
    await execa(process.execPath, [CLI, 'reset', '--state-dir', state], { reject: false });
    await fs.rm(base, { recursive: true, force: true });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`daemon of tree ${tag} not ready after 120 s`)), 120_000);
      daemon.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
      void exited.then(() => {
        clearTimeout(t);
        reject(new Error(`daemon of tree ${tag} exited with ${daemon.exitCode ?? daemon.signalCode}`));
      });
    });
  } catch (e) {
    await close();
    throw e;
  }
  return { mnt, state, base, daemon, close };
}

/** Write one ctl message on its own open file and read the reply back (process id, name, ok). */
export async function ctl(file: string, message: string): Promise<string> {
  const fh = await fs.open(file, 'r+');
  try {
    await fh.write(message.endsWith('\n') ? message : message + '\n');
    const buf = Buffer.alloc(256);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString().trim();
  } finally {
    await fh.close();
  }
}

/** VmRSS of a process in MiB. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

// ---------------------------------------------------------------------------------------------
// Numbers and markdown.

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export function ms(ns: bigint): number {
  return Number(ns) / 1e6;
}

export function now(): bigint {
  return process.hrtime.bigint();
}

/** Milliseconds an async function takes. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = now();
  await fn();
  return ms(now() - t0);
}

export function report(title: string, ours: number[], raw: number[], unit = 'ms'): string {
  const o = median(ours);
  const r = median(raw);
  return `| ${title} | ${o.toFixed(2)} ${unit} | ${r.toFixed(2)} ${unit} | ${(o / r).toFixed(2)}× |`;
}

export function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}

/** A goal line: `Goal: TEXT — **met**` / `**not met**`, with the measured value. */
export function goal(text: string, met: boolean, measured: string): string {
  return `- Goal: ${text} — **${met ? 'met' : 'not met'}** (${measured})`;
}

/** The command that reproduces a section, as run from the repository root. */
export function command(script: string, args: Array<string | number>): string {
  return `\`node dist/scripts/bench/${script}.js${args.length ? ' ' + args.join(' ') : ''}\``;
}

/** A numeric CLI argument or environment variable, else the default. */
export function numArg(index: number, env: string, dflt: number): number {
  const v = process.argv[index] ?? process.env[env];
  const n = v === undefined || v === '' ? dflt : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`bad number ${v} (argument ${index - 1} or ${env})`);
  return n;
}

/** Progress on stderr (stdout is the section). */
export function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}
