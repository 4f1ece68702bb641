/** The clock of grace times (core/grace.ts): monotonic, so a change of the wall clock neither hastens nor delays a destroy. */
import { performance } from 'node:perf_hooks';

/** Milliseconds of a monotonic clock. */
export function monotonicMs(): number {
  return performance.now();
}
