/**
 * The raw baseline of a create: what wardenfs does, done by hand with the bare tools and no
 * daemon. A fresh upper/work pair, a kernel overlay mount whose lower dir is the image dir of
 * a wardenfs state dir, a bundle with the config.json wardenfs would write, and `RUNTIME run --detach`
 * of catatonit -P (bind-mounted at /dev/.init, as wardenfs does) under a runtime root of our
 * own. Everything made is released by close(), also on SIGINT/SIGTERM.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { buildSpec } from '../../src/drivers/runtime/spec.js';
import { onCleanup, now, ms } from './common.js';

export const CATATONIT = '/usr/bin/catatonit';

/**
 * The config.json wardenfs itself writes for a container with default settings and no
 * network (buildSpec, the daemon's own code), so that the runtime does the same work.
 */
export function rawConfig(rootfs: string, hostname: string, cgroupsPath: string): Record<string, unknown> {
  return buildSpec({ hostname, rootfs, initBinary: CATATONIT, cgroupsPath, env: [], settings: {}, seccomp: true });
}

/** Run a program to its end; stdio /dev/null except stderr (kept for the error). */
export function spawnWait(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.once('error', reject);
    child.once('exit', (code, sig) => {
      if (code === 0) return resolve();
      const e = new Error(`${path.basename(file)} ${args.join(' ')}: ${sig ?? code}: ${err.trim()}`) as Error & { stderr?: string };
      e.stderr = err.trim();
      reject(e);
    });
  });
}

export class RawRuntime {
  readonly base: string;
  readonly root: string;
  readonly cgroupTop: string;
  private readonly live = new Set<string>();
  readonly close: () => Promise<void>;

  /** runtime: the binary (or a wrapper) taking runc's command line; lower: the image's rootfs dir. */
  constructor(readonly tag: string, readonly runtime: string, readonly lower: string) {
    this.base = mkdtempSync(path.join(os.tmpdir(), `wfs-bench-raw-${tag}-`));
    this.root = path.join(this.base, 'runtime');
    this.cgroupTop = `wfs-bench-raw-${process.pid}-${tag}`;
    this.close = onCleanup(() => this.closeAll());
  }

  private dir(name: string): string {
    return path.join(this.base, 'c', name);
  }

  /** The whole create, timed in ms: mkdirs, overlay mount, bundle, `run --detach`. */
  async create(name: string): Promise<number> {
    const d = this.dir(name);
    const rootfs = path.join(d, 'rootfs');
    const bundle = path.join(d, 'bundle');
    this.live.add(name);
    const t0 = now();
    await fs.mkdir(path.join(d, 'upper'), { recursive: true });
    await fs.mkdir(path.join(d, 'work'), { recursive: true });
    await fs.mkdir(rootfs, { recursive: true });
    await fs.mkdir(bundle, { recursive: true });
    await spawnWait('/usr/bin/mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${this.lower},upperdir=${d}/upper,workdir=${d}/work`, rootfs]);
    await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(rawConfig(rootfs, name, `/${this.cgroupTop}/${name}`)));
    await spawnWait(this.runtime, ['--root', this.root, 'run', '--detach', '--bundle', bundle, '--pid-file', path.join(bundle, 'init.pid'), name]);
    const pid = Number((await fs.readFile(path.join(bundle, 'init.pid'), 'utf8')).trim());
    const t = ms(now() - t0);
    if (!(pid > 0)) throw new Error(`${name}: no init pid`);
    return t;
  }

  /** `runtime delete -f`, umount, rm: timed in ms. */
  async remove(name: string): Promise<number> {
    const d = this.dir(name);
    const t0 = now();
    await spawnWait(this.runtime, ['--root', this.root, 'delete', '--force', name]).catch(() => undefined);
    await spawnWait('/usr/bin/umount', [path.join(d, 'rootfs')]).catch(() => undefined);
    await fs.rm(d, { recursive: true, force: true });
    this.live.delete(name);
    return ms(now() - t0);
  }

  private async closeAll(): Promise<void> {
    const known = await fs.readdir(this.root).catch(() => [] as string[]);
    for (const name of new Set([...this.live, ...known])) {
      await execa(this.runtime, ['--root', this.root, 'delete', '--force', name], { reject: false });
      await execa('umount', ['-l', path.join(this.dir(name), 'rootfs')], { reject: false });
    }
    // The runtime removes each container's leaf cgroup; the parent is ours.
    const hierarchies = await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[]);
    for (const h of ['', ...hierarchies]) {
      const top = path.join('/sys/fs/cgroup', h, this.cgroupTop);
      for (const leaf of await fs.readdir(top, { withFileTypes: true }).catch(() => [])) {
        if (leaf.isDirectory()) await fs.rmdir(path.join(top, leaf.name)).catch(() => undefined);
      }
      await fs.rmdir(top).catch(() => undefined);
    }
    await fs.rm(this.base, { recursive: true, force: true });
  }
}

/** Whether a runtime can start a container on this host at all (crun refuses hybrid cgroup hosts). */
export async function tryRuntime(runtime: string, lower: string): Promise<string | undefined> {
  const r = new RawRuntime('probe', runtime, lower);
  try {
    await r.create('probe');
    return undefined;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    return (err.stderr || err.message).split('\n').filter(Boolean).slice(-1)[0] ?? 'failed';
  } finally {
    await r.close();
  }
}
