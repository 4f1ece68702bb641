/**
 * `image commit` of a 100 MiB container layer (issue 15): 100 files of 1 MiB and 1000 of
 * 4 KiB (random bytes) written by a process of a container in a user namespace, committed
 * through the tree's ctl, against `cp -a` of the same files (the container's upper directory)
 * to the same file system. A commit also walks the original image (the default busybox one,
 * whose files it hard-links) and unshifts owners; `cp -a` does neither.
 *   node dist/scripts/bench/commit.js [ROUNDS]   (medians; the order alternates each round)
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { benchMain, command, ctl, fmt, goal, median, mountTree, numArg, progress } from './common.js';

const MAKE_LAYER = [
  'mkdir -p /layer/big /layer/small',
  'for i in $(seq 1 100); do head -c 1048576 /dev/urandom > /layer/big/$i; done',
  'for i in $(seq 1 1000); do head -c 4096 /dev/urandom > /layer/small/$i; done',
].join(' && ');

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<string> {
  const rounds = numArg(2, 'BENCH_COMMIT_ROUNDS', 7);
  const tree = await mountTree('commit');
  try {
    const g = path.join(tree.mnt, 'ctl');
    await ctl(g, 'create cmt net=none');
    const c = path.join(tree.mnt, 'containers', 'cmt');
    const id = await ctl(path.join(c, 'ctl'), `run -- /bin/sh -c '${MAKE_LAYER}'`);
    const status = await fs.readFile(path.join(c, 'procs', id, 'wait'), 'utf8');
    if (status !== 'exited 0\n') throw new Error(`making the layer: ${status}`);
    const upper = path.join(tree.state, 'containers', 'cmt', 'upper');
    const bytes = Number((await execa('du', ['-sb', upper])).stdout.split('\t')[0]);
    const entries = Number((await execa('sh', ['-c', 'find . | wc -l'], { cwd: upper })).stdout.trim());
    const copies = path.join(tree.state, 'cp-a');
    const commitMs: number[] = [];
    const cpMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const doCommit = async (): Promise<void> => {
        commitMs.push(await timed(() => ctl(g, `image commit cimg${r} cmt`)));
        await ctl(g, `image remove cimg${r}`);
      };
      const doCp = async (): Promise<void> => {
        cpMs.push(await timed(() => execa('cp', ['-a', upper, copies])));
        await fs.rm(copies, { recursive: true, force: true });
      };
      await execa('sync');
      if (r % 2 === 0) { await doCommit(); await execa('sync'); await doCp(); } else { await doCp(); await execa('sync'); await doCommit(); }
      progress(`commit: round ${r + 1}/${rounds}: commit ${commitMs.at(-1)!.toFixed(0)} ms, cp -a ${cpMs.at(-1)!.toFixed(0)} ms`);
    }
    const ratios = commitMs.map((x, i) => x / cpMs[i]!);
    const ratio = median(ratios);
    return [
      '## 8. image commit of a 100 MiB layer',
      '',
      `${command('commit', [rounds])}: medians of ${rounds} rounds (the ratio: the median of each round's ratio), the order alternating, ` +
        `\`sync\` before each; a layer of ${entries} entries, ${(bytes / 2 ** 20).toFixed(1)} MiB (100 files of 1 MiB and 1000 of 4 KiB of random bytes) ` +
        'written by a process of a container in a user namespace (default busybox image); `image commit` through the global ctl (the reply comes when the image is in place), ' +
        'against `cp -a` of the container\'s upper directory to the same file system.',
      '',
      '| | median |',
      '|---|---|',
      `| \`image commit\` | ${median(commitMs).toFixed(0)} ms |`,
      `| \`cp -a\` of the layer | ${median(cpMs).toFixed(0)} ms |`,
      `| commit / cp -a | ${fmt(ratio)}× |`,
      '',
      goal('a commit of a 100 MiB layer within 2× of `cp -a` of the same files', ratio <= 2, `${fmt(ratio)}×`),
    ].join('\n') + '\n';
  } finally {
    await tree.close();
  }
}

benchMain(main);
