/**
 * Metadata through rootfs/ (issue 20.11): `find`, `ls -lR`, `du -s` and `tar c` of a tree of
 * about 6,000 entries (directories, files, symlinks, hard links: the size of Debian's /usr)
 * made in a container, through the tree, through the kernel's overlay mount of the same
 * container (the floor), and through bindfs over that same directory, twice: with its
 * defaults (attributes cached for 1 s) and with wardenfs's freshness (attr_timeout=0).
 *   node dist/scripts/bench/metadata.js [ROUNDS] [PKGS]   (medians; the order rotates each round;
 *   20 × PKGS directories of 19 entries: 25, the default, makes 10,021 entries)
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { benchMain, command, fmt, goal, median, mountTree, numArg, onCleanup, progress } from './common.js';

/** 20 × PKGS directories, each with 16 files (0–4.5 KiB), 2 symlinks (relative, absolute) and a hard link. */
const MAKE_TREE = `
import os, sys
top = sys.argv[1]
for a in range(20):
    for b in range(int(sys.argv[2])):
        d = os.path.join(top, 'lib%02d' % a, 'pkg%02d' % b)
        os.makedirs(d)
        for f in range(16):
            with open(os.path.join(d, 'file%02d.txt' % f), 'w') as fh:
                fh.write('x' * (f * 300))
        os.symlink('file00.txt', os.path.join(d, 'rel-link'))
        os.symlink('/usr/meta/lib%02d/pkg%02d/file01.txt' % (a, b), os.path.join(d, 'abs-link'))
        os.link(os.path.join(d, 'file02.txt'), os.path.join(d, 'hard-link'))
`;

const COMMANDS: Array<{ id: string; title: string; sh: string }> = [
  { id: 'find', title: '`find`', sh: 'find . > /dev/null' },
  { id: 'ls', title: '`ls -lR`', sh: 'ls -lR > /dev/null' },
  { id: 'du', title: '`du -s`', sh: 'du -s > /dev/null' },
  // through a pipe: GNU tar reads nothing when the archive is /dev/null itself
  { id: 'tar', title: '`tar c` (contents read)', sh: 'tar cf - . | cat > /dev/null' },
];

