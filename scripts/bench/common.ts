/** Shared pieces of the benchmarks: a temporary tree, timing, medians. Benchmarks never assert speed. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(here, '../../../bin/wardenfs.js');

export interface BenchTree { mnt: string; state: string; daemon: ChildProcess; close(): Promise<void> }

export async function mountTree(tag: string, args: string[] = []): Promise<BenchTree> {
  const base = mkdtempSync(path.join(os.tmpdir(), `wfs-bench-${tag}-`));
  const mnt = path.join(base, 'mnt');
  const state = path.join(base, 'state');
  const daemon = spawn(process.execPath, [CLI, 'mount', mnt, '--state-dir', state, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    daemon.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    daemon.once('exit', () => reject(new Error('daemon exited')));
  });
  return {
    mnt, state, daemon,
    async close() {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
      await execa(process.execPath, [CLI, 'reset', '--state-dir', state], { reject: false });
      await fs.rm(base, { recursive: true, force: true });
    },
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function ms(ns: bigint): number {
  return Number(ns) / 1e6;
}

export function report(title: string, ours: number[], raw: number[], unit = 'ms'): string {
  const o = median(ours);
  const r = median(raw);
  return `| ${title} | ${o.toFixed(2)} ${unit} | ${r.toFixed(2)} ${unit} | ${(o / r).toFixed(2)}× |`;
}
