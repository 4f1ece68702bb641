/**
 * The benchmark suite of issue 7 ("Speed and scale"): runs every benchmark as a child process
 * (each also runs alone: node dist/scripts/bench/X.js prints its section) and writes
 * docs/performance.md: the machine, one section per figure (table, goal met / not met, the
 * command), then scripts/bench/notes.md verbatim. A benchmark that fails or times out is
 * reported as "failed: reason" and the others still run; each cleans up after itself, and a
 * check for leftovers (mounts, temp dirs) ends the run.
 *   node dist/scripts/bench/all.js [--quick] [--only create,scale,...] [--out FILE]
 * `npm run bench` runs it in full; BENCH_SCALE_N (default 1000, --quick 50) sets the scale.
 */
import { spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { ROOT } from './common.js';

const here = path.dirname(fileURLToPath(import.meta.url));

interface Bench { id: string; n: number; title: string; args: (quick: boolean) => Array<string | number>; timeoutMin: number }

const scaleN = (quick: boolean): number => Number(process.env.BENCH_SCALE_N || (quick ? 50 : 1000));

const BENCHES: Bench[] = [
  { id: 'create', n: 1, title: 'create → ready', args: (q) => [q ? 3 : 15], timeoutMin: 15 },
  { id: 'run-first-byte', n: 2, title: 'run → first byte, run → exit', args: (q) => [q ? 5 : 20], timeoutMin: 10 },
  { id: 'ctlfiles', n: 3, title: 'control files: open+read+close', args: (q) => [q ? 500 : 2000], timeoutMin: 10 },
  { id: 'stdout', n: 4, title: '50 MiB of stdout through procs/ID/stdout', args: (q) => [q ? 2 : 5], timeoutMin: 10 },
  { id: 'rootfs', n: 5, title: 'rootfs/ throughput', args: (q) => [q ? 64 : 512, q ? 1 : 3], timeoutMin: 30 },
  { id: 'scale', n: 6, title: 'scale', args: (q) => [scaleN(q), 8], timeoutMin: 60 },
  { id: 'metadata', n: 7, title: 'metadata: find, ls -lR, du, tar', args: (q) => [q ? 3 : 7], timeoutMin: 15 },
  { id: 'metrics', n: 8, title: 'metrics with many containers', args: (q) => [scaleN(q)], timeoutMin: 30 },
  { id: 'commit', n: 9, title: 'image commit of a 100 MiB layer', args: (q) => [q ? 3 : 7], timeoutMin: 15 },
  { id: 'peers', n: 10, title: 'peers: wardenfs, raw runc, Podman', args: (q) => [q ? 2 : 9], timeoutMin: 20 },
];

interface Outcome { ok: boolean; text: string; seconds: number }

let current: ReturnType<typeof spawn> | undefined;
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted = true;
    console.error(`bench: ${sig}: stopping the running benchmark (it cleans up) and writing nothing`);
    current?.kill('SIGTERM');
  });
}

function runOne(b: Bench, args: Array<string | number>): Promise<Outcome> {
  const script = path.join(here, `${b.id}.js`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    // UV_THREADPOOL_SIZE: room on libuv's pool for the benchmarks' writers at once (8), see scale.ts.
    const env = { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE || '16' };
    const child = spawn(process.execPath, [script, ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, env });
    current = child;
    let out = '';
    let errTail: string[] = [];
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => {
      process.stderr.write(d);
      errTail = errTail.concat(d.toString().split('\n').filter((l) => l.trim())).slice(-20);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`bench: ${b.id} takes longer than ${b.timeoutMin} min: SIGTERM`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 120_000).unref();
    }, b.timeoutMin * 60_000);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      const seconds = (Date.now() - t0) / 1000;
      if (code === 0 && out.trim()) return resolve({ ok: true, text: out.trim(), seconds });
      // The reason: the error's first line (benchMain prints the stack on stderr).
      const errLine = [...errTail].reverse().find((l) => /Error|error:|failed/.test(l) && !l.trimStart().startsWith('at '));
      const reason = timedOut ? `timed out after ${b.timeoutMin} min` : errLine?.trim() ?? `exit ${code ?? signal}`;
      resolve({ ok: false, text: reason, seconds });
    });
  });
}

async function firstLine(file: string, args: string[]): Promise<string> {
  const r = await execa(file, args, { reject: false });
  return (r.stdout || r.stderr || 'unknown').toString().split('\n')[0]!.trim();
}

