/** Reading /proc/self/mountinfo: which paths are mount points, and of what type. */
import { promises as fs } from 'node:fs';

export interface MountEntry { mountPoint: string; fsType: string; source: string }

/** mountinfo escapes blanks, tabs, newlines and backslashes as octal (\040 …). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function readMounts(): Promise<MountEntry[]> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const fields = pre.split(' ');
    const [fsType, source] = post.split(' ');
    out.push({ mountPoint: unescape(fields[4] ?? ''), fsType: fsType ?? '', source: unescape(source ?? '') });
  }
  return out;
}

export async function isMountPoint(p: string): Promise<boolean> {
  return (await readMounts()).some((m) => m.mountPoint === p);
}

/** Mount points of every cgroup hierarchy (v1 controllers and the v2 unified one). */
export async function cgroupMounts(): Promise<MountEntry[]> {
  return (await readMounts()).filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2');
}
