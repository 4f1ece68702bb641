/** `wardenfs unmount` and `wardenfs reset`: work without a running daemon. */
import path from 'node:path';
import { run } from '../util/exec.js';
import { isMountPoint } from '../util/mountinfo.js';
import { Warden, type WardenOptions } from '../core/warden.js';
import { BadRequest, Busy } from '../errors.js';
import { holder } from './lock.js';
import { trustStateDir } from './statedir.js';

export async function runUnmount(mountpoint: string): Promise<void> {
  const mp = path.resolve(mountpoint);
  if (!(await isMountPoint(mp))) throw new BadRequest(`${mp} is not mounted`);
  // -z: also clears a stale mount, and one that a shell still has as its cwd.
  await run('fusermount', ['-u', '-z', mp]);
}

export async function runReset(opts: WardenOptions): Promise<void> {
  await trustStateDir(path.resolve(opts.stateDir), { entries: false });
  const w = await Warden.open(opts);
  const pid = await holder(w.paths.pidFile);
  if (pid !== undefined) throw new Busy(`a daemon (pid ${pid}) is using ${w.paths.root}: unmount it first`);
  await w.reset();
}
