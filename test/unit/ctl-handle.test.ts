/**
 * A ctl handle (fs/nodes/ctl.ts) and who ends an unterminated line: a FLUSH ends it only
 * when it comes from a descriptor table (FUSE lock owner) that wrote some of that line;
 * what is still pending at release is carried out then (its error only logged).
 */
import test from 'ava';
import { constants as C } from 'node:fs';
import { ctlFile } from '../../src/fs/nodes/ctl.js';
import type { Handle } from '../../src/fs/nodes/types.js';

async function open(fail = false): Promise<{ h: Handle; ran: string[] }> {
  const ran: string[] = [];
  const node = ctlFile(async (text) => {
    ran.push(text);
    if (fail) throw new Error('failed');
    return 'ok';
  }, 'usage\n', async () => {});
  return { h: await node.open(C.O_WRONLY), ran };
}

const w = (h: Handle, s: string, owner?: bigint): Promise<number> => h.write(Buffer.from(s), Buffer.byteLength(s), 0, undefined, owner);

test("a FLUSH from a table that did not write the line leaves it; the writer's FLUSH runs it", async (t) => {
  const { h, ran } = await open();
  await w(h, 'create x', 1n);
  await h.flush!(2n); // a forked child closing its inherited copy
  t.deepEqual(ran, []);
  await w(h, 'yz', 1n);
  await h.flush!(1n);
  t.deepEqual(ran, ['create xyz']);
  await h.flush!(1n); // nothing pending: nothing runs
  t.deepEqual(ran, ['create xyz']);
});

test('every table that wrote some of the line ends it; writers of earlier lines do not', async (t) => {
  const { h, ran } = await open();
  await w(h, 'create a\ncreate b', 1n); // 1 wrote a whole line and the start of the next
  await w(h, 'c', 2n);
  await h.flush!(2n);
  t.deepEqual(ran, ['create a', 'create bc']);
  await w(h, 'create d\n', 1n);
  await w(h, 'create e', 2n); // 1 wrote nothing of this line
  await h.flush!(1n);
  t.deepEqual(ran, ['create a', 'create bc', 'create d']);
  await h.flush!(2n);
  t.deepEqual(ran, ['create a', 'create bc', 'create d', 'create e']);
});

test('without owners (unknown writer or unknown FLUSH) any FLUSH ends the line', async (t) => {
  const { h, ran } = await open();
  await w(h, 'create x');
  await h.flush!(5n);
  t.deepEqual(ran, ['create x']);
  await w(h, 'create y', 1n);
  await h.flush!(undefined);
  t.deepEqual(ran, ['create x', 'create y']);
});

test('a refused line is still dropped after a FLUSH from a table that did not write it', async (t) => {
  const { h, ran } = await open();
  await t.throwsAsync(w(h, 'x'.repeat(1024 * 1024 + 1), 1n), { message: /message too long/ });
  await h.flush!(2n);
  await t.throwsAsync(w(h, "''stop", 1n), { message: /message too long/ });
  await t.throwsAsync(w(h, '\n', 1n), { message: /message too long/ }); // the refused line ends here
  await w(h, 'create ok\n', 1n);
  t.deepEqual(ran, ['create ok']);
});

test('release runs a line still pending; its error is not thrown (it is in events)', async (t) => {
  const a = await open();
  await w(a.h, 'create x', 1n);
  await a.h.flush!(2n);
  await a.h.release();
  t.deepEqual(a.ran, ['create x']);
  const b = await open(true);
  await w(b.h, 'frob', 1n);
  await t.notThrowsAsync(b.h.release());
  t.deepEqual(b.ran, ['frob']);
});
