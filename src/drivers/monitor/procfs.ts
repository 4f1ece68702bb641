/** Small /proc readers: is a pid alive (zombies are not), its parent, its command line. */
import { promises as fs } from 'node:fs';
import { READ_NOFOLLOW, readSmallSync } from '../../util/files.js';

export async function statusField(pid: number, field: string): Promise<string | undefined> {
  const text = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined); // gone: no field
  if (!text) return undefined;
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text);
  return m?.[1]?.trim();
}

/** Alive and not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const state = await statusField(pid, 'State');
  return state !== undefined && !state.startsWith('Z') && !state.startsWith('X');
}

export interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
}

/** Fields of /proc/PID/stat (ids as the host's pid namespace sees them); undefined once it is gone. */
export async function procStat(pid: number): Promise<ProcStat | undefined> {
  const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined); // gone
  if (!text) return undefined;
  // The command name is in parentheses and may hold anything: the fields start after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0] ?? '', ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]) };
}

export async function parentOf(pid: number): Promise<number | undefined> {
  const p = await statusField(pid, 'PPid');
  return p === undefined ? undefined : Number(p);
}

export async function cmdline(pid: number): Promise<string[]> {
  const text = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''); // gone: no arguments
  return text.split('\0').filter(Boolean);
}

/** Is `pid` alive and running a command line that contains `marker` (guards against pid reuse)? */
export async function aliveWith(pid: number, marker: string): Promise<boolean> {
  if (!(await isAlive(pid))) return false;
  return (await cmdline(pid)).some((a) => a.includes(marker));
}

export async function readPid(file: string): Promise<number | undefined> {
  const text = await fs.readFile(file, { encoding: 'utf8', flag: READ_NOFOLLOW }).catch(() => ''); // not written (yet): no pid
  const n = Number(text.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** readPid, synchronously: for the wait on a start's pid file, woken by every change in its directory. */
export function readPidSync(file: string): number | undefined {
  let text = '';
  try {
    text = readSmallSync(file);
  } catch { /* not written (yet): no pid */ }
  const n = Number(text.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
