/**
 * rootfs/ throughput against the raw parts, in one run: the kernel's own overlay mount of the
 * same container (the floor), and bindfs (Debian's C FUSE passthrough) over that same
 * directory. Sequential write and read of a 512 MiB file, and `cp -r` of 5000 small files in.
 *   node dist/scripts/bench/rootfs.js [MIB]
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { mountTree } from './common.js';

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
  const write = mib / (await timed(() => execa('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${mib}`, 'conv=fsync'])));
  await dropCaches();
  const read = mib / (await timed(() => execa('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'])));
  await fs.rm(file);
  const dest = path.join(dir, 'tmp', 'small');
  const small = await timed(() => execa('cp', ['-r', smallSrc, dest]));
  await execa('rm', ['-rf', dest]);
  return { write, read, small };
}

async function main(): Promise<void> {
  const mib = Number(process.argv[2] ?? 512);
  const tree = await mountTree('rootfs');
  const bind = path.join(path.dirname(tree.state), 'bindfs');
  const smallSrc = path.join(path.dirname(tree.state), 'small-src');
  try {
    await fs.writeFile(path.join(tree.mnt, 'ctl'), 'create bench net=none\n');
    for (let d = 0; d < 50; d++) {
      await fs.mkdir(path.join(smallSrc, `d${d}`), { recursive: true });
      await Promise.all(Array.from({ length: 100 }, (_, f) => fs.writeFile(path.join(smallSrc, `d${d}`, `f${f}`), 'x'.repeat(512))));
    }
    const kernel = path.join(tree.state, 'containers', 'bench', 'rootfs');
    await fs.mkdir(bind, { recursive: true });
    await execa('bindfs', ['--no-allow-other', '-o', 'big_writes', kernel, bind]);
    const results = {
      wardenfs: await measure(path.join(tree.mnt, 'containers', 'bench', 'rootfs'), mib, smallSrc),
      kernel: await measure(kernel, mib, smallSrc),
      bindfs: await measure(bind, mib, smallSrc),
    };
    const w = results.wardenfs;
    console.log(`| through | seq write MiB/s | seq read MiB/s | cp -r 5000 files, s |`);
    console.log('|---|---|---|---|');
    for (const [name, r] of Object.entries(results)) console.log(`| ${name} | ${r.write.toFixed(0)} | ${r.read.toFixed(0)} | ${r.small.toFixed(2)} |`);
    console.log(`| wardenfs / bindfs | ${(w.write / results.bindfs.write).toFixed(2)}× | ${(w.read / results.bindfs.read).toFixed(2)}× | ${(results.bindfs.small / w.small).toFixed(2)}× (speed) |`);
    console.log(`| wardenfs / kernel | ${(w.write / results.kernel.write).toFixed(2)}× | ${(w.read / results.kernel.read).toFixed(2)}× | ${(results.kernel.small / w.small).toFixed(2)}× (speed) |`);
  } finally {
    await execa('fusermount', ['-u', '-z', bind], { reject: false });
    await fs.rm(smallSrc, { recursive: true, force: true });
    await tree.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
