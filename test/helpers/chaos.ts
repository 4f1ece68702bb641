/**
 * The chaos run (issue 17 item 1): several writers doing random creates, runs, kills, stdin
 * writes, destroys, limit, port and rule changes and imports through the mounted tree,
 * while the daemon is SIGKILLed at random moments and started again on the same state dir.
 * After every restart and at the end, invariants are checked against what the writers
 * know and against the host (checkInvariants); the first violation ends the run.
 *
 * Everything random comes from one seed, printed by the caller: the same seed replays the
 * same choices (the timing of the host still varies, so a failure is likely, not certain,
 * to come back).
 */
import { promises as fs, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Tree } from './tree.js';
import { sleep } from './host.js';
import { instanceId } from '../../src/drivers/cgroups/hierarchy.js';
import { netNames, netnsName, vethName } from '../../src/drivers/network/host.js';
import { CLAIMS_DIR } from '../../src/drivers/rootfs/idclaims.js';
import { KEEP_ENDED } from '../../src/core/processes.js';

/** mulberry32: small, seedable, good enough to pick operations. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChaosOptions {
  seconds: number;
  seed: number;
  writers?: number;
  /** Milliseconds between daemon kills, at least and at most (default 1000–5000). */
  killEvery?: [number, number];
  /** Progress lines (restarts, checks). */
  log?: (line: string) => void;
  tag?: string;
}

export interface ChaosResult {
  seed: number;
  seconds: number;
  restarts: number;
  checks: number;
  ops: Record<string, number>;
  failedOps: Record<string, number>;
  /** The first message of each kind of failed operation. */
  failureSamples: Record<string, string>;
  /** Kills aimed at an operation under way, by its kind. */
  aimedKills: Record<string, number>;
  /** Operations under way at the kills. */
  cutOff: number;
  containersCreated: number;
  containersDestroyed: number;
  processesChecked: number;
}

/** What a writer knows of a process it started (the reply gave its id). */
interface ProcModel {
  id: string;
  kind: 'short' | 'chatty' | 'reader' | 'sleeper';
  /** The lines it prints on stdout / stderr when left alone, and its exit code. */
  out: string[];
  err: string[];
  code: number;
  /** A kill was confirmed (`ok`) / maybe carried out (the daemon died during it). */
  killed: boolean;
  maybeKilled: boolean;
  /** Stdin lines confirmed, and whether one was maybe delivered; closein confirmed / maybe. */
  sent: string[];
  maybeSent: boolean;
  closed: boolean;
  maybeClosed: boolean;
  /** Checked as ended (no need to look again). */
  done: boolean;
}

interface ContainerModel {
  name: string;
  image: string;
  net: 'bridge' | 'none';
  /** `created` confirmed by the reply, or maybe (the daemon died during the create). */
  sure: boolean;
  destroyed: boolean;
  maybeDestroyed: boolean;
  procs: Map<string, ProcModel>;
}

class Violation extends Error {}

/** The errors of an operation cut off by the daemon's death: it may or may not have taken effect. */
const CUT_OFF = new Set(['ENOTCONN', 'ECONNABORTED']);

