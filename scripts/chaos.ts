/**
 * `npm run chaos`: the long chaos run (issue 17 item 1; test/helpers/chaos.ts). CHAOS_SECONDS
 * bounds it (default 120); SEED replays a run's random choices. Needs root, as the tree tests.
 * Prints the seed at the start, the figures at the end, and the seed again on a failure.
 */
import { runChaos } from '../test/helpers/chaos.js';

const seconds = Number(process.env.CHAOS_SECONDS ?? 120);
const seed = process.env.SEED ? Number(process.env.SEED) : Math.floor(Math.random() * 2 ** 31);
const writers = Number(process.env.CHAOS_WRITERS ?? 3);
console.log(`chaos: seed=${seed} seconds=${seconds} writers=${writers}`);
const started = Date.now();
try {
  const r = await runChaos({ seconds, seed, writers, log: (l) => console.log(l) });
  console.log(`chaos: passed in ${Math.round((Date.now() - started) / 1000)} s`);
  console.log(JSON.stringify(r, null, 2));
} catch (e) {
  console.error(`chaos: FAILED (seed=${seed}, after ${Math.round((Date.now() - started) / 1000)} s): ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
}
