/**
 * One daemon per state dir: daemon.pid holds the pid of the daemon that owns it. A pid
 * file whose process is gone (SIGKILL) is stale and taken over.
 */
import { promises as fs } from 'node:fs';
import { Busy } from '../errors.js';
import { isErrno, READ_NOFOLLOW, CREATE_EXCL } from '../util/files.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return isErrno(e, 'EPERM');
  }
}

/** The pid of a live daemon holding this state dir, if any. */
export async function holder(pidFile: string): Promise<number | undefined> {
  // No readable pid file: no daemon holds the dir (the lock itself is taken exclusively after).
  const text = await fs.readFile(pidFile, { encoding: 'utf8', flag: READ_NOFOLLOW }).catch(() => '');
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  if (!alive(pid)) return undefined;
  // A recycled pid belongs to some other program: only a process running wardenfs counts.
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''); // ended meanwhile: not a holder
  return cmdline.includes('wardenfs') || cmdline.includes('cli.js') ? pid : undefined;
}

export async function acquire(pidFile: string): Promise<void> {
  const pid = await holder(pidFile);
  if (pid !== undefined) throw new Busy(`the state dir is in use by the daemon with pid ${pid}`);
  // A stale file (or anything planted in its place: unlink never follows) goes; the new
  // one is made with O_EXCL, so of two daemons starting at once only one gets it.
  await fs.rm(pidFile, { force: true });
  await fs.writeFile(pidFile, `${process.pid}\n`, { mode: 0o644, flag: CREATE_EXCL }).catch((e: unknown) => {
    if (isErrno(e, 'EEXIST')) throw new Busy('the state dir is being taken by another daemon');
    throw e;
  });
}

export async function release(pidFile: string): Promise<void> {
  // No pid file: nothing of ours to release.
  const text = await fs.readFile(pidFile, { encoding: 'utf8', flag: READ_NOFOLLOW }).catch(() => '');
  if (Number(text.trim()) === process.pid) await fs.rm(pidFile, { force: true });
}
