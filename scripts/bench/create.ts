/**
 * Figure 1: create → ready. `echo "create X net=none" > ctl` returning, against the raw parts
 * measured in the same run: a kernel overlay mount (lower = the same busybox image dir in the
 * state dir, fresh upper/work) plus `runc run --detach` of catatonit -P with a config.json
 * written here (raw.ts). Also net=bridge, wardenfs on crun, and the same raw baseline with
 * crun, so that the choice of runtime rests on data. Medians of ROUNDS rounds, the kinds
 * interleaved within each round; every container is destroyed right after it is measured.
 *   node dist/scripts/bench/create.js [ROUNDS]      (or BENCH_CREATE_ROUNDS)
 */
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchMain, command, fmt, goal, median, mountTree, numArg, onCleanup, progress, timeMs, type BenchTree } from './common.js';
import { RawRuntime, tryRuntime } from './raw.js';

const RUNC = '/usr/sbin/runc';
const CRUN = '/usr/bin/crun';

interface Kind { label: string; create(i: number): Promise<number>; destroy(i: number): Promise<number> }

function treeKind(label: string, tree: BenchTree, prefix: string, opts: string): Kind {
  const ctlFile = path.join(tree.mnt, 'ctl');
  return {
    label,
    create: (i) => timeMs(() => fs.writeFile(ctlFile, `create ${prefix}${i} ${opts}\n`)),
    destroy: (i) => timeMs(() => fs.writeFile(ctlFile, `destroy ${prefix}${i}\n`)),
  };
}

function rawKind(label: string, raw: RawRuntime, prefix: string): Kind {
  return { label, create: (i) => raw.create(`${prefix}${i}`), destroy: (i) => raw.remove(`${prefix}${i}`) };
}

async function main(): Promise<string> {
  const rounds = numArg(2, 'BENCH_CREATE_ROUNDS', 15);
  const notes: string[] = [];
  progress(`create: mounting trees (${rounds} rounds)`);
  const tree = await mountTree('create');
  const lower = path.join(tree.state, 'images', 'busybox', 'rootfs');
  let treeCrun: BenchTree | undefined;
  try {
    treeCrun = await mountTree('create-crun', ['--runtime', 'crun']);
  } catch (e) {
    notes.push(`wardenfs on crun failed to mount: ${(e as Error).message}`);
  }

  // crun refuses a hybrid cgroup host whose v2 mount has controllers; wardenfs then runs it
  // through a wrapper that hides that mount (src/drivers/runtime/crun-hybrid.ts). Same here.
  let crun = CRUN;
  const plainCrun = await tryRuntime(CRUN, lower);
  if (plainCrun) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wfs-bench-crunwrap-'));
    onCleanup(() => fs.rm(dir, { recursive: true, force: true }));
    const hybrid = '../../src/drivers/runtime/crun-hybrid.js'; // not a static import: src/ changes under us
    const { crunForHost } = (await import(hybrid)) as { crunForHost(crun: string, dir: string): Promise<string> };
    crun = await crunForHost(CRUN, dir);
    notes.push(`plain crun refuses this host (\`${plainCrun.trim()}\`); crun (raw and in wardenfs) runs through wardenfs's hybrid-host wrapper (\`unshare --mount\` + \`sh\` + \`umount -l\` of the v2 mount, then exec crun), which costs a few ms of its own`);
  }
  const rawRunc = new RawRuntime('runc', RUNC, lower);
  const rawCrun = new RawRuntime('crun', crun, lower);

  const kinds: Kind[] = [
    treeKind('wardenfs none', tree, 'n', 'net=none'),
    rawKind('raw runc', rawRunc, 'r'),
    treeKind('wardenfs bridge', tree, 'b', 'net=bridge'),
    rawKind('raw crun', rawCrun, 'c'),
  ];
  if (treeCrun) kinds.push(treeKind('wardenfs crun', treeCrun, 'n', 'net=none'));

  const created = new Map<string, number[]>(kinds.map((k) => [k.label, []]));
  const destroyed = new Map<string, number[]>(kinds.map((k) => [k.label, []]));
  try {
    // One warm-up of each (first image use, JIT, bridge set-up), not counted.
    for (const k of kinds) {
      await k.create(0);
      await k.destroy(0);
    }
    for (let i = 1; i <= rounds; i++) {
      // Rotate the order so that no kind always follows the same other kind.
      for (let j = 0; j < kinds.length; j++) {
        const k = kinds[(i + j) % kinds.length]!;
        created.get(k.label)!.push(await k.create(i));
        destroyed.get(k.label)!.push(await k.destroy(i));
      }
      progress(`create: round ${i}/${rounds}`);
    }
  } finally {
    await rawRunc.close();
    await rawCrun.close();
    await treeCrun?.close();
    await tree.close();
  }

  const c = (l: string) => median(created.get(l) ?? []);
  const d = (l: string) => median(destroyed.get(l) ?? []);
  const row = (title: string, ours: number, base: number, baseName: string) =>
    `| ${title} | ${fmt(ours)} ms | ${fmt(base)} ms (${baseName}) | ${fmt(ours / base)}× |`;
  const none = c('wardenfs none');
  const runc = c('raw runc');
  const lines = [
    '## 1. create → ready',
    '',
    `${command('create', [rounds])}: median of ${rounds} rounds (kinds interleaved, each container destroyed right after). ` +
      'Raw = mkdir upper/work/rootfs/bundle + `mount -t overlay` (lower = the state dir\'s busybox image) + config.json + ' +
      '`RUNTIME run --detach` of catatonit -P, spawned from Node like the daemon does; no network.',
    '',
    '| figure | wardenfs | baseline | ratio |',
    '|---|---|---|---|',
    row('create → ready, net=none (runc)', none, runc, 'raw runc'),
    row('create → ready, net=bridge (runc)', c('wardenfs bridge'), runc, 'raw runc, no network'),
    treeCrun ? row('create → ready, net=none (--runtime crun)', c('wardenfs crun'), c('raw crun'), 'raw crun') : '| create → ready (--runtime crun) | failed | | |',
    row('destroy, net=none (runc)', d('wardenfs none'), d('raw runc'), 'runc delete -f + umount + rm'),
    ...(treeCrun ? [row('destroy, net=none (--runtime crun)', d('wardenfs crun'), d('raw crun'), 'crun delete -f + umount + rm')] : []),
    `| raw crun vs raw runc (create) | ${fmt(c('raw crun'))} ms | ${fmt(runc)} ms | ${fmt(c('raw crun') / runc)}× |`,
  ];
  lines.push('', goal('create within 1.2× raw runc (net=none)', none <= 1.2 * runc, `${fmt(none / runc)}×`));
  for (const n of notes) lines.push(`- Note: ${n}.`);
  return lines.join('\n') + '\n';
}

benchMain(main);
