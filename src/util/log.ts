/** Logging through `debug` under `wardenfs:*` (docs/interface.md §2): DEBUG=wardenfs:* shows everything. */
import createDebug from 'debug';

export function logger(area: string): createDebug.Debugger {
  return createDebug(`wardenfs:${area}`);
}
