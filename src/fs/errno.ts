/** The one place where errors become errnos for the kernel (docs/interface.md §6). */
import { constants } from 'node:os';
import { WardenError } from '../errors.js';
import { logger } from '../util/log.js';

const log = logger('fuse');
const errnos = constants.errno as Record<string, number>;

/** A negative errno for fuse-native: typed errors map by class, Node's fs errors by code, anything else is EIO. */
export function toErrno(e: unknown): number {
  if (e instanceof WardenError) return -errnos[e.errno]!;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code && errnos[code] !== undefined) return -errnos[code]!;
  log('unexpected error, answered EIO: %O', e);
  return -errnos.EIO!;
}
