/**
 * What /proc says about another process, read safely: it may be gone (or its pid reused)
 * by the time we look, so every answer is optional and bounded.
 */
import { promises as fs } from 'node:fs';

/**
 * /proc/PID/comm, raw (at most 64 bytes read; the kernel keeps 15), or undefined when the
 * process is gone or the pid is not a plausible one. A thread's pid names the thread.
 */
export async function commOf(pid: number): Promise<Buffer | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(`/proc/${pid}/comm`, 'r');
    const buf = Buffer.alloc(64);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } catch {
    return undefined; // gone: the caller is named by uid and pid only
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
