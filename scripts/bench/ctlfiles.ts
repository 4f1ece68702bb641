/**
 * Figure 3: the cost of a control file. open+read+close of containers/X/cgroup/memory.max,
 * ITERATIONS times in a tight native loop (floor/loop.c, so that no runtime's per-call cost
 * swamps it), against a minimal C libfuse2 filesystem serving one synthetic file of the same
 * size at the same depth with the same mount options (floor/floor.c, multithreaded loop like
 * fuse-native), and, for reference, the kernel's own cgroup file behind it. Both C programs
 * are compiled here with gcc. Three placements: all unpinned; the loop pinned to CPU 0 with
 * the daemons free; loop and daemons (all their threads) pinned to CPU 0.
 *   node dist/scripts/bench/ctlfiles.js [ITERATIONS]     (or BENCH_CTL_ITERATIONS)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { MOUNT_OPTIONS } from '../../src/fs/adapter.js';
import { ROOT, benchMain, command, fmt, goal, median, mountTree, numArg, onCleanup, progress } from './common.js';

const REPEATS = 3;

/**
 * The tree's own mount options, plus direct_io: wardenfs decides direct_io per open, and
 * gives it to every synthetic file, so the floor's one file gets it for the whole mount.
 */
function treeOptions(): string[] {
  return ['direct_io', ...MOUNT_OPTIONS.filter((o) => !/^(fsname|subtype)=/.test(o) && o !== 'direct_io')];
}

async function compile(dir: string): Promise<{ floor: string; loop: string }> {
  const src = path.join(ROOT, 'scripts', 'bench', 'floor');
  const fuse = (await execa('pkg-config', ['--cflags', '--libs', 'fuse'])).stdout.split(/\s+/).filter(Boolean);
  const floor = path.join(dir, 'floor');
  const loop = path.join(dir, 'loop');
  await execa('gcc', ['-O2', '-Wall', '-o', floor, path.join(src, 'floor.c'), ...fuse]);
  await execa('gcc', ['-O2', '-Wall', '-o', loop, path.join(src, 'loop.c')]);
  return { floor, loop };
}

/** The kernel file behind the container's memory.max (v1 memory.limit_in_bytes, or v2 memory.max). */
async function kernelFile(initPid: number): Promise<string> {
  const lines = (await fs.readFile(`/proc/${initPid}/cgroup`, 'utf8')).split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
  if (v1) return path.join('/sys/fs/cgroup/memory', v1.split(':')[2]!, 'memory.limit_in_bytes');
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (!v2) throw new Error(`no memory cgroup for pid ${initPid}`);
  return path.join('/sys/fs/cgroup', v2.slice(3), 'memory.max');
}

async function loopNs(loop: string, file: string, n: number, pin: boolean): Promise<number> {
  const args = [loop, file, String(n), '1'];
  const { stdout } = pin ? await execa('taskset', ['-c', '0', ...args]) : await execa(args[0]!, args.slice(1));
  return Number(stdout.trim());
}

async function setAffinity(pid: number, cpus: string): Promise<void> {
  await execa('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdout: 'ignore' });
}

async function main(): Promise<string> {
  const n = numArg(2, 'BENCH_CTL_ITERATIONS', 2000);
  const work = mkdtempSync(path.join(os.tmpdir(), 'wfs-bench-ctlfiles-'));
  onCleanup(() => fs.rm(work, { recursive: true, force: true }));
  const { floor, loop } = await compile(work);

  const tree = await mountTree('ctlfiles');
  const floorMnt = path.join(work, 'floor-mnt');
  await fs.mkdir(floorMnt);
  // The same options as the tree (src/fs/adapter.ts), bar the names.
  const opts = (treeOptions()).concat('fsname=wfs-bench-floor');
  const floorProc = spawn(floor, [floorMnt, '-f', '-o', opts.join(',')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const floorGone = new Promise<void>((r) => floorProc.once('exit', () => r()));
  const closeFloor = onCleanup(async () => {
    await execa('fusermount', ['-u', '-z', floorMnt], { reject: false });
    if (floorProc.exitCode === null && floorProc.signalCode === null) {
      floorProc.kill('SIGTERM');
      await floorGone;
    }
  });
  const cpus = `0-${os.cpus().length - 1}`;
  const rows: string[] = [];
  let headline = NaN;
  try {
    const mmax = path.join(floorMnt, 'containers', 'x', 'cgroup', 'memory.max');
    for (let i = 0; ; i++) {
      if ((await fs.readFile(mmax, 'utf8').catch(() => '')) === 'max\n') break;
      if (i > 100) throw new Error('the C floor filesystem did not come up');
      await new Promise((r) => setTimeout(r, 50));
    }
    await fs.writeFile(path.join(tree.mnt, 'ctl'), 'create x net=none\n');
    const status = await fs.readFile(path.join(tree.mnt, 'containers', 'x', 'status'), 'utf8');
    const initPid = Number(/^pid: (\d+)$/m.exec(status)?.[1]);
    const files = {
      wardenfs: path.join(tree.mnt, 'containers', 'x', 'cgroup', 'memory.max'),
      floor: mmax,
      kernel: await kernelFile(initPid),
    };
    const placements = [
      { label: 'all unpinned', pinLoop: false, pinDaemons: false },
      { label: 'loop on CPU 0 (taskset -c 0), daemons unpinned', pinLoop: true, pinDaemons: false },
      { label: 'loop and daemons (all threads) on CPU 0', pinLoop: true, pinDaemons: true },
    ];
    for (const p of placements) {
      progress(`ctlfiles: ${p.label}`);
      const pids = [tree.daemon.pid!, floorProc.pid!];
      if (p.pinDaemons) for (const pid of pids) await setAffinity(pid, '0');
      const got: Record<keyof typeof files, number[]> = { wardenfs: [], floor: [], kernel: [] };
      try {
        for (let r = 0; r < REPEATS; r++) {
          for (const k of Object.keys(files) as Array<keyof typeof files>) got[k].push(await loopNs(loop, files[k], n, p.pinLoop));
        }
      } finally {
        if (p.pinDaemons) for (const pid of pids) await setAffinity(pid, cpus).catch(() => undefined);
      }
      const w = median(got.wardenfs) / 1000;
      const f = median(got.floor) / 1000;
      const k = median(got.kernel) / 1000;
      if (Number.isNaN(headline)) headline = w / f;
      rows.push(`| ${p.label} | ${fmt(w, 1)} µs | ${fmt(f, 1)} µs | ${fmt(w / f)}× | ${fmt(k, 1)} µs |`);
    }
  } finally {
    await closeFloor();
    await tree.close();
  }
  return [
    '## 3. control files: open+read+close',
    '',
    `${command('ctlfiles', [n])}: ${n} × open+read+close in a native loop (\`scripts/bench/floor/loop.c\`), median of ${REPEATS} such loops, ` +
      'the three files interleaved. wardenfs: `containers/x/cgroup/memory.max`; C floor: `scripts/bench/floor/floor.c`, libfuse2 high-level API, ' +
      `multithreaded, one file \`/containers/x/cgroup/memory.max\` = "max\\n", mounted with the tree's options (\`${opts.join(',')}\`); ` +
      'kernel: the cgroup file behind it, for reference.',
    '',
    '| placement | wardenfs | C floor | ratio | kernel cgroup file |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    goal('control files within 2× of the C floor (all unpinned)', headline <= 2, `${fmt(headline)}×`),
  ].join('\n') + '\n';
}

benchMain(main);
