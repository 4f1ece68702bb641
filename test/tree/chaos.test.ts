/**
 * The short chaos run (issue 17 item 1; `npm run chaos` is the long one): random operations
 * of several writers while the daemon is SIGKILLed and restarted; every invariant holds
 * after every restart and at the end (test/helpers/chaos.ts). SEED=N replays a run's choices.
 */
import test from 'ava';
import { runChaos } from '../helpers/chaos.js';

test.serial('30 s of random operations and daemon kills: nothing lost, nothing half-made, nothing leaked', async (t) => {
  t.timeout(170_000);
  const seed = process.env.SEED ? Number(process.env.SEED) : Math.floor(Math.random() * 2 ** 31);
  t.log(`seed ${seed}`);
  const r = await runChaos({ seconds: 30, seed, tag: 'chaos-short', killEvery: [500, 3000], log: (l) => t.log(l) });
  t.log(JSON.stringify(r));
  t.true(r.restarts >= 2, `the daemon was killed and restarted (${r.restarts})`);
  t.true(r.cutOff >= 1, 'some operation was cut off by a kill');
  t.true(r.checks >= r.restarts + 2);
  t.true(r.containersCreated > 0 && r.processesChecked > 0, 'the writers did work');
});
