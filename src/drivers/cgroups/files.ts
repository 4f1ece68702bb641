/**
 * A container's cgroup files in the cgroup v2 vocabulary (docs/interface.md §5.6), whatever the host
 * runs. One place knows both layouts: `V2Cgroup` reads and writes the unified
 * hierarchy's own files; `V1Cgroup` maps each name onto the v1 controllers' files
 * (memory.limit_in_bytes, cpu.cfs_quota_us/cfs_period_us, cpu.shares, cpuacct.usage …).
 * Reads come from the kernel each time; writes go straight to the kernel's files (no
 * runtime process spawned), in the order the kernel needs.
 */
import { promises as fs, openSync, readSync, closeSync } from 'node:fs';
import path from 'node:path';
import { BadRequest, Busy, NotFound, SystemFailure, q } from '../../errors.js';
import { isErrno } from '../../util/files.js';
import { sharesToWeight, weightToShares } from '../runtime/spec.js';
import type { CgroupKey, Limit } from '../../model/limits.js';
import { logger } from '../../util/log.js';

const log = logger('cgroups');

/**
 * A container's usage in numbers, for the metrics (docs/interface.md §5.12): what one read of
 * a few cgroup files gives. A field the kernel does not have (memory.peak before Linux 5.19 on
 * v2) or a file gone (the container is being destroyed) is absent.
 */
export interface CgroupUsage {
  cpuUsec?: number;
  memoryBytes?: number;
  memoryPeakBytes?: number;
  pids?: number;
  oomKills?: number;
}

