/** The marker of a settings change under way (core/changes.ts): on disk exactly while one is, kept after a host failure. */
import test from 'ava';
import { promises as fs, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { markedChange } from '../../src/core/changes.js';
import { ContainerPaths } from '../../src/core/paths.js';
import { BadRequest, SystemFailure } from '../../src/errors.js';

const exists = (p: string) => fs.access(p).then(() => true, () => false);
const dirs: string[] = [];
test.after.always(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});
function paths(): ContainerPaths {
  const d = mkdtempSync(path.join(os.tmpdir(), 'wfs-changes-'));
  dirs.push(d);
  return new ContainerPaths(d);
}

test('on disk while the change runs, gone after', async (t) => {
  const cp = paths();
  const seen = await markedChange(cp, () => exists(cp.changing));
  t.true(seen);
  t.false(await exists(cp.changing));
});

test('two changes at once: the marker stays until the last ends', async (t) => {
  const cp = paths();
  let release!: () => void;
  const slow = markedChange(cp, () => new Promise<void>((r) => { release = r; }));
  await markedChange(cp, async () => undefined);
  t.true(await exists(cp.changing), 'the slow one still runs');
  release();
  await slow;
  t.false(await exists(cp.changing));
});

test('a refusal removes it; a host failure leaves it for the next start', async (t) => {
  const cp = paths();
  await t.throwsAsync(markedChange(cp, async () => { throw new BadRequest('no'); }));
  t.false(await exists(cp.changing), 'a refusal changed nothing');
  await t.throwsAsync(markedChange(cp, async () => { throw new SystemFailure('nft failed'); }));
  t.true(await exists(cp.changing), 'maybe changed part: applied again at the next start');
});
