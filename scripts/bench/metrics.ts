/**
 * Figure 8: metrics with many containers. N containers (net=none) made by 8 writers at once in
 * one tree, then `metrics` read: in the process (open + read to EOF + close, median of 11) and as
 * `cat metrics > /dev/null` (a spawned program, median of 5), against the floor: the same five
 * cgroup files per container read straight from the host's hierarchy, plus /proc/net/dev once
 * (what the daemon itself reads, without FUSE, text making or the registry).
 *   node dist/scripts/bench/metrics.js [N]      (or BENCH_METRICS_N; default 1000)
 */
import { spawn } from 'node:child_process';
import { openSync, readSync, closeSync, readdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { benchMain, command, fmt, goal, median, mountTree, numArg, progress, timeMs } from './common.js';
import { detectCgroupHost } from '../../src/drivers/cgroups/host.js';
import { instanceId, cgroupsPathFor } from '../../src/drivers/cgroups/hierarchy.js';

const WRITERS = 8;

function sh(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script}: exit ${code}`))));
  });
}

async function medianOf(times: number, fn: () => Promise<unknown>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < times; i++) xs.push(await timeMs(fn));
  return median(xs);
}

/** The host files the daemon reads for one container's metrics (v1 or v2 names). */
async function rawFiles(stateDir: string, names: string[]): Promise<string[]> {
  const host = await detectCgroupHost();
  const inst = instanceId(stateDir);
  return names.flatMap((n) => {
    const p = cgroupsPathFor(inst, n);
    if (host.version === 2) return ['cpu.stat', 'memory.current', 'memory.peak', 'pids.current', 'memory.events'].map((f) => path.join(host.root, p, f));
    return [
      path.join(host.cpuacct, p, 'cpuacct.usage'), path.join(host.memory, p, 'memory.usage_in_bytes'),
      path.join(host.memory, p, 'memory.max_usage_in_bytes'), path.join(host.pids, p, 'pids.current'),
      path.join(host.memory, p, 'memory.oom_control'),
    ];
  });
}

/** Read a kernel file whole the cheapest way from JavaScript: open, read into one buffer, close (no fstat). */
const buf = Buffer.alloc(64 * 1024);
function readRaw(file: string): void {
  const fd = openSync(file, 'r');
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0) { /* to EOF */ }
  } finally {
    closeSync(fd);
  }
}

async function main(): Promise<string> {
  const n = numArg(2, 'BENCH_METRICS_N', 1000);
  const tree = await mountTree('metrics');
  try {
    const ctlFile = path.join(tree.mnt, 'ctl');
    let next = 1;
    let made = 0;
    progress(`metrics: creating ${n} containers, ${WRITERS} writers`);
    const createS = await timeMs(() => Promise.all(Array.from({ length: WRITERS }, async () => {
      while (next <= n) {
        const i = next++;
        await fs.writeFile(ctlFile, `create m${i} net=none\n`);
        if (++made % 100 === 0) progress(`metrics: ${made}/${n}`);
      }
    }))) / 1000;
    const names = readdirSync(path.join(tree.mnt, 'containers'));
    if (names.length !== n) throw new Error(`containers/ lists ${names.length}, not ${n}`);
    const metricsFile = path.join(tree.mnt, 'metrics');
    const text = await fs.readFile(metricsFile, 'utf8');
    const samples = text.split('\n').filter((l) => l.startsWith('wardenfs_container_pids{')).length;
    if (samples !== n) throw new Error(`metrics has ${samples} pids samples, not ${n}`);
    progress('metrics: reading');
    const files = await rawFiles(tree.state, names);
    const raw = await medianOf(11, async () => {
      for (const f of files) readRaw(f);
      readRaw('/proc/net/dev');
    });
    const ours = await medianOf(11, () => fs.readFile(metricsFile));
    const cat = await medianOf(5, () => sh(`cat ${metricsFile} > /dev/null`));
    const one = await medianOf(11, () => fs.readFile(path.join(tree.mnt, 'containers', names[0]!, 'metrics')));
    progress('metrics: destroying');
    const left = [...names];
    await Promise.all(Array.from({ length: WRITERS }, async () => {
      for (let name = left.pop(); name !== undefined; name = left.pop()) await fs.writeFile(ctlFile, `destroy ${name}\n`);
    }));
    return [
      `## 8. metrics: ${n} containers`,
      '',
      `${command('metrics', [n])}: ${n} containers (net=none) made by ${WRITERS} writers at once (${fmt(createS, 1)} s); ` +
        `\`metrics\` read whole (${fmt(Buffer.byteLength(text) / 1024, 0)} KiB), medians; the floor reads the ${files.length} cgroup files ` +
        'the daemon reads, straight from the host\'s hierarchy (open, read, close each), and /proc/net/dev once, in one process.',
      '',
      '| read | wardenfs | floor: the raw files | ratio |',
      '|---|---|---|---|',
      `| \`metrics\`, ${n} containers (open, read to EOF, close) | ${fmt(ours)} ms | ${fmt(raw)} ms | ${fmt(ours / raw)}× |`,
      `| \`cat metrics > /dev/null\` (a spawned program) | ${fmt(cat)} ms | | |`,
      `| \`containers/NAME/metrics\`, one container | ${fmt(one)} ms | | |`,
      '',
      goal(`one read of \`metrics\` with ${n} containers < 200 ms`, ours < 200 && cat < 200, `${fmt(ours)} ms; cat ${fmt(cat)} ms`),
    ].join('\n');
  } finally {
    await tree.close();
  }
}

benchMain(main);