export interface Cgroup {
  read(key: CgroupKey): Promise<string>;
  /** Usage for the metrics, read synchronously (see readKernelFile): five small kernel files. */
  usage(): CgroupUsage;
  write(limit: Limit): Promise<void>;
  /** Number of OOM kills so far (for the container's events). */
  oomKills(): Promise<number>;
  /** The host pids of every process in the cgroup (cgroup.procs): what really runs in the container. */
  procs(): Promise<number[]>;
  /**
   * Freeze every process of the cgroup (cgroup v2 `cgroup.freeze`, v1 `freezer.state`) and
   * wait until the kernel says all are frozen; thaw() lets them go on. Used for a consistent
   * copy of the container's files (image commit).
   */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

/** How long freeze() waits for the kernel to freeze every task before it gives up (thawing). */
const FREEZE_TIMEOUT_MS = 10_000;

/** Write `on`, then poll `frozen()` until true; on a timeout, write `off` and fail with EBUSY. */
async function freezeAndWait(set: (v: boolean) => Promise<void>, frozen: () => Promise<boolean>): Promise<void> {
  await set(true);
  const until = Date.now() + FREEZE_TIMEOUT_MS;
  for (let wait = 1; !(await frozen()); wait = Math.min(wait * 2, 50)) {
    if (Date.now() > until) {
      await set(false).catch((e: unknown) => log('thaw after a failed freeze: %s', e)); // the timeout is the failure to report
      throw new Busy('the container could not be frozen (a task would not stop)');
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}

function pidList(text: string): number[] {
  return text.split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

/** The kernel's "no limit" for v1 memory (PAGE_COUNTER_MAX × page size, rounded). */
const V1_UNLIMITED = 2n ** 62n;

/**
 * Reading a cgroup file is synchronous on purpose. The kernel generates the text from
 * memory and never waits on I/O; fs.promises.readFile would be four round trips through
 * the libuv pool (open, fstat, read, close) costing more than the read itself, on every
 * open and getattr of a cgroup/ file (docs/performance.md). Writes stay asynchronous: a
 * lower memory limit makes the kernel reclaim before it answers.
 */
const readBuffer = Buffer.alloc(64 * 1024);

function readKernelFile(file: string): string {
  const fd = openSync(file, 'r');
  try {
    let text = '';
    for (;;) {
      const n = readSync(fd, readBuffer, 0, readBuffer.length, null);
      if (n === 0) return text;
      text += readBuffer.toString('utf8', 0, n);
    }
  } finally {
    closeSync(fd);
  }
}

async function readFile(file: string): Promise<string> {
  try {
    return readKernelFile(file);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new NotFound(`cgroup file ${q(path.basename(file))} is missing: is the container running?`);
    throw e;
  }
}

async function writeFile(file: string, value: string): Promise<void> {
  try {
    await fs.writeFile(file, value);
  } catch (e) {
    const what = `${path.basename(file)} = ${value}`;
    if (isErrno(e, 'EBUSY')) throw new Busy(`the kernel refused ${what}: in use (is usage above the new limit?)`);
    if (isErrno(e, 'EINVAL')) throw new BadRequest(`the kernel refused ${what}`);
    if (isErrno(e, 'ENOENT')) throw new NotFound(`cgroup file ${q(path.basename(file))} is missing`);
    throw new SystemFailure(`cannot write ${what}: ${(e as Error).message}`);
  }
}

/** A kernel file's text, or undefined when it is not there (a missing file is a missing field, not an error). */
function readIfThere(file: string): string | undefined {
  try {
    return readKernelFile(file);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENODEV')) return undefined;
    throw e;
  }
}

/** The number of a one-value file (or of `key` in a key-value file), undefined when absent. */
function numberIn(text: string | undefined, key?: string): number | undefined {
  if (text === undefined) return undefined;
  const v = key === undefined ? text.trim() : keyValues(text).get(key);
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

function keyValues(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) m.set(k, v);
  }
  return m;
}

const lines = (pairs: Array<[string, string | number | bigint]>): string => pairs.map(([k, v]) => `${k} ${v}`).join('\n') + '\n';

/** cgroup v2: the names are the kernel's own; some files are filtered to what docs/interface.md §5.6 lists. */
export class V2Cgroup implements Cgroup {
  constructor(readonly dir: string) {}

  private f(name: string): string { return path.join(this.dir, name); }

  async read(key: CgroupKey): Promise<string> {
    switch (key) {
      case 'memory.events': {
        const kv = keyValues(await readFile(this.f('memory.events')));
        return lines([['oom', kv.get('oom') ?? '0'], ['oom_kill', kv.get('oom_kill') ?? '0']]);
      }
      case 'cpu.stat': {
        const kv = keyValues(await readFile(this.f('cpu.stat')));
        return lines([['usage_usec', kv.get('usage_usec') ?? '0'], ['nr_throttled', kv.get('nr_throttled') ?? '0'], ['throttled_usec', kv.get('throttled_usec') ?? '0']]);
      }
      default: {
        const text = await readFile(this.f(key));
        return text.endsWith('\n') ? text : text + '\n';
      }
    }
  }

  async write(l: Limit): Promise<void> {
    switch (l.key) {
      case 'memory.max': return writeFile(this.f('memory.max'), String(l.value));
      case 'pids.max': return writeFile(this.f('pids.max'), String(l.value));
      case 'cpu.weight': return writeFile(this.f('cpu.weight'), String(l.value));
      case 'cpu.max': return writeFile(this.f('cpu.max'), `${l.value.quota} ${l.value.period}`);
    }
  }

  async oomKills(): Promise<number> {
    return Number(keyValues(await readFile(this.f('memory.events'))).get('oom_kill') ?? 0);
  }

  usage(): CgroupUsage {
    return {
      cpuUsec: numberIn(readIfThere(this.f('cpu.stat')), 'usage_usec'),
      memoryBytes: numberIn(readIfThere(this.f('memory.current'))),
      memoryPeakBytes: numberIn(readIfThere(this.f('memory.peak'))),
      pids: numberIn(readIfThere(this.f('pids.current'))),
      oomKills: numberIn(readIfThere(this.f('memory.events')), 'oom_kill'),
    };
  }

  async procs(): Promise<number[]> {
    return pidList(await readFile(this.f('cgroup.procs')));
  }

  freeze(): Promise<void> {
    return freezeAndWait(
      (on) => writeFile(this.f('cgroup.freeze'), on ? '1' : '0'),
      async () => keyValues(await readFile(this.f('cgroup.events'))).get('frozen') === '1',
    );
  }

  thaw(): Promise<void> {
    return writeFile(this.f('cgroup.freeze'), '0');
  }
}

/** Directories of one container in the v1 hierarchies it needs. */
/** `freezer`: absent when the host has no freezer hierarchy (then freeze() fails). */
export interface V1Dirs { memory: string; cpu: string; cpuacct: string; pids: string; freezer?: string }

/** cgroup v1 mapped onto the v2 names. */
export class V1Cgroup implements Cgroup {
  constructor(readonly dirs: V1Dirs) {}

  async read(key: CgroupKey): Promise<string> {
    const d = this.dirs;
    switch (key) {
      case 'memory.max': {
        const v = BigInt((await readFile(path.join(d.memory, 'memory.limit_in_bytes'))).trim());
        return (v >= V1_UNLIMITED ? 'max' : v.toString()) + '\n';
      }
      case 'memory.current': return readFile(path.join(d.memory, 'memory.usage_in_bytes'));
      case 'memory.peak': return readFile(path.join(d.memory, 'memory.max_usage_in_bytes'));
      case 'memory.events': {
        // v1 counts OOM kills (oom_kill); every v1 OOM event of a container kills, so oom = oom_kill.
        const kills = await this.oomKills();
        return lines([['oom', kills], ['oom_kill', kills]]);
      }
      case 'memory.stat': return readFile(path.join(d.memory, 'memory.stat'));
      case 'cpu.max': {
        const quota = Number((await readFile(path.join(d.cpu, 'cpu.cfs_quota_us'))).trim());
        const period = Number((await readFile(path.join(d.cpu, 'cpu.cfs_period_us'))).trim());
        return `${quota < 0 ? 'max' : quota} ${period}\n`;
      }
      case 'cpu.weight': return `${sharesToWeight(Number((await readFile(path.join(d.cpu, 'cpu.shares'))).trim()))}\n`;
      case 'cpu.stat': {
        const usageNs = BigInt((await readFile(path.join(d.cpuacct, 'cpuacct.usage'))).trim());
        const kv = keyValues(await readFile(path.join(d.cpu, 'cpu.stat')));
        const throttledNs = BigInt(kv.get('throttled_time') ?? '0');
        return lines([['usage_usec', usageNs / 1000n], ['nr_throttled', kv.get('nr_throttled') ?? '0'], ['throttled_usec', throttledNs / 1000n]]);
      }
      case 'pids.max': return readFile(path.join(d.pids, 'pids.max'));
      case 'pids.current': return readFile(path.join(d.pids, 'pids.current'));
    }
  }

  async write(l: Limit): Promise<void> {
    const d = this.dirs;
    switch (l.key) {
      case 'memory.max':
        return writeFile(path.join(d.memory, 'memory.limit_in_bytes'), l.value === 'max' ? '-1' : String(l.value));
      case 'pids.max':
        return writeFile(path.join(d.pids, 'pids.max'), String(l.value));
      case 'cpu.weight':
        return writeFile(path.join(d.cpu, 'cpu.shares'), String(weightToShares(l.value)));
      case 'cpu.max': {
        // Remove the quota first: a period shorter than the current quota is refused otherwise.
        const quota = path.join(d.cpu, 'cpu.cfs_quota_us');
        const old = (await readFile(quota)).trim();
        await writeFile(quota, '-1');
        try {
          await writeFile(path.join(d.cpu, 'cpu.cfs_period_us'), String(l.value.period));
          await writeFile(quota, l.value.quota === 'max' ? '-1' : String(l.value.quota));
        } catch (e) {
          // A refused value changes nothing; the refusal is what the caller hears, so a failed restore is only logged.
          await fs.writeFile(quota, old).catch((re: unknown) => log('restoring %s failed: %s', quota, re));
          throw e;
        }
        return;
      }
    }
  }

  async oomKills(): Promise<number> {
    return Number(keyValues(await readFile(path.join(this.dirs.memory, 'memory.oom_control'))).get('oom_kill') ?? 0);
  }

  usage(): CgroupUsage {
    const d = this.dirs;
    const ns = numberIn(readIfThere(path.join(d.cpuacct, 'cpuacct.usage')));
    return {
      cpuUsec: ns === undefined ? undefined : Math.floor(ns / 1000),
      memoryBytes: numberIn(readIfThere(path.join(d.memory, 'memory.usage_in_bytes'))),
      memoryPeakBytes: numberIn(readIfThere(path.join(d.memory, 'memory.max_usage_in_bytes'))),
      pids: numberIn(readIfThere(path.join(d.pids, 'pids.current'))),
      oomKills: numberIn(readIfThere(path.join(d.memory, 'memory.oom_control')), 'oom_kill'),
    };
  }

  /** runc puts a container in the same place in every hierarchy: the pids controller's list is the list. */
  async procs(): Promise<number[]> {
    return pidList(await readFile(path.join(this.dirs.pids, 'cgroup.procs')));
  }

  private freezerState(): string {
    if (!this.dirs.freezer) throw new SystemFailure('the cgroup v1 freezer is not mounted: the container cannot be frozen');
    return path.join(this.dirs.freezer, 'freezer.state');
  }

  async freeze(): Promise<void> {
    const f = this.freezerState();
    return freezeAndWait((on) => writeFile(f, on ? 'FROZEN' : 'THAWED'), async () => (await readFile(f)).trim() === 'FROZEN');
  }

  async thaw(): Promise<void> {
    return writeFile(this.freezerState(), 'THAWED');
  }
}
