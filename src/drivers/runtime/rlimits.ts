/**
 * What the host allows of per-process limits, checked before a process is started so that a
 * refusal is a clear EINVAL rather than the runtime's failure at exec time (EIO, "error
 * setting rlimit type 7: operation not permitted"). The runtime sets the limits from the host
 * side with prlimit(2) as root, so raising a hard limit is allowed; what the kernel still
 * refuses (kernel/sys.c, do_prlimit) is a soft limit above the hard one (ctl/values.ts
 * refuses that already) and RLIMIT_NOFILE above fs.nr_open, unlimited included. Below a few
 * descriptors the runtime's own init cannot start the program (it opens files after the
 * limits are set), so a nofile under NOFILE_MIN is refused here too.
 */
import { readFileSync } from 'node:fs';
import { BadRequest } from '../../errors.js';
import type { Rlimits } from '../../model/rlimits.js';

/** The fewest descriptors a process can be started with (stdin, stdout, stderr and the runtime's own few). */
export const NOFILE_MIN = 16;

/** fs.nr_open: the highest RLIMIT_NOFILE the kernel takes (read each time: an administrator may change it). */
export function hostNrOpen(): number {
  return Number(readFileSync('/proc/sys/fs/nr_open', 'utf8').trim());
}

/** Throws BadRequest when the host cannot give these limits; `nrOpen` is fs.nr_open (hostNrOpen()). */
export function checkRlimits(r: Rlimits, nrOpen: number): void {
  const n = r.nofile;
  if (!n) return;
  if (n.hard === 'unlimited' || n.hard > nrOpen) {
    throw new BadRequest(`bad rlimit.nofile: the hard limit ${n.hard} is above what the host allows (${nrOpen}, fs.nr_open)`);
  }
  if (n.soft !== 'unlimited' && n.soft < NOFILE_MIN) {
    throw new BadRequest(`bad rlimit.nofile: a soft limit of ${n.soft} is too few to start a process (at least ${NOFILE_MIN})`);
  }
}
