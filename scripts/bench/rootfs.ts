/**
 * rootfs/ throughput against the raw parts, in one run: the kernel's own overlay mount of the
 * same container (the floor), and bindfs (Debian's C FUSE passthrough) over that same
 * directory. Sequential write and read of a 512 MiB file, and `cp -r` of 5000 small files in.
 *   node dist/scripts/bench/rootfs.js [MIB] [ROUNDS]   (medians; the order rotates each round)
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { benchMain, command, fmt, goal, median, mountTree, numArg, onCleanup, progress } from './common.js';

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function dropCaches(): Promise<void> {
  await execa('sync');
  await fs.writeFile('/proc/sys/vm/drop_caches', '3').catch(() => undefined);
}

async function measure(dir: string, mib: number, smallSrc: string): Promise<{ write: number; read: number; small: number }> {
  const file = path.join(dir, 'tmp', 'bench.bin');
  await dropCaches(); // nobody's dirty pages are written back during someone else's turn
  const write = mib / (await timed(() => execa('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${mib}`, 'conv=fsync'])));
  await dropCaches();
  const read = mib / (await timed(() => execa('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'])));
  await fs.rm(file);
  const dest = path.join(dir, 'tmp', 'small');
  await dropCaches();
  const small = await timed(() => execa('cp', ['-r', smallSrc, dest]));
  await execa('rm', ['-rf', dest]);
  return { write, read, small };
}

async function main(): Promise<string> {
  const mib = numArg(2, 'BENCH_ROOTFS_MIB', 512);
  const rounds = numArg(3, 'BENCH_ROOTFS_ROUNDS', 3);
  const tree = await mountTree('rootfs');
  const bind = path.join(path.dirname(tree.state), 'bindfs');
  const smallSrc = path.join(path.dirname(tree.state), 'small-src');
  const unbind = onCleanup(() => execa('fusermount', ['-u', '-z', bind], { reject: false }));
  try {
    await fs.writeFile(path.join(tree.mnt, 'ctl'), 'create bench net=none\n');
    for (let d = 0; d < 50; d++) {
      await fs.mkdir(path.join(smallSrc, `d${d}`), { recursive: true });
      await Promise.all(Array.from({ length: 100 }, (_, f) => fs.writeFile(path.join(smallSrc, `d${d}`, `f${f}`), 'x'.repeat(512))));
    }
    const kernel = path.join(tree.state, 'containers', 'bench', 'rootfs');
    await fs.mkdir(bind, { recursive: true });
    await execa('bindfs', ['--no-allow-other', '-o', 'big_writes', kernel, bind]);
    // Several rounds, the order rotated each round (the first to write after the set-up pays
    // for its write-back otherwise); medians per figure.
    const dirs = { wardenfs: path.join(tree.mnt, 'rootfs', 'bench'), kernel, bindfs: bind };
    const kinds = Object.keys(dirs) as Array<keyof typeof dirs>;
    const runs: Record<string, Array<{ write: number; read: number; small: number }>> = { wardenfs: [], kernel: [], bindfs: [] };
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < kinds.length; i++) {
        const k = kinds[(i + r) % kinds.length]!;
        progress(`rootfs: round ${r + 1}/${rounds}: ${k}`);
        runs[k]!.push(await measure(dirs[k], mib, smallSrc));
      }
    }
    const med = (k: string) => ({
      write: median(runs[k]!.map((x) => x.write)), read: median(runs[k]!.map((x) => x.read)), small: median(runs[k]!.map((x) => x.small)),
    });
    const results = { wardenfs: med('wardenfs'), kernel: med('kernel'), bindfs: med('bindfs') };
    const w = results.wardenfs;
    const wr = w.write / results.bindfs.write;
    const rd = w.read / results.bindfs.read;
    const cp = results.bindfs.small / w.small;
    const names: Record<string, string> = { wardenfs: 'wardenfs', kernel: 'kernel overlay', bindfs: 'bindfs over the same dir' };
    return [
      '## 5. rootfs/ throughput',
      '',
      `${command('rootfs', [mib, rounds])} (needs Debian's \`bindfs\`): medians of ${rounds} rounds, the order of the three rotated each round; \`dd\` write (conv=fsync) and read of a ${mib} MiB file ` +
        'in the container\'s /tmp, and `cp -r` of 5000 small files in, with `sync` and the page cache dropped before each; through the tree, ' +
        'through the kernel\'s overlay mount of the same container (the floor), and through bindfs (`-o big_writes`) over that same directory.',
      '',
      '| through | seq write MiB/s | seq read MiB/s | cp -r 5000 files, s |',
      '|---|---|---|---|',
      ...Object.entries(results).map(([name, r]) => `| ${names[name] ?? name} | ${r.write.toFixed(0)} | ${r.read.toFixed(0)} | ${r.small.toFixed(2)} |`),
      `| wardenfs / bindfs | ${fmt(wr)}× | ${fmt(rd)}× | ${fmt(cp)}× (speed) |`,
      `| wardenfs / kernel | ${fmt(w.write / results.kernel.write)}× | ${fmt(w.read / results.kernel.read)}× | ${fmt(results.kernel.small / w.small)}× (speed) |`,
      '',
      goal('rootfs ≥ 1.0× bindfs on seq read and write (issue 13)', wr >= 1 && rd >= 1, `write ${fmt(wr)}×, read ${fmt(rd)}×`),
      goal('`cp -r` of 5000 small files ≥ 0.8× the speed of bindfs (issue 13)', cp >= 0.8, `${fmt(cp)}×`),
    ].join('\n') + '\n';
  } finally {
    await unbind();
    await fs.rm(smallSrc, { recursive: true, force: true });
    await tree.close();
  }
}

benchMain(main);