/** An error code of a failed file operation (ENOTCONN while the daemon is down …). */
function codeOf(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? 'ERR';
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const log = o.log ?? (() => undefined);
  const rand = rng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const tree = new Tree(o.tag ?? 'chaos');
  const instance = instanceId(tree.state);
  const names = netNames(instance);
  const result: ChaosResult = {
    seed: o.seed, seconds: o.seconds, restarts: 0, checks: 0, ops: {}, failedOps: {}, failureSamples: {}, aimedKills: {}, cutOff: 0,
    containersCreated: 0, containersDestroyed: 0, processesChecked: 0,
  };
  const containers = new Map<string, ContainerModel>();
  /** Every container name ever asked for (what a leak would be named after). */
  const tried = new Set<string>();
  const images = new Set<string>(['busybox']);
  /** Images whose import or removal was cut off: listed whole, or not at all. */
  const maybeImages = new Set<string>();
  const portBase = 20000 + (Number(tree.net.split('.')[1]) % 200) * 100;
  let up = false;
  let upWaiters: Array<() => void> = [];
  const inFlight = new Set<Promise<unknown>>();
  /** The kinds of the operations under way (a kill may aim at one). */
  const underWay = new Map<number, string>();
  const deadline = Date.now() + o.seconds * 1000;
  let violation: Error | undefined;

  const count = (m: Record<string, number>, k: string) => { m[k] = (m[k] ?? 0) + 1; };
  const C = (name: string, ...p: string[]) => tree.p('containers', name, ...p);
  /** A ctl message; a failure carries the daemon's reply (`error: …`) in its message. */
  async function ctl(file: string, message: string): Promise<string> {
    const fh = await fs.open(file, 'r+');
    try {
      try {
        await fh.write(message + '\n');
      } catch (e) {
        const buf = Buffer.alloc(4096);
        const got = await fh.read(buf, 0, buf.length, 0).then((x) => buf.subarray(0, x.bytesRead).toString().trim(), () => '');
        if (got) (e as Error).message += ` (${got})`;
        throw e;
      }
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString().trimEnd();
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
  const waitUp = () => (up ? Promise.resolve() : new Promise<void>((r) => upWaiters.push(r)));

  // A small image to import: a directory (no shell; containers of it are created and destroyed only).
  const imgSrc = path.join(tree.base, 'imgsrc');
  await fs.mkdir(path.join(imgSrc, 'etc'), { recursive: true });
  await fs.writeFile(path.join(imgSrc, 'etc', 'hostname'), 'chaos\n');
  await fs.mkdir(path.join(imgSrc, 'data'), { recursive: true });
  for (let i = 0; i < 20; i++) await fs.writeFile(path.join(imgSrc, 'data', `f${i}`), `file ${i}\n`.repeat(i * 10));

  const shLoop = (n: number, code: number, slow: boolean) =>
    `sh -c 'i=0; while [ $i -lt ${n} ]; do echo line$i; echo err$i >&2; i=$((i+1));${slow ? ' sleep 0.05;' : ''} done; exit ${code}'`;
  const lines = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}${i}`);

  /** One random operation of writer `w`; `k` makes names unique. */
  async function op(w: number, k: number): Promise<void> {
    const live = [...containers.values()].filter((c) => !c.destroyed && !c.maybeDestroyed && c.sure);
    const runnable = live.filter((c) => c.image === 'busybox');
    const r = rand();
    const kind = live.length < 2 || r < 0.12 ? 'create'
      : r < 0.42 ? 'run'
        : r < 0.52 ? 'kill'
          : r < 0.62 ? 'stdin'
            : r < 0.70 ? 'destroy'
              : r < 0.78 ? 'limit'
                : r < 0.84 ? 'ports'
                  : r < 0.89 ? 'rules'
                    : r < 0.93 ? 'import'
                      : r < 0.96 ? 'remove-image' : 'read';
    count(result.ops, kind);
    underWay.set(w, kind);
    try {
      switch (kind) {
        case 'create': {
          const name = `k${w}-${k}`;
          const net = rand() < 0.25 ? 'none' : 'bridge';
          const image = rand() < 0.15 ? pick([...images]) : 'busybox';
          const opts = [`image=${image}`, `net=${net}`];
          if (rand() < 0.3) opts.push(`memory.max=${int(32, 256)}M`);
          if (net === 'bridge' && rand() < 0.3) opts.push(`ports=${portBase + int(0, 99)}:80`);
          if (net === 'bridge' && rand() < 0.2) opts.push(`rules='allow tcp 10.0.0.0/8 80'`);
          if (rand() < 0.2) opts.push(`prop.w=${w}`);
          tried.add(name);
          const m: ContainerModel = { name, image, net, sure: false, destroyed: false, maybeDestroyed: false, procs: new Map() };
          containers.set(name, m);
          try {
            const reply = await ctl(tree.p('ctl'), `create ${name} ${opts.join(' ')}`);
            if (reply !== name) throw new Violation(`create ${name}: reply ${JSON.stringify(reply)}`);
            m.sure = true;
            result.containersCreated++;
          } catch (e) {
            // Cut off by the kill (ENOTCONN, ECONNABORTED): maybe made, the invariants tell; any other failure: not made.
            if (!CUT_OFF.has(codeOf(e)) && !(e instanceof Violation)) containers.delete(name);
            throw e;
          }
          return;
        }
        case 'run': {
          if (!runnable.length) return;
          const c = pick(runnable);
          const r2 = rand();
          const kind2: ProcModel['kind'] = r2 < 0.4 ? 'short' : r2 < 0.75 ? 'chatty' : r2 < 0.9 ? 'reader' : 'sleeper';
          let cmd: string; let out: string[] = []; let err: string[] = []; let code = 0;
          if (kind2 === 'short' || kind2 === 'chatty') {
            const n = kind2 === 'short' ? int(1, 3000) : int(5, 60);
            code = int(0, 5);
            cmd = shLoop(n, code, kind2 === 'chatty');
            out = lines('line', n);
            err = lines('err', n);
          } else if (kind2 === 'reader') {
            code = 4;
            cmd = `sh -c 'while read l; do echo "got $l"; done; exit 4'`;
          } else {
            cmd = 'sleep 1000';
          }
          const id = await ctl(C(c.name, 'ctl'), `run ${cmd}`).catch((e: Error) => {
            // A run that meets a destroy under way fails; said apart from other failures.
            if (c.maybeDestroyed || c.destroyed) e.message = `during a destroy: ${e.message}`;
            throw e;
          });
          if (!/^\d+$/.test(id)) throw new Violation(`run in ${c.name}: reply ${JSON.stringify(id)}`);
          c.procs.set(id, { id, kind: kind2, out, err, code, killed: false, maybeKilled: false, sent: [], maybeSent: false, closed: false, maybeClosed: false, done: false });
          return;
        }
        case 'kill': {
          const c = pick(runnable.length ? runnable : live);
          const ps = [...c.procs.values()].filter((p) => !p.done && !p.killed && (p.kind !== 'short'));
          if (!ps.length) return;
          const p = pick(ps);
          const before = p.maybeKilled;
          p.maybeKilled = true; // stays so if the write is cut off
          const sig = pick(['KILL', 'TERM']);
          try {
            await fs.writeFile(C(c.name, 'procs', p.id, 'ctl'), `kill ${sig}\n`);
            p.killed = true;
          } catch (e) {
            if (codeOf(e) === 'EINVAL') p.maybeKilled = before; // not running (ended): nothing done
            throw e;
          }
          return;
        }
        case 'stdin': {
          const c = pick(runnable.length ? runnable : live);
          const ps = [...c.procs.values()].filter((p) => p.kind === 'reader' && !p.closed && !p.maybeClosed && !p.killed);
          if (!ps.length) return;
          const p = pick(ps);
          if (rand() < 0.25) {
            p.maybeClosed = true;
            await fs.writeFile(C(c.name, 'procs', p.id, 'ctl'), 'closein\n');
            p.closed = true;
          } else {
            const line = `w${w}k${k}`;
            const before = p.maybeSent;
            p.maybeSent = true; // stays so if the write is cut off
            await fs.writeFile(C(c.name, 'procs', p.id, 'stdin'), `${line}\n`);
            p.sent.push(line);
            p.maybeSent = before;
          }
          return;
        }
        case 'destroy': {
          const c = pick(live);
          c.maybeDestroyed = true;
          await ctl(tree.p('ctl'), `destroy ${c.name}`);
          c.destroyed = true;
          result.containersDestroyed++;
          return;
        }
        case 'limit': {
          const c = pick(live);
          const [file, value] = pick([
            ['memory.max', `${int(32, 512) * 1024 * 1024}`],
            ['pids.max', `${int(64, 4096)}`],
            ['cpu.max', `${int(10, 100) * 1000} 100000`],
            ['cpu.weight', `${int(1, 1000)}`],
          ] as const);
          await fs.writeFile(C(c.name, 'cgroup', file), `${value}\n`);
          return;
        }
        case 'ports': {
          const c = pick(live.filter((x) => x.net === 'bridge').concat(live.slice(0, 1)));
          const text = rand() < 0.3 ? '' : `${portBase + int(0, 99)}:${int(1, 9000)}\n`;
          await fs.writeFile(C(c.name, 'net', 'ports'), text);
          return;
        }
        case 'rules': {
          const c = pick(live);
          const text = rand() < 0.3 ? '' : `allow tcp 10.${int(0, 255)}.0.0/16 ${int(1, 9000)}\nallow udp 1.1.1.1 53\n`;
          await fs.writeFile(C(c.name, 'net', 'rules'), text);
          return;
        }
        case 'import': {
          const name = `im${w}-${k}`;
          maybeImages.add(name);
          await ctl(tree.p('ctl'), `image import ${name} ${imgSrc}`);
          images.add(name);
          return;
        }
        case 'remove-image': {
          const cand = [...images].filter((i) => i !== 'busybox');
          if (!cand.length) return;
          const name = pick(cand);
          maybeImages.add(name);
          await ctl(tree.p('ctl'), `image remove ${name}`);
          images.delete(name);
          return;
        }
        case 'read': {
          await fs.readdir(tree.p('containers'));
          await fs.readFile(tree.p('events'), 'utf8');
          if (live.length) await fs.readFile(C(pick(live).name, 'status'), 'utf8');
          return;
        }
      }
    } catch (e) {
      if (e instanceof Violation) throw e;
      count(result.failedOps, `${kind}:${codeOf(e)}`);
      result.failureSamples[`${kind}:${codeOf(e)}`] ??= (e as Error).message.slice(0, 300);
    } finally {
      underWay.delete(w);
    }
  }

  async function writer(w: number): Promise<void> {
    let k = 0;
    while (Date.now() < deadline && !violation) {
      await waitUp();
      if (Date.now() >= deadline || violation) return;
      const p = op(w, k++);
      inFlight.add(p);
      try {
        await p;
      } catch (e) {
        violation ??= e as Error;
        return;
      } finally {
        inFlight.delete(p);
      }
      await sleep(int(0, 150));
    }
  }

  // ---------------------------------------------------------------- invariants

  function fail(msg: string): never {
    throw new Violation(msg);
  }

  /** The first violation of the invariants, thrown; the tree must be up and quiet. */
  async function checkInvariants(final: boolean): Promise<void> {
    result.checks++;
    const listed = new Set(await fs.readdir(tree.p('containers')));
    // No container that only the writers' interrupted creates made half: each listed one is whole.
    for (const name of listed) {
      const m = containers.get(name);
      if (!m) fail(`container ${name} is listed but nobody created it`);
      if (m.destroyed) fail(`container ${name} is listed after its destroy was confirmed`);
      m.sure = true; // a create cut off by the kill that made it whole: now known
      const st = await tree.status(name);
      if (st.state !== 'active') fail(`container ${name}: state ${st.state}`);
      const pid = Number(st.pid);
      const comm = await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
      if (comm.trim() !== '.init') fail(`container ${name}: its init ${pid} does not run (comm ${JSON.stringify(comm.trim())})`);
      const cg = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
      if (!cg.includes(`/wardenfs/${instance}/${name}`)) fail(`container ${name}: its init ${pid} is not in its cgroup (${cg.trim()})`);
      if (!(await fs.stat(path.join(tree.state, 'containers', name, 'container.json')).catch(() => undefined))) fail(`container ${name}: listed without a record`);
      const rootEntries = await fs.readdir(tree.p('rootfs', name)).catch(() => [] as string[]);
      if (!rootEntries.includes('etc')) fail(`container ${name}: its rootfs/ shows no etc (${rootEntries.join(' ')})`);
      if (m.net === 'bridge') {
        const addr = (await fs.readFile(C(name, 'net', 'address'), 'utf8')).trim();
        if (!addr.startsWith(`${tree.net}.`)) fail(`container ${name}: address ${addr}`);
        if (!readdirSync('/run/netns').includes(netnsName(instance, name))) fail(`container ${name}: no netns`);
      }
      await checkSettings(m);
      m.maybeDestroyed = false; // a destroy cut off before it removed the record: still whole
      await checkProcs(m, final);
    }
    // Confirmed containers are listed.
    for (const m of containers.values()) {
      if (m.sure && !m.destroyed && !m.maybeDestroyed && !listed.has(m.name)) fail(`container ${m.name} was created and never destroyed, but is not listed`);
    }
    // Forget what is gone for good (destroyed, or a create that never made it).
    for (const m of [...containers.values()]) {
      if (!listed.has(m.name)) containers.delete(m.name);
    }
    await checkLeaks(listed);
    await checkImages();
  }

  /** Every image listed is whole and the same as its source; no half-made one is on disk; confirmed ones are there. */
  async function checkImages(): Promise<void> {
    const listedImages = new Set(await fs.readdir(tree.p('images')));
    for (const name of await fs.readdir(path.join(tree.state, 'images'))) {
      if (!listedImages.has(name)) fail(`state dir: images/${name} is left (not listed)`);
      if (!(await fs.stat(path.join(tree.state, 'images', name, 'image.json')).catch(() => undefined))) fail(`image ${name}: listed without image.json`);
    }
    for (const name of images) if (!listedImages.has(name) && !maybeImages.has(name)) fail(`image ${name} was imported and not removed, but is not listed`);
    for (const name of listedImages) {
      if (name === 'busybox') continue;
      if (!images.has(name) && !maybeImages.has(name)) fail(`image ${name} is listed but was never imported`);
      const got = await fs.readFile(tree.p('images', name, 'rootfs', 'data', 'f19'), 'utf8').catch(() => 'unreadable');
      if (got !== 'file 19\n'.repeat(190)) fail(`image ${name}: data/f19 is not what was imported`);
      images.add(name);
    }
    for (const name of [...images]) if (!listedImages.has(name)) images.delete(name);
    maybeImages.clear();
  }

  /**
   * What the tree says of a container's limits and forwards is what the kernel does and what
   * the record holds (a change cut off by a kill: old or new, but the same everywhere).
   */
  async function checkSettings(m: ContainerModel): Promise<void> {
    const rec = JSON.parse(await fs.readFile(path.join(tree.state, 'containers', m.name, 'container.json'), 'utf8')) as { settings: Record<string, unknown> };
    for (const key of ['memory.max', 'pids.max']) {
      const shown = (await fs.readFile(C(m.name, 'cgroup', key), 'utf8')).trim();
      const recorded = rec.settings[key] === undefined ? undefined : String(rec.settings[key]);
      if (recorded !== undefined && shown !== recorded) fail(`container ${m.name}: cgroup/${key} reads ${shown}, its record holds ${recorded}`);
    }
    if (m.net !== 'bridge') return;
    const shown = (await fs.readFile(C(m.name, 'net', 'ports'), 'utf8')).split('\n').filter(Boolean)
      .map((l) => /(\d+):(\d+)\/tcp$/.exec(l)).map((x) => `${x?.[1]}:${x?.[2]}`).sort();
    const recorded = ((rec.settings.ports as string[] | undefined) ?? []).map((l) => /(\d+):(\d+)\/tcp$/.exec(l)).map((x) => `${x?.[1]}:${x?.[2]}`).sort();
    if (shown.join() !== recorded.join()) fail(`container ${m.name}: net/ports ${shown.join(' ')}, its record ${recorded.join(' ')}`);
    const chain = await execa('/usr/sbin/nft', ['list', 'chain', 'ip', names.table, `c_${m.name}`], { reject: false });
    const kernel = chain.exitCode === 0 ? [...chain.stdout.matchAll(/dport (\d+) dnat to [\d.]+:(\d+)/g)].map((x) => `${x[1]}:${x[2]}`).sort() : [];
    if (kernel.join() !== shown.join()) fail(`container ${m.name}: net/ports says ${shown.join(' ') || '(none)'}, the kernel forwards ${kernel.join(' ') || '(none)'}`);
  }

  async function checkProcs(m: ContainerModel, final: boolean): Promise<void> {
    const dir = C(m.name, 'procs');
    const ids = new Set(await fs.readdir(dir));
    let ended = 0;
    for (const id of ids) if ((await fs.readFile(path.join(dir, id, 'status'), 'utf8')).trim() !== 'running') ended++;
    for (const p of m.procs.values()) {
      if (p.done) continue;
      if (!ids.has(p.id)) {
        if (ended >= KEEP_ENDED) { p.done = true; continue; } // retention forgot it
        fail(`process ${m.name}/${p.id} (${p.kind}) is not listed`);
      }
      const read = (f: string) => fs.readFile(path.join(dir, p.id, f), 'utf8');
      const status = (await read('status')).trim();
      if (status === 'running') {
        if (final && (p.kind === 'short')) fail(`process ${m.name}/${p.id} (short) still runs at the end`);
        continue;
      }
      // Ended: its status and every byte it wrote.
      const out = await read('stdout');
      const err = await read('stderr');
      const natural = `exited ${p.code}`;
      const allowed = new Set<string>();
      if (!p.killed) allowed.add(natural);
      if (p.killed || p.maybeKilled) { allowed.add('killed KILL'); allowed.add('killed TERM'); }
      if (!allowed.has(status)) fail(`process ${m.name}/${p.id} (${p.kind}${p.killed ? ', killed' : ''}): status ${JSON.stringify(status)}, expected one of ${[...allowed].join(' | ')}`);
      const full = status === natural;
      if (p.kind === 'short' || p.kind === 'chatty') {
        const want = (xs: string[]) => xs.map((l) => l + '\n').join('');
        for (const [name, got, exp] of [['stdout', out, want(p.out)], ['stderr', err, want(p.err)]] as const) {
          if (full ? got !== exp : !exp.startsWith(got)) {
            fail(`process ${m.name}/${p.id} (${p.kind}, ${status}): ${name} is ${got.length} bytes, not ${full ? 'all' : 'a prefix'} of the ${exp.length} it wrote: ${JSON.stringify(got.slice(0, 80))}…`);
          }
        }
      } else if (p.kind === 'reader') {
        const got = out.split('\n').filter(Boolean);
        const sent = p.sent.map((l) => `got ${l}`);
        if (full && !p.maybeSent) {
          // Every confirmed line, in order (others maybe delivered are allowed in between).
          let i = 0;
          for (const l of got) if (l === sent[i]) i++;
          if (i !== sent.length) fail(`process ${m.name}/${p.id} (reader): got ${JSON.stringify(got)}, sent ${JSON.stringify(p.sent)}`);
        }
        if (got.some((l) => !l.startsWith('got '))) fail(`process ${m.name}/${p.id} (reader): stray output ${JSON.stringify(out)}`);
      }
      result.processesChecked++;
      p.done = true;
    }
  }

  /** Nothing of this instance belongs to no listed container. */
  async function checkLeaks(listed: Set<string>): Promise<void> {
    const stateContainers = path.join(tree.state, 'containers') + '/';
    const ownerOf = (s: string): string | undefined => {
      const i = s.indexOf(stateContainers);
      if (i < 0) return undefined;
      return s.slice(i + stateContainers.length).split(/[/\0 ]/)[0];
    };
    // state files
    for (const n of await fs.readdir(stateContainers).catch(() => [] as string[])) {
      if (!listed.has(n)) fail(`state dir: containers/${n} is left (not listed)`);
    }
    for (const n of await fs.readdir(path.join(tree.state, 'runtime')).catch(() => [] as string[])) {
      if (!listed.has(n)) fail(`state dir: runtime/${n} is left (not listed)`);
    }
    // mounts
    for (const line of (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
      const mp = line.split(' ')[4];
      if (!mp || !mp.startsWith(tree.state + '/')) continue;
      const n = ownerOf(mp);
      if (!n || !listed.has(n)) fail(`mount ${mp} belongs to no container`);
    }
    // cgroups
    for (const line of (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n')) {
      const f = line.split(' ');
      if (f[2] !== 'cgroup2' && f[2] !== 'cgroup') continue;
      const dir = path.join(f[1]!, 'wardenfs', instance);
      for (const n of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
        if (n.isDirectory() && !listed.has(n.name)) fail(`cgroup ${dir}/${n.name} belongs to no container`);
      }
    }
    // netns, veths, nft chains, id claims
    const prefix = netnsName(instance, '');
    for (const n of readdirSync('/run/netns')) {
      if (n.startsWith(prefix) && !listed.has(n.slice(prefix.length))) fail(`netns ${n} belongs to no container`);
    }
    const links = new Set(readdirSync('/sys/class/net'));
    for (const n of tried) {
      if (!listed.has(n) && links.has(vethName(instance, n))) fail(`veth ${vethName(instance, n)} of ${n} is left`);
    }
    const ports = readdirSync(`/sys/class/net/${names.bridge}/brif`).sort();
    const want = [...listed].filter((n) => containers.get(n)?.net === 'bridge').map((n) => vethName(instance, n)).sort();
    if (ports.join() !== want.join()) fail(`bridge ports ${ports.join(' ')}; expected ${want.join(' ')}`);
    const nft = await execa('/usr/sbin/nft', ['-j', 'list', 'table', 'ip', names.table], { reject: false });
    if (nft.exitCode === 0) {
      const doc = JSON.parse(nft.stdout) as { nftables: Array<{ chain?: { name: string }; map?: { name: string; elem?: Array<[unknown, Record<string, { target: string }>]> } }> };
      for (const x of doc.nftables) {
        if (x.chain?.name.startsWith('c_') && !listed.has(x.chain.name.slice(2))) fail(`nft chain ${x.chain.name} belongs to no container`);
        for (const [, v] of x.map?.elem ?? []) {
          const target = Object.values(v)[0]?.target ?? '';
          if (!listed.has(target.slice(2))) fail(`nft map ${x.map!.name} leads to ${target}, of no container`);
        }
      }
    }
    for (const b of await fs.readdir(CLAIMS_DIR).catch(() => [] as string[])) {
      const owner = await fs.readFile(path.join(CLAIMS_DIR, b), 'utf8').catch(() => '');
      const n = ownerOf(owner + '/');
      if (owner.startsWith(stateContainers) && (!n || !listed.has(n))) fail(`id claim ${b} (${owner}) belongs to no container`);
    }
    // processes: conmons, holders, inits and what runs in the containers
    for (const pidName of readdirSync('/proc')) {
      if (!/^\d+$/.test(pidName)) continue;
      const pid = Number(pidName);
      if (pid === process.pid || pid === tree.daemon?.pid) continue;
      const where: string[] = [];
      try {
        // A zombie holds nothing (its parent, looked at too, is what would be left).
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
        const cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
        const m = new RegExp(`/wardenfs/${instance}/([^/\\s]+)`).exec(cg);
        if (m) where.push(`cgroup of ${m[1]}`);
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (m && !listed.has(m[1]!)) fail(`process ${pid} (${cmd.replace(/\0/g, ' ').slice(0, 120)}; ${stat.slice(0, 60)}) runs in the cgroup of ${m[1]}, not listed`);
        const n = ownerOf(cmd);
        if (n !== undefined && !listed.has(n)) fail(`process ${pid} (${cmd.replace(/\0/g, ' ').slice(0, 120)}) belongs to ${n}, not listed`);
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
          let target: string;
          try { target = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
          const n2 = ownerOf(target);
          if (n2 !== undefined && !listed.has(n2)) fail(`process ${pid} (${cmd.replace(/\0/g, ' ').slice(0, 80)}) holds ${target}, of no listed container`);
        }
      } catch (e) {
        if (e instanceof Violation) throw e;
        // gone meanwhile, or a kernel thread
      }
    }
  }

  // ---------------------------------------------------------------- the run

  const killer = async (): Promise<void> => {
    while (Date.now() < deadline && !violation) {
      await sleep(int(...(o.killEvery ?? [1000, 5000])));
      if (Date.now() >= deadline || violation) return;
      // Most kills aim at an operation that changes the host (the middle of a create, a destroy …).
      if (rand() < 0.7) {
        const aim = pick(['create', 'destroy', 'import', 'ports', 'rules', 'run', 'limit', 'kill']);
        for (let i = 0; i < 300 && ![...underWay.values()].includes(aim); i++) await sleep(10);
        if ([...underWay.values()].includes(aim)) {
          count(result.aimedKills, aim);
          await sleep(int(0, aim === 'create' || aim === 'destroy' || aim === 'import' ? 600 : 60));
        }
      }
      up = false;
      const cut = [...underWay.values()];
      await tree.stop('SIGKILL');
      result.cutOff += cut.length;
      log(`[chaos] daemon killed (restart ${result.restarts + 1}) during: ${cut.join(' ') || 'nothing'}`);
      await Promise.allSettled([...inFlight]);
      await sleep(int(0, 1500)); // processes end and print while it is down
      await tree.start();
      result.restarts++;
      try {
        await checkInvariants(false);
      } catch (e) {
        violation ??= e as Error;
        return;
      } finally {
        up = true;
        const ws = upWaiters;
        upWaiters = [];
        for (const r of ws) r();
      }
    }
  };

  try {
    await tree.start();
    up = true;
    log(`[chaos] seed=${o.seed} seconds=${o.seconds} state=${tree.state}`);
    await Promise.all([killer(), ...Array.from({ length: o.writers ?? 3 }, (_, w) => writer(w))]);
    up = true;
    for (const r of upWaiters) r();
    if (violation) throw violation;
    // The end: let the short and chatty processes finish, then look at everything.
    for (let i = 0; i < 40; i++) {
      let running = 0;
      for (const m of containers.values()) {
        for (const p of m.procs.values()) {
          if (p.done || p.kind === 'sleeper' || p.kind === 'reader') continue;
          const s = await fs.readFile(C(m.name, 'procs', p.id, 'status'), 'utf8').catch(() => 'gone');
          if (s.trim() === 'running') running++;
        }
      }
      if (!running) break;
      await sleep(500);
    }
    await checkInvariants(true);
    // Destroying everything leaves nothing.
    for (const name of await fs.readdir(tree.p('containers'))) {
      await ctl(tree.p('ctl'), `destroy ${name}`);
      containers.get(name)!.destroyed = true;
    }
    await checkInvariants(true);
    return result;
  } catch (e) {
    if (e instanceof Violation) e.message = `${e.message} (seed ${o.seed})`;
    throw e;
  } finally {
    await tree.cleanup();
  }
}
