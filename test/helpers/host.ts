/** Looking at the host's real state, independently of wardenfs's own code. */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is not alive for our purposes.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Mount points (from /proc/self/mounts) that contain `fragment`. */
export async function mountsWith(fragment: string): Promise<string[]> {
  const text = await fs.readFile('/proc/self/mounts', 'utf8');
  return text.split('\n').filter((l) => l.includes(fragment)).map((l) => l.split(' ')[1]!);
}

/** The cgroup directories of a process, one per hierarchy, as host paths. */
export async function cgroupDirsOf(pid: number): Promise<string[]> {
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2');
  const lines = (await fs.readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n');
  const dirs: string[] = [];
  for (const line of lines) {
    const [, controllers, rel] = line.split(':') as [string, string, string];
    for (const m of mounts) {
      const opts = m[3]!.split(',');
      const matches = controllers === '' ? m[2] === 'cgroup2' : controllers.split(',').every((c) => opts.includes(c));
      if (matches) dirs.push(path.join(m[1]!, rel));
    }
  }
  return dirs;
}

export async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

export async function nsOf(pid: number | 'self', ns: string): Promise<string> {
  return fs.readlink(`/proc/${pid}/ns/${ns}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
