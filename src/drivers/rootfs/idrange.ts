/**
 * Host id ranges of containers in a user namespace (issue 11 item 7). Pure.
 *
 * One range of 65536 ids per container (not per tree): two containers of one tree never
 * share a host id, so a process that escapes one container finds the other's files as
 * "other" at best. Ranges lie in [2^30, 2^31): above the host's users and the ranges
 * /etc/subuid hands out (100000 + 65536·n), below 2^31 so that every id stays a positive
 * signed 32-bit number (ping_group_range, tools that print ids signed). That makes 16384
 * slots. Each tree starts at its own slot (from its instance hash) and takes the lowest
 * free slot after it; a slot is used only once claimed host-wide (idclaims.ts), so trees
 * whose starts fall close skip each other's ranges.
 */
export const RANGE_SIZE = 65536;
export const FIRST_ID = 2 ** 30;
export const SLOTS = (2 ** 31 - FIRST_ID) / RANGE_SIZE;

import type { IdRange } from '../../model/records.js';
export type { IdRange };

/** The lowest free range of this tree (`taken`: bases of its containers), starting from the tree's own slot. */
export function allocateRange(instance: string, taken: ReadonlySet<number>): IdRange {
  const start = parseInt(instance.slice(0, 8), 16) % SLOTS;
  for (let k = 0; k < SLOTS; k++) {
    const base = FIRST_ID + ((start + k) % SLOTS) * RANGE_SIZE;
    if (!taken.has(base)) return { base, size: RANGE_SIZE };
  }
  throw new Error('no free id range');
}
