/** The progress lines of long imports (issue 19): at most one a period, only when something moved. */
import test from 'ava';
import { progressTicker, PROGRESS_MS } from '../../src/drivers/images/store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a ticker says the state once a period while it changes, nothing while it stalls, nothing after stop', async (t) => {
  let n = 0;
  const said: string[] = [];
  const ticker = progressTicker(() => `${n} entries`, (l) => said.push(l), 20);
  n = 1;
  await sleep(50);
  t.true(said.includes('1 entries'), said.join('|'));
  const stalled = said.length;
  await sleep(80); // no change: no line
  t.is(said.length, stalled);
  n = 2;
  await sleep(50);
  t.is(said[said.length - 1], '2 entries');
  ticker.stop();
  const stopped = said.length;
  n = 3;
  await sleep(60);
  t.is(said.length, stopped, 'silent once stopped');
});

test('imports speak at least once a second', (t) => {
  t.true(PROGRESS_MS <= 1000);
});
