/**
 * Figure 10: peers (issue 18 item 4). wardenfs beside raw runc (raw.ts) and Podman, in one run
 * on the same busybox image dir: Podman runs it with `--rootfs DIR:O` (an overlay of its own
 * over the dir, the same runc, no network, the rlimits the host allows), so that all three do
 * the same kind of work. Per round, kinds interleaved (order rotated): create → ready, exec of
 * `true` → exit, destroy; then 8 creates at once (the time until all 8 are ready) and their
 * destroy. Medians of ROUNDS rounds. Podman is Debian's (`apt-get install podman`, by the
 * bench, not by setup.sh); without it the section says so and still shows the other two.
 *   node dist/scripts/bench/peers.js [ROUNDS]      (or BENCH_PEERS_ROUNDS)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { benchMain, command, fmt, goal, median, mountTree, numArg, onCleanup, progress, timeMs } from './common.js';
import { RawRuntime, spawnWait } from './raw.js';

const RUNC = '/usr/sbin/runc';
// Writers at once are fs writes on libuv's pool, 4 threads by default: all.ts starts every
// benchmark with UV_THREADPOOL_SIZE=16 (it must be in the environment at start: the ESM loader
// itself uses the pool). Run alone without it, at most 4 writes are in flight at once.
if (!process.env.UV_THREADPOOL_SIZE) progress('UV_THREADPOOL_SIZE is not set: at most 4 writers at once (npm run bench sets 16)');
const PAR = 8;

interface Kind {
  label: string;
  create(name: string): Promise<unknown>;
  exec(name: string): Promise<unknown>;
  destroy(name: string): Promise<unknown>;
}

/** The hard limit of this process for an rlimit of /proc/self/limits ("Max open files"). */
function hardLimit(row: string): number | undefined {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(row));
  const v = line?.slice(row.length).trim().split(/\s+/)[1];
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** Podman installed by the bench (Debian's package), or the reason it is not there. */
async function ensurePodman(): Promise<string | undefined> {
  const have = async () => (await execa('podman', ['--version'], { reject: false })).exitCode === 0;
  if (await have()) return undefined;
  progress('peers: installing podman (apt-get install podman)');
  const r = await execa('apt-get', ['install', '-y', '--no-install-recommends', 'podman'], { reject: false, env: { DEBIAN_FRONTEND: 'noninteractive' } });
  if (await have()) return undefined;
  return `podman could not be installed: ${(r.stderr || r.stdout).toString().split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${r.exitCode}`}`;
}

/**
 * Podman with a store of its own (a temp dir: nothing of the host's podman is touched), the
 * cgroupfs manager and file events (no systemd or journald here), runc as runtime.
 */
class Podman {
  readonly base = mkdtempSync(path.join(os.tmpdir(), 'wfs-bench-podman-'));
  readonly close: () => Promise<void>;
  private readonly global: string[];
  /**
   * Podman's default rlimits (nofile 1048576, nproc 4194304) are refused here (runc: "error
   * setting rlimit type 7: operation not permitted"): the host's hard nofile, and an nproc
   * below the 32768 podman sets as its own hard limit (runc cannot raise it).
   */
  private readonly ulimits: string[];
  /** The cgroup parent of podman's containers (else podman leaves libpod_parent/ in every hierarchy). */
  private readonly cgroupParent = `/wfs-bench-podman-${process.pid}`;

  constructor(readonly lower: string) {
    this.global = ['--root', path.join(this.base, 'root'), '--runroot', path.join(this.base, 'run'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', RUNC];
    const nofile = Math.min(hardLimit('Max open files') ?? 1024, 1 << 20);
    const nproc = Math.min(hardLimit('Max processes') ?? 4096, 4096);
    this.ulimits = ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
    this.close = onCleanup(async () => {
      await execa('podman', [...this.global, 'rm', '--all', '--force', '--time', '0'], { reject: false });
      // Whatever podman left mounted in its store (the :O overlays, its own shm mounts).
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => !!m && m.startsWith(this.base));
      for (const m of mounts.reverse()) await execa('umount', ['-l', m], { reject: false });
      for (const h of ['', ...(await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[]))]) {
        const top = path.join('/sys/fs/cgroup', h, this.cgroupParent);
        const dirs = await fs.readdir(top, { recursive: true, withFileTypes: true }).catch(() => []);
        const leaves = dirs.filter((d) => d.isDirectory()).map((d) => path.join(d.path, d.name)).sort().reverse();
        for (const d of [...leaves, top]) await fs.rmdir(d).catch(() => undefined);
      }
      await fs.rm(this.base, { recursive: true, force: true });
    });
  }

  private run(args: string[]): Promise<void> {
    return spawnWait('/usr/bin/podman', [...this.global, ...args]);
  }

  create(name: string): Promise<void> {
    return this.run(['run', '--detach', '--name', name, '--network', 'none', '--cgroup-parent', this.cgroupParent, ...this.ulimits, '--rootfs', `${this.lower}:O`, '/bin/sleep', '2147483647']);
  }

  exec(name: string): Promise<void> {
    return this.run(['exec', name, '/bin/true']);
  }

  destroy(name: string): Promise<void> {
    return this.run(['rm', '--force', '--time', '0', name]);
  }
}

/** `runc exec NAME true` in a raw container, to its exit. */
function rawExec(raw: RawRuntime, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(RUNC, ['--root', raw.root, 'exec', name, '/bin/true'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc exec ${name}: exit ${code}`))));
  });
}

