/**
 * A table file's handle (fs/nodes/table.ts): lines gathered across writes, who ends an
 * unterminated last line (a FLUSH from a descriptor table that wrote some of it, as for
 * ctl files), and the emptying of an O_TRUNC open that wrote nothing (at the first FLUSH,
 * whoever's: the truncate carries no owner), which never turns the writer's lines into additions.
 */
import test from 'ava';
import { constants as C } from 'node:fs';
import { tableFile } from '../../src/fs/nodes/table.js';
import type { FileNode, Handle } from '../../src/fs/nodes/types.js';

let n = 0;
function table(initial: string[] = []): { node: FileNode; rows: () => string[]; sets: string[][] } {
  let rows = [...initial];
  const sets: string[][] = [];
  const node = tableFile({
    key: `t${n++}`,
    lines: () => rows,
    async set(lines) {
      if (lines.some((l) => !/^\d+:\d+$/.test(l))) throw new Error(`bad line in ${JSON.stringify(lines)}`);
      sets.push(lines);
      rows = lines;
    },
  });
  return { node, rows: () => rows, sets };
}

const w = (h: Handle, s: string, owner?: bigint): Promise<number> => h.write(Buffer.from(s), Buffer.byteLength(s), 0, undefined, owner);

test('a line cut between writes is one entry; a FLUSH from a table that did not write it leaves it; the writer\'s FLUSH applies it', async (t) => {
  const { node, rows, sets } = table(['1:1']);
  const h = await node.open(C.O_WRONLY | C.O_TRUNC);
  await w(h, '8080:80\n9090:9', 1n);
  t.deepEqual(rows(), ['8080:80']);
  await h.flush!(2n); // a forked child closing its inherited copy
  t.deepEqual(rows(), ['8080:80']);
  await w(h, '0\n7070:7', 1n);
  await h.flush!(3n);
  t.deepEqual(rows(), ['8080:80', '9090:90']);
  await w(h, '0', 1n);
  await h.flush!(1n);
  t.deepEqual(rows(), ['8080:80', '9090:90', '7070:70']);
  await h.release();
  t.is(sets.length, 3);
});

test('O_TRUNC without a write: emptied at the first FLUSH, once; lines written after a child\'s FLUSH still replace the table', async (t) => {
  const a = table(['1:1', '2:2']);
  let h = await a.node.open(C.O_WRONLY | C.O_TRUNC);
  t.deepEqual(a.rows(), ['1:1', '2:2'], 'the open alone changes nothing');
  await h.flush!(1n); // `: > ports`
  t.deepEqual(a.rows(), []);
  await h.release();
  t.deepEqual(a.sets, [[]]);

  const b = table(['1:1']);
  h = await b.node.open(C.O_WRONLY | C.O_TRUNC);
  await h.flush!(2n); // a child's close before the writer's first write: the emptying comes early
  t.deepEqual(b.rows(), []);
  const other = await b.node.open(C.O_WRONLY | C.O_APPEND); // another process adds meanwhile
  await w(other, '5:5\n', 9n);
  await other.release();
  t.deepEqual(b.rows(), ['5:5']);
  await w(h, '8080:80\n', 1n);
  await w(h, '9090:90\n', 1n);
  await h.flush!(1n);
  await h.release();
  t.deepEqual(b.rows(), ['8080:80', '9090:90'], 'exactly what the open file wrote');
});

test('a truncate by path marks the open files not written yet; with none open it empties at once', async (t) => {
  const { node, rows } = table(['1:1']);
  const h = await node.open(C.O_WRONLY);
  await node.truncate!(0);
  t.deepEqual(rows(), ['1:1']);
  await h.flush!(1n);
  t.deepEqual(rows(), []);
  await h.release();
  const r = await node.open(C.O_RDONLY); // a reader is no candidate,
  const a = await node.open(C.O_WRONLY | C.O_APPEND);
  await w(a, '3:3\n', 1n); // nor an open file that wrote: emptied at once
  await node.truncate!(0);
  t.deepEqual(rows(), []);
  await a.flush!(1n);
  t.deepEqual(rows(), []);
  await r.release();
  await a.release();
});

test('>> adds; a refused write changes nothing, is not emptied at close, and drops the rest of its line', async (t) => {
  const { node, rows } = table(['1:1']);
  let h = await node.open(C.O_WRONLY | C.O_APPEND);
  await w(h, '2:2\n', 1n);
  t.deepEqual(rows(), ['1:1', '2:2']);
  await h.release();
  h = await node.open(C.O_WRONLY | C.O_TRUNC);
  await t.throwsAsync(w(h, 'bad\n4:', 1n), { message: /bad line/ });
  await w(h, '4\n', 1n); // the tail of the refused write's line: dropped
  await h.flush!(1n);
  await h.release();
  t.deepEqual(rows(), ['1:1', '2:2']);
});

test('release applies a line still pending; its error is not thrown', async (t) => {
  const { node, rows } = table();
  let h = await node.open(C.O_WRONLY | C.O_TRUNC);
  await w(h, '8080:80', 1n);
  await h.flush!(2n);
  await h.release();
  t.deepEqual(rows(), ['8080:80']);
  h = await node.open(C.O_WRONLY | C.O_TRUNC);
  await w(h, 'frob', 1n);
  await t.notThrowsAsync(h.release());
  t.deepEqual(rows(), ['8080:80']);
});

test('without owners any FLUSH ends the line', async (t) => {
  const { node, rows } = table();
  const h = await node.open(C.O_WRONLY | C.O_TRUNC);
  await w(h, '8080:80');
  await h.flush!(5n);
  t.deepEqual(rows(), ['8080:80']);
  await w(h, '9090:90', 1n);
  await h.flush!(undefined);
  t.deepEqual(rows(), ['8080:80', '9090:90']);
  await h.release();
});

test('a line over 1 MiB is refused whole: EINVAL for each write of it, one refusal logged, the table unchanged', async (t) => {
  let rows = ['1:1'];
  const refused: string[] = [];
  const node = tableFile({
    key: `t${n++}`,
    lines: () => rows,
    async set(lines) { rows = lines; },
    async refuse(m) { refused.push(m); },
  });
  const h = await node.open(C.O_WRONLY | C.O_TRUNC);
  const piece = '9'.repeat(600 * 1024);
  await t.throwsAsync(w(h, '8080:' + piece, 1n).then(() => w(h, piece, 1n)), { message: /message too long/ });
  await t.throwsAsync(w(h, piece + '\n', 1n), { message: /message too long/ });
  t.is(refused.length, 1);
  t.deepEqual(rows, ['1:1']);
  await w(h, '7070:70\n', 1n); // the next line is a line of its own again
  t.deepEqual(rows, ['7070:70']);
  await h.release();
});
