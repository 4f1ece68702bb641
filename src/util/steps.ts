/**
 * Timing the steps of one operation (a `run`), for finding where its time goes:
 * DEBUG=wardenfs:steps logs one line per operation, each step's milliseconds since the one
 * before. Costs nothing when that namespace is off (marks are not even taken).
 */
import { logger } from './log.js';

const log = logger('steps');

export interface Steps {
  mark(step: string): void;
  done(what: string): void;
}

const OFF: Steps = { mark: () => undefined, done: () => undefined };

export function steps(): Steps {
  if (!log.enabled) return OFF;
  const t0 = process.hrtime.bigint();
  let last = t0;
  const parts: string[] = [];
  return {
    mark(step: string): void {
      const t = process.hrtime.bigint();
      parts.push(`${step}=${(Number(t - last) / 1e6).toFixed(2)}`);
      last = t;
    },
    done(what: string): void {
      log('%s total=%s %s', what, (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(2), parts.join(' '));
    },
  };
}