async function main(): Promise<string> {
  const rounds = numArg(2, 'BENCH_PEERS_ROUNDS', 9);
  const notes: string[] = [];
  const podmanMissing = await ensurePodman();
  if (podmanMissing) notes.push(podmanMissing);
  progress(`peers: ${rounds} rounds`);
  const tree = await mountTree('peers');
  const lower = path.join(tree.state, 'images', 'busybox', 'rootfs');
  const raw = new RawRuntime('peers', RUNC, lower);
  const podman = podmanMissing ? undefined : new Podman(lower);
  const ctlFile = path.join(tree.mnt, 'ctl');

  const wardenfs: Kind = {
    label: 'wardenfs',
    create: (n) => fs.writeFile(ctlFile, `create ${n} net=none\n`),
    // run → exit seen through procs/ID/wait, as figure 2
    exec: async (n) => {
      const c = (...p: string[]) => path.join(tree.mnt, 'containers', n, ...p);
      const fh = await fs.open(c('ctl'), 'r+');
      const buf = Buffer.alloc(64);
      let got = 0;
      try {
        await fh.write('run true\n');
        got = (await fh.read(buf, 0, 64, 0)).bytesRead;
      } finally {
        await fh.close();
      }
      await fs.readFile(c('procs', buf.subarray(0, got).toString().trim(), 'wait'));
    },
    destroy: (n) => fs.writeFile(ctlFile, `destroy ${n}\n`),
  };
  const rawKind: Kind = { label: 'raw runc', create: (n) => raw.create(n), exec: (n) => rawExec(raw, n), destroy: (n) => raw.remove(n) };
  const kinds: Kind[] = [wardenfs, rawKind];
  if (podman) kinds.push({ label: 'podman', create: (n) => podman.create(n), exec: (n) => podman.exec(n), destroy: (n) => podman.destroy(n) });

  type Fig = 'create' | 'exec' | 'destroy' | 'par';
  const t = new Map<string, number[]>();
  const push = (k: Kind, f: Fig, v: number) => {
    const key = `${k.label}/${f}`;
    t.set(key, [...(t.get(key) ?? []), v]);
  };
  try {
    for (const k of kinds) { // warm-up (first use of the image, JIT, podman's store), not counted
      await k.create('pw0');
      await k.exec('pw0');
      await k.destroy('pw0');
    }
    for (let i = 1; i <= rounds; i++) {
      for (let j = 0; j < kinds.length; j++) {
        const k = kinds[(i + j) % kinds.length]!;
        const name = `p${i}`;
        push(k, 'create', await timeMs(() => k.create(name)));
        push(k, 'exec', await timeMs(() => k.exec(name)));
        push(k, 'destroy', await timeMs(() => k.destroy(name)));
      }
      for (let j = 0; j < kinds.length; j++) {
        const k = kinds[(i + j) % kinds.length]!;
        const names = Array.from({ length: PAR }, (_, x) => `q${i}x${x}`);
        push(k, 'par', await timeMs(() => Promise.all(names.map((n) => k.create(n)))));
        for (const n of names) await k.destroy(n);
      }
      progress(`peers: round ${i}/${rounds}`);
    }
  } finally {
    await podman?.close();
    await raw.close();
    await tree.close();
  }

  const m = (label: string, f: Fig) => median(t.get(`${label}/${f}`) ?? []);
  const cell = (label: string, f: Fig) => {
    const v = m(label, f);
    return f === 'par' ? `${fmt(v)} ms (${fmt(PAR / (v / 1000), 1)}/s)` : `${fmt(v)} ms`;
  };
  const ratio = (a: string, b: string, f: Fig) => `${fmt(m(a, f) / m(b, f))}×`;
  const rows: Array<[string, Fig]> = [['create → ready', 'create'], ['exec `true` → exit', 'exec'], ['destroy', 'destroy'], [`${PAR} creates at once, all ready`, 'par']];
  const lines = [
    '## 10. peers: wardenfs, raw runc, Podman',
    '',
    `${command('peers', [rounds])}: median of ${rounds} rounds, kinds interleaved (order rotated each round), all on the busybox image dir of ` +
      'the tree\'s state dir, no network, runc. wardenfs: `create NAME net=none` and `destroy` in `ctl`, exec = `run true` read back ' +
      'and `procs/ID/wait` read to its end (figure 2). Raw runc: figure 1\'s baseline, exec = `runc exec NAME /bin/true`. ' +
      `Podman${podman ? '' : ' (missing)'}: \`podman run --detach --network none --rootfs DIR:O /bin/sleep …\` (its own overlay over the dir), ` +
      '`podman exec NAME /bin/true`, `podman rm --force --time 0`, each a spawned `podman` (store in a temp dir, cgroupfs, runc). ' +
      `"${PAR} at once": ${PAR} creates started together, timed until the last is ready (then destroyed, not timed).`,
    '',
    `| figure | wardenfs | raw runc | ${podman ? 'Podman | ' : ''}wardenfs / raw | ${podman ? 'Podman / wardenfs |' : ''}`,
    `|---|---|---|${podman ? '---|' : ''}---|${podman ? '---|' : ''}`,
    ...rows.map(([title, f]) => `| ${title} | ${cell('wardenfs', f)} | ${cell('raw runc', f)} | ${podman ? cell('podman', f) + ' | ' : ''}${ratio('wardenfs', 'raw runc', f)} | ${podman ? ratio('podman', 'wardenfs', f) + ' |' : ''}`),
    '',
  ];
  if (podman) {
    const ahead = (['create', 'exec', 'destroy', 'par'] as Fig[]).every((f) => m('wardenfs', f) < m('podman', f));
    lines.push(goal('wardenfs ahead of Podman in create, exec, destroy and 8 at once', ahead, (['create', 'exec', 'destroy', 'par'] as Fig[]).map((f) => `${f} ${ratio('podman', 'wardenfs', f)}`).join(', ') + ' Podman / wardenfs'));
  } else {
    lines.push(goal('wardenfs ahead of Podman', false, 'Podman not measured'));
  }
  lines.push('- Note: wardenfs\'s 8 creates at once are 8 writes to the one global `ctl`, which the kernel carries out one at a time ' +
    '(a FUSE direct-I/O write holds the file\'s inode lock; docs/interface.md §4, scripts/bench/notes.md): they wait for each other.');
  for (const n of notes) lines.push(`- Note: ${n}.`);
  return lines.join('\n') + '\n';
}

benchMain(main);
