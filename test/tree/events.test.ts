/** events files are bounded (issue 11.6): past 4 MiB the last 1 MiB is kept, and tail -f goes on across the trim. */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { spawn } from 'node:child_process';
import { Tree } from '../helpers/tree.js';
import { sleep } from '../helpers/host.js';
import { EVENTS_MAX, EVENTS_KEEP } from '../../src/core/events.js';

const tree = new Tree('events');
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

test('a flood of events keeps events under its bound; tail -f follows across the trim', async (t) => {
  t.timeout(120_000);
  await tree.ctl(tree.p('ctl'), 'create flood');
  const c = (...p: string[]) => tree.p('containers', 'flood', ...p);
  const events = c('events');
  const tail = spawn('tail', ['-f', events]);
  let seen = '';
  tail.stdout.on('data', (d: Buffer) => { seen += d.toString(); });
  try {
    await fs.writeFile(c('ctl'), 'frob before\n').catch(() => undefined);
    await sleep(1500);
    // each refused message is an events line of ~600 KiB: 10 of them pass 4 MiB
    let largest = 0;
    for (let i = 0; i < 10; i++) {
      await fs.writeFile(c('ctl'), `frob ${i} ${'z'.repeat(600_000)}\n`).catch(() => undefined);
      largest = Math.max(largest, (await fs.stat(events)).size);
    }
    // and the endless kind: processes that start and exit
    for (let i = 0; i < 20; i++) {
      const id = await tree.ctl(c('ctl'), 'run true');
      await fs.readFile(c('procs', id, 'wait'));
    }
    await fs.writeFile(c('ctl'), 'frob after\n').catch(() => undefined);
    t.true(largest <= EVENTS_MAX + 700_000, `largest ${largest}`);
    const text = await fs.readFile(events, 'utf8');
    t.true(text.length <= EVENTS_MAX, `now ${text.length}`);
    t.regex(text, /^dropped \d+ bytes of older events\n/);
    t.notRegex(text, /frob before/);
    t.regex(text, /^error: unknown message "frob after"$/m);
    t.regex(text, /^process \d+ exited 0$/m);
    // tail -f, which saw the file shrink, reads on in the new file: the last line reaches it
    const deadline = Date.now() + 15_000;
    while (!seen.includes('frob after') && Date.now() < deadline) await sleep(200);
    t.regex(seen, /frob before/);
    t.regex(seen, /error: unknown message "frob after"/);
    t.true(EVENTS_KEEP < EVENTS_MAX);
  } finally {
    tail.kill();
  }
});
