/**
 * Figure 4: 50 MiB of stdout streamed through procs/ID/stdout. `head -c 52428800 /dev/zero`
 * (busybox) run in a container; from the `run` write to EOF of a reader of stdout (a Node read
 * loop, 1 MiB buffer, started right after the run's reply), against a raw `runc exec` of the
 * same command in the same container with its stdout piped into this process and discarded.
 *   node dist/scripts/bench/stdout.js [ROUNDS] [BYTES]    (or BENCH_STDOUT_ROUNDS, BENCH_STDOUT_BYTES)
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { benchMain, command, ctl, fmt, goal, median, mountTree, ms, now, numArg, progress } from './common.js';

async function drain(file: string): Promise<number> {
  const fh = await fs.open(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return total;
      total += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/** stdout to /dev/null: the floor (no copy at all); else a pipe read by this process. */
function rawToNull(runtimeRoot: string, name: string, argv: string[]): Promise<number> {
  const t0 = now();
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/sbin/runc', ['--root', runtimeRoot, 'exec', name, ...argv], { stdio: ['ignore', 'ignore', 'ignore'] });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(ms(now() - t0)) : reject(new Error(`runc exec ${argv.join(' ')}: exit ${code}`))));
  });
}

function rawExec(runtimeRoot: string, name: string, argv: string[]): Promise<{ ms: number; bytes: number }> {
  const t0 = now();
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/sbin/runc', ['--root', runtimeRoot, 'exec', name, ...argv], { stdio: ['ignore', 'pipe', 'ignore'] });
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => { bytes += d.length; });
    child.once('error', reject);
    let t = NaN;
    child.stdout.once('end', () => { t = ms(now() - t0); });
    child.once('close', (code) => (code === 0 ? resolve({ ms: t, bytes }) : reject(new Error(`runc exec ${argv.join(' ')}: exit ${code}`))));
  });
}

interface Producer { label: string; argv: string[]; ours: number[]; raw: number[]; rawNull: number[] }

async function main(): Promise<string> {
  const rounds = numArg(2, 'BENCH_STDOUT_ROUNDS', 5);
  const bytes = numArg(3, 'BENCH_STDOUT_BYTES', 50 * 1024 * 1024);
  if (bytes % (1 << 20)) throw new Error('BYTES must be a whole number of MiB');
  // busybox head copies in small blocks and is itself the slowest part; dd bs=1M shows the stream's own cost.
  const producers: Producer[] = [
    { label: `head -c ${bytes} /dev/zero`, argv: ['head', '-c', String(bytes), '/dev/zero'], ours: [], raw: [], rawNull: [] },
    { label: `dd if=/dev/zero bs=1M count=${bytes >> 20}`, argv: ['dd', 'if=/dev/zero', 'bs=1048576', `count=${bytes >> 20}`], ours: [], raw: [], rawNull: [] },
  ];
  const tree = await mountTree('stdout');
  try {
    await fs.writeFile(path.join(tree.mnt, 'ctl'), 'create x net=none\n');
    const c = (...p: string[]) => path.join(tree.mnt, 'containers', 'x', ...p);
    const runtimeRoot = path.join(tree.state, 'runtime');
    const check = await rawExec(runtimeRoot, 'x', ['head', '-c', '10', '/dev/zero']);
    if (check.bytes !== 10) throw new Error(`busybox head -c gave ${check.bytes} bytes, not 10`);
    for (let i = 0; i < rounds; i++) {
      for (const p of producers) {
        const t0 = now();
        const id = await ctl(c('ctl'), `run ${p.argv.join(' ')}`);
        if (!/^\d+$/.test(id)) throw new Error(`run failed: ${id}`);
        const got = await drain(c('procs', id, 'stdout'));
        p.ours.push(ms(now() - t0));
        if (got !== bytes) throw new Error(`read ${got} bytes of stdout, not ${bytes}`);
        await fs.readFile(c('procs', id, 'wait'));
        await fs.rmdir(c('procs', id)); // its output files go with it
        const r = await rawExec(runtimeRoot, 'x', p.argv);
        if (r.bytes !== bytes) throw new Error(`raw runc exec gave ${r.bytes} bytes, not ${bytes}`);
        p.raw.push(r.ms);
        p.rawNull.push(await rawToNull(runtimeRoot, 'x', p.argv));
        progress(`stdout: round ${i + 1}/${rounds}, ${p.argv[0]}: ${fmt(p.ours[i]!, 0)} ms vs ${fmt(r.ms, 0)} ms`);
      }
    }
  } finally {
    await tree.close();
  }
  const mib = bytes / (1 << 20);
  const rate = (t: number) => `${fmt(mib / (t / 1000), 0)} MiB/s`;
  const rows: string[] = [];
  for (const p of producers) {
    const o = median(p.ours);
    const r = median(p.raw);
    const rn = median(p.rawNull);
    rows.push(`| \`${p.label}\`: run → EOF | ${fmt(o)} ms (${rate(o)}) | ${fmt(r)} ms (${rate(r)}; runc exec, pipe into Node) | ${fmt(o / r)}× |`);
    rows.push(`| \`${p.label}\`: same, against stdout on /dev/null | ${fmt(o)} ms | ${fmt(rn)} ms (runc exec > /dev/null) | ${fmt(o / rn)}× |`);
  }
  const head = median(producers[0]!.ours);
  return [
    `## 4. ${fmt(mib, 0)} MiB of stdout through procs/ID/stdout`,
    '',
    `${command('stdout', [rounds, bytes])}: median of ${rounds}. wardenfs: from the \`run\` write to EOF of a ` +
      'Node read loop (1 MiB buffer) on `procs/ID/stdout`, opened as soon as `run` replied; raw: `runc exec` of the same command ' +
      'in the same container, its stdout a pipe read and discarded by Node, until the pipe\'s EOF; and, as the floor, ' +
      'the same `runc exec` with its stdout on /dev/null (no copy at all). Two producers: busybox `head` (the issue\'s), ' +
      'which copies in small blocks, and `dd bs=1M`, which shows the stream\'s own cost.',
    '',
    '| figure | wardenfs | baseline | ratio |',
    '|---|---|---|---|',
    ...rows,
    '',
    goal(`${fmt(mib, 0)} MiB of stdout under 1 s (head)`, head < 1000, `${fmt(head / 1000)} s`),
  ].join('\n') + '\n';
}

benchMain(main);
