/** The ctl line buffer (ctl/lines.ts): whole lines out whatever the pieces, overlong lines refused whole. */
import test from 'ava';
import { LineBuffer, MAX_MESSAGE } from '../../src/ctl/lines.js';

const b = (s: string): Buffer => Buffer.from(s);

test('one piece with one line gives that line', (t) => {
  const l = new LineBuffer();
  t.deepEqual(l.push(b('create web\n')), { lines: ['create web'] });
  t.false(l.pending);
  t.is(l.end(), undefined);
});

test('a line in many pieces comes out once, whole, when its newline comes', (t) => {
  const l = new LineBuffer();
  const line = "run printf %s 'a''\nb''stop'";
  // cut at every offset: the pieces never come out as lines of their own
  for (let cut = 1; cut < line.length; cut++) {
    const x = new LineBuffer();
    t.deepEqual(x.push(b(line.slice(0, cut).replace('\n', ' '))), { lines: [] });
    t.deepEqual(x.push(b(line.slice(cut).replace('\n', ' ') + '\n')), { lines: [line.replace('\n', ' ')] });
  }
  t.deepEqual(l.push(b('a')), { lines: [] });
  t.true(l.pending);
  t.deepEqual(l.push(b('b\nc')), { lines: ['ab'] });
  t.deepEqual(l.push(b('d\n\ne\n')), { lines: ['cd', '', 'e'] });
});

test('a multi-byte character split between pieces is kept whole', (t) => {
  const l = new LineBuffer();
  const all = b('echo é✓\n');
  t.deepEqual(l.push(all.subarray(0, 6)), { lines: [] });
  t.deepEqual(l.push(all.subarray(6)), { lines: ['echo é✓'] });
});

test('end() gives the unterminated last line once', (t) => {
  const l = new LineBuffer();
  l.push(b('create x'));
  t.is(l.end(), 'create x');
  t.is(l.end(), undefined);
  t.false(l.pending);
});

test('the caller may reuse its buffer after push', (t) => {
  const l = new LineBuffer();
  const buf = b('abc');
  l.push(buf);
  buf.fill(0x7a);
  t.deepEqual(l.push(b('\n')), { lines: ['abc'] });
});

test('a line of exactly the bound passes; one byte more is refused whole, up to its newline', (t) => {
  const max = 16;
  const ok = new LineBuffer(max);
  t.deepEqual(ok.push(b('x'.repeat(max) + '\n')), { lines: ['x'.repeat(max)] });

  const l = new LineBuffer(max);
  t.deepEqual(l.push(b('x'.repeat(10))), { lines: [] });
  const r = l.push(b('y'.repeat(7)));
  t.deepEqual(r.lines, []);
  t.regex(r.refused!.message, /^message too long/);
  t.true(l.refusing);
  t.false(l.pending);
  // later pieces of the refused line are refused too, and never come out
  t.truthy(l.push(b("''stop")).refused);
  // its newline ends it; the next line is a line again
  const after = l.push(b('tail\nnext\n'));
  t.deepEqual(after.lines, ['next']);
  t.truthy(after.refused);
  t.deepEqual(l.push(b('again\n')), { lines: ['again'] });
});

test('lines before an overlong one in the same piece come out, the overlong one does not', (t) => {
  const l = new LineBuffer(8);
  const r = l.push(b('ok\n' + 'z'.repeat(20) + '\nnext'));
  t.deepEqual(r.lines, ['ok']);
  t.truthy(r.refused);
  t.true(l.pending); // "next" waits for its newline
  t.is(l.end(), 'next');
});

test('end() inside a refused line gives nothing and clears the refusal', (t) => {
  const l = new LineBuffer(4);
  t.truthy(l.push(b('123456')).refused);
  t.is(l.end(), undefined);
  t.deepEqual(l.push(b('ok\n')), { lines: ['ok'] });
});

test('abandon drops the rest of a line that ended inside a write', (t) => {
  const l = new LineBuffer();
  l.push(b('bad\nrun x \'half'));
  l.abandon(true);
  t.false(l.pending);
  t.deepEqual(l.push(b("''stop'\nok\n")), { lines: ['ok'] });
  l.abandon(false);
  t.deepEqual(l.push(b('fine\n')), { lines: ['fine'] });
});

test('the default bound is 1 MiB', (t) => {
  t.is(MAX_MESSAGE, 1024 * 1024);
  const l = new LineBuffer();
  const chunk = b('a'.repeat(128 * 1024));
  for (let i = 0; i < 8; i++) t.deepEqual(l.push(chunk), { lines: [] });
  t.truthy(l.push(b('a')).refused);
});
