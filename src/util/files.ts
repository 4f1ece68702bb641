/** Small file helpers shared by the state store and the drivers. All work on host paths the daemon owns. */
import { promises as fs, constants as C, openSync, writeSync, readFileSync, closeSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from './exec.js';

/** Write a file so that readers see the old content or the new, never a part (write + fsync + rename). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, { encoding: 'utf8', flag: READ_NOFOLLOW })) as T;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

/**
 * Flags for files of the state dir: a symlink planted in place of one is never followed
 * (ELOOP), whatever it points at (docs/security.md §5).
 */
export const READ_NOFOLLOW = C.O_RDONLY | C.O_NOFOLLOW;
export const WRITE_NOFOLLOW = C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW;
export const APPEND_NOFOLLOW = C.O_WRONLY | C.O_CREAT | C.O_APPEND | C.O_NOFOLLOW;
export const CREATE_EXCL = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

export function isErrno(e: unknown, ...codes: string[]): boolean {
  return typeof e === 'object' && e !== null && codes.includes((e as NodeJS.ErrnoException).code ?? '');
}

/** A short random hex string, for temporary names and generated container names. */
export function randomHex(bytes = 4): string {
  return randomBytes(bytes).toString('hex');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * `fs.rm(dir, { recursive: true, force: true })` for a tree a container wrote: a container
 * can make directories deeper than PATH_MAX from the host's view (relative mkdir, issue 13),
 * where Node's recursive rm fails with ENAMETOOLONG and left destroy and reset half done.
 * Then GNU rm, which walks any depth by directory fds, never follows a symlink, and with
 * --one-file-system never crosses into a mount.
 */
export async function removeTree(dir: string): Promise<void> {
  try {
    await fs.rm(dir, { recursive: true, force: true });
  } catch (e) {
    if (!isErrno(e, 'ENAMETOOLONG')) throw e;
    await run('rm', ['-rf', '--one-file-system', '--', dir]);
  }
}

/**
 * Synchronous small-file I/O for the state dir's own files on a hot path (a start, an end):
 * microseconds each, against a thread-pool round trip per step of the asynchronous calls.
 * Never for the tree's own mount or a container's files.
 */
export function writeSmallSync(file: string, data: string, flags: number, mode = 0o644): void {
  const fd = openSync(file, flags, mode);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

export function readSmallSync(file: string): string {
  const fd = openSync(file, READ_NOFOLLOW);
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
