/**
 * What a `run` runs when the image says how it is meant to run (model/image.ts), by
 * Docker's rules:
 * - the program is the Entrypoint followed by the run's words, or, when the run gives
 *   none, by the image's Cmd; without an Entrypoint the run's words (or the Cmd) are the
 *   whole command;
 * - `entrypoint=PROG` replaces the Entrypoint (`entrypoint=` removes it) and the image's Cmd
 *   is then not used (`docker run --entrypoint` resets CMD);
 * - `dir=` defaults to WorkingDir and `user=` to User (names resolved later in the
 *   container's own /etc/passwd and /etc/group, core/users.ts).
 * The Env part (the base under the container's and the run's env=) is applied where the
 * environment is put together (processes.ts). Pure, for the unit tests.
 */
import { BadRequest } from '../errors.js';
import type { ImageConfig } from '../model/image.js';
import type { RunOptions } from '../model/records.js';
import { parseUser } from '../ctl/values.js';

export function runDefaults(o: RunOptions, image: ImageConfig): RunOptions {
  const entry = o.entrypoint !== undefined ? (o.entrypoint === '' ? [] : [o.entrypoint]) : (image.Entrypoint ?? []);
  const args = o.argv.length ? o.argv : o.entrypoint !== undefined ? [] : (image.Cmd ?? []);
  const argv = [...entry, ...args];
  if (argv.length === 0) {
    throw new BadRequest(o.entrypoint === ''
      ? 'no program to run: entrypoint= removes the Entrypoint; name a program after it (run entrypoint= -- PROGRAM [ARG ...])'
      : 'no program to run: name one (run [--] PROGRAM [ARG ...]); the image has no Entrypoint or Cmd');
  }
  const out: RunOptions = { ...o, argv };
  delete out.entrypoint;
  if (out.dir === undefined && image.WorkingDir !== undefined) out.dir = image.WorkingDir;
  if (out.user === undefined && image.User !== undefined) out.user = parseUser(image.User);
  return out;
}
