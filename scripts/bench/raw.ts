/**
 * The raw baseline of a create: what wardenfs does, done by hand with the bare tools and no
 * daemon. A fresh upper/work pair, a kernel overlay mount whose lower dir is the image dir of
 * a wardenfs state dir, a bundle with a config.json written here, and `RUNTIME run --detach`
 * of catatonit -P (bind-mounted at /dev/.init, as wardenfs does) under a runtime root of our
 * own. Everything made is released by close(), also on SIGINT/SIGTERM.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { onCleanup, now, ms } from './common.js';

export const CATATONIT = '/usr/bin/catatonit';

const CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/**
 * A config.json of our own, with the mounts and namespaces a wardenfs container has (so that
 * the runtime does the same work) and nothing else: no resources beyond the device rule.
 */
export function rawConfig(rootfs: string, hostname: string, cgroupsPath: string): Record<string, unknown> {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/dev/.init', '-P'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS, ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: false },
    hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/.init', type: 'bind', source: CATATONIT, options: ['bind', 'ro', 'nosuid', 'nodev'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      cgroupsPath,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
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
