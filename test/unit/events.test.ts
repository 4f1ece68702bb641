/** The bounded event log (core/events.ts): past `max` bytes only the last `keep` bytes are kept, from a line start. */
import test from 'ava';
import { promises as fs, mkdtempSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { EventLog, EVENTS_MAX, EVENTS_KEEP } from '../../src/core/events.js';

function tmpFile(): string {
  return path.join(mkdtempSync(path.join(os.tmpdir(), 'wfs-events-')), 'events');
}

test('the defaults: 4 MiB at most, 1 MiB kept', (t) => {
  t.is(EVENTS_MAX, 4 * 1024 * 1024);
  t.is(EVENTS_KEEP, 1024 * 1024);
});

test('an endless stream of events never grows the file past max plus one line', async (t) => {
  const file = tmpFile();
  const log = new EventLog(file, 1000, 300);
  let largest = 0;
  for (let i = 0; i < 500; i++) {
    await log.append(`process ${i} exited 0`);
    largest = Math.max(largest, (await fs.stat(file)).size);
  }
  t.true(largest <= 1000 + 40, `largest ${largest}`);
  const lines = (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);
  t.regex(lines[0]!, /^dropped \d+ bytes of older events$/);
  // whole lines only, in order, ending with the last event
  const rest = lines.slice(1);
  for (const l of rest) t.regex(l, /^process \d+ exited 0$/);
  const nums = rest.map((l) => Number(/\d+/.exec(l)![0]));
  t.deepEqual(nums, nums.slice().sort((a, b) => a - b));
  t.is(nums.at(-1), 499);
  await fs.rm(path.dirname(file), { recursive: true });
});

test('the dropped count adds up: kept + dropped = what was there', async (t) => {
  const file = tmpFile();
  const log = new EventLog(file, 100, 50);
  for (let i = 0; i < 9; i++) await log.append(`line ${i} ${'x'.repeat(5)}`); // 13 bytes each
  const text = await fs.readFile(file, 'utf8');
  const first = text.split('\n')[0]!;
  const dropped = Number(/^dropped (\d+) bytes/.exec(first)![1]);
  const kept = text.length - first.length - 1;
  t.is(dropped + kept, 9 * 13, 'every byte written is kept or counted as dropped');
  t.true(dropped > 0);
  t.true(text.endsWith('line 8 xxxxx\n'));
  await fs.rm(path.dirname(file), { recursive: true });
});

test('a line longer than keep leaves only the marker', async (t) => {
  const file = tmpFile();
  const log = new EventLog(file, 100, 50);
  await log.append('y'.repeat(200));
  t.regex(await fs.readFile(file, 'utf8'), /^dropped 201 bytes of older events\n$/);
  await fs.rm(path.dirname(file), { recursive: true });
});

test('lines appended while a write is on its way are all written, once, in order', async (t) => {
  const file = tmpFile();
  const log = new EventLog(file);
  await Promise.all(Array.from({ length: 500 }, (_, i) => log.append(`line ${i}`)));
  const lines = (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);
  t.deepEqual(lines, Array.from({ length: 500 }, (_, i) => `line ${i}`));
  t.is(log.waiting, 0);
});
