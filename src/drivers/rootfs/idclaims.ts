/**
 * Host-wide claims of id ranges (issue 11 item 7): every tree on the host, whatever its
 * state dir, takes a range only after claiming it here, so two trees never hand out the
 * same range. A claim is a file `/run/wardenfs/idranges/BASE` made with O_EXCL, holding
 * the owning container's directory. /run is emptied at boot; a container started again
 * claims its recorded range again. A claim whose container directory is gone (a state
 * dir removed without `reset`) is stale and may be taken over; a fresh one (under a
 * minute old) is never, as its create may not have made the directory yet.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isErrno, exists } from '../../util/files.js';

export const CLAIMS_DIR = '/run/wardenfs/idranges';
const FRESH_MS = 60_000;

export class IdClaims {
  constructor(readonly dir = CLAIMS_DIR) {}

  private file(base: number): string {
    return path.join(this.dir, String(base));
  }

  /** Claim `base` for `owner` (a container's directory); true if it is now, or already was, owner's. */
  async claim(base: number, owner: string): Promise<boolean> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.writeFile(this.file(base), owner, { flag: 'wx', mode: 0o600 });
        return true;
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw e;
      }
      const [holder, st] = await Promise.all([
        // Released meanwhile: no holder (the claim is made with O_EXCL, which decides).
        fs.readFile(this.file(base), 'utf8').catch(() => undefined),
        fs.stat(this.file(base)).catch(() => undefined),
      ]);
      if (holder === owner) return true;
      if (holder === undefined) continue; // released meanwhile: try again
      const stale = st !== undefined && Date.now() - st.mtimeMs > FRESH_MS && !(await exists(holder));
      if (!stale) return false;
      await fs.rm(this.file(base), { force: true });
    }
    return false;
  }

  /** Release `base` if `owner` holds it (with no base: every claim of `owner`). */
  async release(owner: string, base?: number): Promise<void> {
    const names = base !== undefined ? [String(base)] : await fs.readdir(this.dir).catch(() => [] as string[]); // no claims dir: no claims
    for (const name of names) {
      const f = path.join(this.dir, name);
      // Gone meanwhile: not ours to remove.
      if ((await fs.readFile(f, 'utf8').catch(() => undefined)) === owner) await fs.rm(f, { force: true });
    }
  }
}