async function timedSh(dir: string, sh: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await execa('sh', ['-c', sh], { cwd: dir, reject: false });
  if (r.exitCode !== 0) throw new Error(`${sh} in ${dir}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<string> {
  const rounds = numArg(2, 'BENCH_METADATA_ROUNDS', 7);
  const pkgs = numArg(3, 'BENCH_METADATA_PKGS', 25);
  const tree = await mountTree('metadata');
  const base = path.dirname(tree.state);
  const bind = path.join(base, 'bindfs');
  const bind0 = path.join(base, 'bindfs0');
  const unbind = onCleanup(() => Promise.all([bind, bind0].map((m) => execa('fusermount', ['-u', '-z', m], { reject: false }))));
  try {
    await fs.writeFile(path.join(tree.mnt, 'ctl'), 'create meta net=none\n');
    const kernel = path.join(tree.state, 'containers', 'meta', 'rootfs');
    await execa('python3', ['-c', MAKE_TREE, path.join(kernel, 'usr', 'meta'), String(pkgs)]);
    const entries = Number((await execa('sh', ['-c', 'find . | wc -l'], { cwd: path.join(kernel, 'usr', 'meta') })).stdout.trim());
    await fs.mkdir(bind, { recursive: true });
    await fs.mkdir(bind0, { recursive: true });
    await execa('bindfs', ['--no-allow-other', kernel, bind]);
    await execa('bindfs', ['--no-allow-other', '-o', 'attr_timeout=0,entry_timeout=1,negative_timeout=0', kernel, bind0]);
    const dirs = {
      wardenfs: path.join(tree.mnt, 'containers', 'meta', 'rootfs', 'usr', 'meta'),
      kernel: path.join(kernel, 'usr', 'meta'),
      bindfs: path.join(bind, 'usr', 'meta'),
      bindfs0: path.join(bind0, 'usr', 'meta'),
    };
    const kinds = Object.keys(dirs) as Array<keyof typeof dirs>;
    const runs: Record<string, Record<string, number[]>> = {};
    for (const k of kinds) runs[k] = Object.fromEntries(COMMANDS.map((c) => [c.id, [] as number[]]));
    for (let r = 0; r < rounds; r++) {
      for (const c of COMMANDS) {
        for (let i = 0; i < kinds.length; i++) {
          const k = kinds[(i + r) % kinds.length]!;
          // Past the entry timeout (1 s): every run starts from names the FUSE mounts forgot.
          await new Promise((res) => setTimeout(res, 1100));
          runs[k]![c.id]!.push(await timedSh(dirs[k], c.sh));
        }
      }
      progress(`metadata: round ${r + 1}/${rounds} done`);
    }
    const med = (k: string, c: string) => median(runs[k]![c]!);
    // Ratios are medians of each round's ratio: the two runs of a round are seconds apart, so a
    // burst of load from elsewhere on the machine weighs on both.
    const ratio = (a: string, b: string, c: string) => median(runs[a]![c]!.map((x, i) => x / runs[b]![c]![i]!));
    const ratios = COMMANDS.map((c) => ratio('wardenfs', 'bindfs', c.id));
    const worst = Math.max(...ratios);
    const names: Record<string, string> = {
      wardenfs: 'wardenfs', kernel: 'kernel overlay', bindfs: 'bindfs (defaults: attributes cached 1 s)',
      bindfs0: 'bindfs, attr_timeout=0 (wardenfs\'s freshness)',
    };
    return [
      '## 7. metadata: find, ls -lR, du, tar',
      '',
      `${command('metadata', [rounds, pkgs])} (needs Debian's \`bindfs\`): medians of ${rounds} rounds (ratios: the median of each round's ratio), the order of the four rotated each round, ` +
        `each run more than 1 s after the last (the FUSE mounts' entry timeout), page cache warm; a tree of ${entries} entries ` +
        `(${20 * pkgs} directories of 16 files of 0–4.5 KiB, a relative and an absolute symlink and a hard link each) made in a container's \`/usr/meta\`; ` +
        'through the tree, through the kernel\'s overlay mount of the same container (the floor), and through bindfs over that same directory.',
      '',
      `| through | ${COMMANDS.map((c) => c.title).join(' | ')} |`,
      `|---|${COMMANDS.map(() => '---').join('|')}|`,
      ...kinds.map((k) => `| ${names[k]} | ${COMMANDS.map((c) => `${med(k, c.id).toFixed(0)} ms`).join(' | ')} |`),
      `| wardenfs / bindfs | ${ratios.map((x) => `${fmt(x)}×`).join(' | ')} |`,
      `| wardenfs / bindfs attr_timeout=0 | ${COMMANDS.map((c) => `${fmt(ratio('wardenfs', 'bindfs0', c.id))}×`).join(' | ')} |`,
      `| wardenfs / kernel | ${COMMANDS.map((c) => `${fmt(ratio('wardenfs', 'kernel', c.id))}×`).join(' | ')} |`,
      '',
      goal('metadata within 3× of bindfs (find, ls -lR, du, tar)', worst <= 3, COMMANDS.map((c, i) => `${c.id} ${fmt(ratios[i]!)}×`).join(', ')),
      // issue 13: find at ≥ 0.8× bindfs's speed, i.e. its time within 1.25× of bindfs's
      goal('`find` at ≥ 0.8× the speed of bindfs (time within 1.25×)', ratios[0]! <= 1.25, `${fmt(1 / ratios[0]!)}× the speed`),
    ].join('\n') + '\n';
  } finally {
    await unbind();
    await tree.close();
  }
}

benchMain(main);