async function machine(): Promise<string> {
  const cpus = os.cpus();
  return [
    '| machine | |',
    '|---|---|',
    `| cores | ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown'} |`,
    `| kernel | ${(await firstLine('uname', ['-r']))} |`,
    `| memory | ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB |`,
    `| Node | ${process.version} |`,
    `| runc | ${await firstLine('/usr/sbin/runc', ['--version'])} |`,
    `| crun | ${await firstLine('/usr/bin/crun', ['--version'])} |`,
    `| date | ${new Date().toISOString()} |`,
    `| load average at start | ${os.loadavg().map((x) => x.toFixed(2)).join(', ')} |`,
  ].join('\n');
}

/** Anything of ours left on the host: mounts and temp dirs of the benchmarks. */
async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('wfs-bench'));
  for (const m of mounts) found.push(`mount ${m.split(' ')[4]}`);
  for (const name of await fs.readdir(os.tmpdir())) if (name.startsWith('wfs-bench-')) found.push(`temp dir ${path.join(os.tmpdir(), name)}`);
  for (const h of await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    for (const c of await fs.readdir(path.join('/sys/fs/cgroup', h)).catch(() => [] as string[])) {
      if (c.startsWith('wfs-bench-raw-') || c.startsWith('wfs-bench-podman-') || c === 'libpod_parent') found.push(`cgroup ${path.join('/sys/fs/cgroup', h, c)}`);
    }
  }
  return found;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? new Set(argv[onlyAt + 1]?.split(',')) : undefined;
  const outAt = argv.indexOf('--out');
  const outFile = outAt >= 0 ? path.resolve(argv[outAt + 1]!) : path.join(ROOT, 'docs', 'performance.md');

  const header = await machine();
  const sections: string[] = [];
  const summary: string[] = [];
  const t0 = Date.now();
  for (const b of BENCHES) {
    if (only && !only.has(b.id)) continue;
    if (interrupted) break;
    const args = b.args(quick);
    console.error(`bench: === ${b.n}. ${b.title}: node dist/scripts/bench/${b.id}.js ${args.join(' ')}`);
    const r = await runOne(b, args);
    const took = `_(${b.id}: ${r.seconds.toFixed(0)} s)_`;
    if (r.ok) {
      sections.push(`${r.text}\n\n${took}`);
      for (const g of r.text.split('\n').filter((l) => l.startsWith('- Goal:'))) summary.push(`| ${b.n}. ${b.title} | ${g.slice('- Goal: '.length)} |`);
    } else {
      sections.push(`## ${b.n}. ${b.title}\n\n\`node dist/scripts/bench/${b.id}.js ${args.join(' ')}\`\n\nfailed: ${r.text}\n\n${took}`);
      summary.push(`| ${b.n}. ${b.title} | failed: ${r.text} |`);
    }
    console.error(`bench: === ${b.id} ${r.ok ? 'done' : 'FAILED: ' + r.text} in ${r.seconds.toFixed(0)} s`);
  }
  if (interrupted) process.exit(130);

  const left = await leftovers();
  if (left.length) console.error(`bench: leftovers on the host:\n  ${left.join('\n  ')}`);
  const notes = await fs.readFile(path.join(ROOT, 'scripts', 'bench', 'notes.md'), 'utf8').catch(() => '');
  const doc = [
    '# Performance',
    '',
    '<!-- Generated by `npm run bench` (scripts/bench/all.ts); do not edit by hand: findings go in scripts/bench/notes.md. -->',
    '',
    'Figures are ratios against the raw parts measured in the same run on the same machine; each section names the command ' +
      `that reproduces it alone. \`npm run bench\` reproduces them all${quick ? ' (this run: `--quick`, small sizes)' : ''}` +
      ` (${((Date.now() - t0) / 60000).toFixed(1)} min). Absolute numbers on a shared 2-core machine vary by ±20 % between runs; ` +
      'compare ratios within one run.',
    '',
    header,
    '',
    '| figure | goal |',
    '|---|---|',
    ...summary,
    '',
    `Leftovers on the host after the run: ${left.length ? left.join('; ') : 'none'}.`,
    '',
    ...sections.flatMap((s) => [s, '']),
    notes.trim() ? notes.trim() + '\n' : '',
  ].join('\n');
  await fs.mkdir(path.dirname(outFile), { recursive: true });
  await fs.writeFile(outFile, doc);
  console.error(`bench: wrote ${outFile}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
