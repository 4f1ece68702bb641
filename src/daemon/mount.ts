/**
 * `wardenfs mount`: run the daemon in the foreground. Order matters: lock the state
 * dir, take up images and containers, then mount and print `ready MOUNTPOINT`. On
 * SIGINT/SIGTERM (or when someone unmounts the tree) it unmounts and exits 0, leaving
 * containers running for the next mount with the same state dir.
 */
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { Warden, type WardenOptions } from '../core/warden.js';
import { FuseAdapter } from '../fs/adapter.js';
import { buildTree } from '../fs/tree.js';
import { isMountPoint } from '../util/mountinfo.js';
import { BadRequest } from '../errors.js';
import { acquire, release } from './lock.js';
import { trustStateDir } from './statedir.js';
import { logger } from '../util/log.js';
import { mountDev, type MountGuard } from '../drivers/images/source.js';
import { takeNotifySocket } from './notify.js';
import { CriServer } from '../cri/server.js';
import { version } from '../usage.js';

const log = logger('daemon');

export interface MountOptions extends WardenOptions {
  mountpoint: string;
  /** Other host users may enter the tree (docs/security.md, "Other users"); root alone by default. */
  allowOther?: boolean;
  /** Serve CRI on this unix socket too (docs/cri.md). */
  criSocket?: string;
  /** CRI PullImage's directory of OCI layouts keyed by reference. */
  imageMirror?: string;
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export async function runMount(opts: MountOptions): Promise<void> {
  const mountpoint = path.resolve(opts.mountpoint);
  const stateDir = path.resolve(opts.stateDir);
  // The daemon must never touch its own mount: its state cannot live under it.
  if (inside(stateDir, mountpoint)) throw new BadRequest('the state dir cannot be inside the mountpoint');

  quietOutputs();
  // Under systemd (Type=notify): READY=1 once the tree is mounted, progress as STATUS=.
  const notify = takeNotifySocket();
  const progress = (line: string): void => {
    say(`wardenfs: ${line}\n`);
    log(line);
    notify.send(`STATUS=${line}`);
  };
  // Only a state dir that is root's is trusted (statedir.ts): checked before anything is written in it.
  await trustStateDir(stateDir);
  const warden = await Warden.open({ ...opts, stateDir });
  await acquire(warden.paths.pidFile);

  // The daemon never crashes on bad input; an unexpected failure is logged and the mount stays up.
  // Reporting must not fail in turn: one report at a time, and a failure inside it is dropped.
  let reporting = false;
  const unexpected = (what: string, e: unknown): void => {
    if (reporting) return;
    reporting = true;
    try {
      progress(`unexpected ${what}: ${String((e as Error)?.stack ?? e)}`);
    } catch {
      // nowhere left to say it
    } finally {
      reporting = false;
    }
  };
  process.on('uncaughtException', (e) => unexpected('error', e));
  process.on('unhandledRejection', (e) => unexpected('rejection', e));

  try {
    await warden.start(progress);
  } catch (e) {
    await release(warden.paths.pidFile);
    throw e;
  }

  const allowOther = opts.allowOther ?? false;
  const adapter = new FuseAdapter(buildTree(warden, { allowOther }), { allowOther });
  if (allowOther) progress('--allow-other: other users may enter the tree; rootfs/ acts with their credentials');
  // Uses of container trees that the binding answered itself count for grace times (core/grace.ts).
  warden.useProbe = () => adapter.pollUses();
  // Import sources must keep out of the tree: its real path is known before it is mounted
  // (from its parent's: the mountpoint itself may be missing or a stale mount).
  const parent = path.dirname(mountpoint);
  const realParent = await fs.realpath(parent).catch((e: unknown) => {
    log('realpath %s: %s (the guard takes the path as given)', parent, e);
    return parent;
  });
  const realMountpoint = path.join(realParent, path.basename(mountpoint));
  const guard: MountGuard = { paths: [...new Set([mountpoint, realMountpoint])] };
  warden.images.guard = guard;
  // fuse-native makes a missing mountpoint and clears a stale mount (force) itself.
  try {
    await adapter.mount(mountpoint);
  } catch (e) {
    await release(warden.paths.pidFile);
    throw new BadRequest(`cannot mount ${mountpoint}: ${(e as Error).message}`);
  }
  guard.dev = await mountDev(realMountpoint).catch((e: unknown) => {
    log('device of %s: %s (the guard compares paths only)', realMountpoint, e);
    return undefined;
  });

  // The CRI face serves the same Warden, once the tree is mounted (what kubelet makes shows there at once).
  let cri: CriServer | undefined;
  if (opts.criSocket) {
    cri = new CriServer(warden, { socket: path.resolve(opts.criSocket), ...(opts.imageMirror ? { imageMirror: path.resolve(opts.imageMirror) } : {}), version: version() });
    try {
      await cri.start();
    } catch (e) {
      await adapter.unmount().catch((ue: unknown) => log('unmount after a failed CRI start: %s', ue));
      await release(warden.paths.pidFile);
      throw e;
    }
    progress(`serving CRI on ${opts.criSocket}`);
  }

  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    notify.send('STOPPING=1');
    progress(`${why}: unmounting ${mountpoint}`);
    clearInterval(watch);
    warden.stop();
    await cri?.stop().catch((e: unknown) => log('stopping CRI: %s', e));
    await adapter.unmount();
    await release(warden.paths.pidFile);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // `wardenfs unmount` (or umount) takes the tree away: then the daemon has nothing to serve.
  const watch = setInterval(() => {
    isMountPoint(mountpoint).then((mounted) => {
      if (!mounted) void stop('unmounted');
    }, (e: unknown) => log('mount check of %s: %s (tried again in a second)', mountpoint, e));
  }, 1000);

  say(`ready ${mountpoint}\n`, process.stdout);
  notify.send('READY=1', `STATUS=serving ${mountpoint}`, `MAINPID=${process.pid}`);
}

/**
 * The daemon's stdout and stderr may go away under it: a parent that reads them through a
 * pipe and dies (or closes them) turns every later write into EPIPE, which a stream emits
 * as an 'error' event. Unheard, that event was an uncaught exception, whose handler logged
 * it to stderr, which failed again, and so on: the daemon spun at 100% CPU and starved its
 * own requests. Write errors of both are now dropped (the stream stays destroyed and later
 * writes do nothing); the daemon goes on serving the tree without its output.
 */
function quietOutputs(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') === 0) stream.on('error', () => undefined);
  }
}

/** Write to stderr (or stdout) if it is still there; never throws. */
function say(text: string, stream: NodeJS.WriteStream = process.stderr): void {
  if (stream.destroyed || !stream.writable) return;
  try {
    stream.write(text);
  } catch {
    // a closed descriptor: nothing to tell it
  }
}
