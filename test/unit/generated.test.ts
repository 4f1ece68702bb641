/**
 * A file whose content is a stream made at open (src/fs/nodes/generated.ts, export.tar):
 * reads in order get the stream's bytes whatever the chunk sizes; a read ahead skips, a read
 * behind starts the stream again; writes are EPERM; release stops the stream.
 */
import test from 'ava';
import { generatedFile } from '../../src/fs/nodes/generated.js';

const CONTENT = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));

function source(counts: { started: number; stopped: number }) {
  return async function* (): AsyncGenerator<Buffer> {
    counts.started++;
    try {
      // Chunks of odd sizes: 1, 7, 513, 1 …
      const sizes = [1, 7, 513, 1, 4000];
      let i = 0;
      for (let pos = 0; pos < CONTENT.length; i++) {
        const n = sizes[i % sizes.length]!;
        yield CONTENT.subarray(pos, pos + n);
        pos += n;
      }
    } finally {
      counts.stopped++;
    }
  };
}

async function readAll(h: { read(b: Buffer, l: number, p: number): Promise<number> }, size: number): Promise<Buffer> {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = await h.read(buf, size, pos);
    if (n === 0) return Buffer.concat(out);
    out.push(buf.subarray(0, n));
    pos += n;
  }
}

test('reads in order give the whole stream, then EOF; size 0', async (t) => {
  const counts = { started: 0, stopped: 0 };
  const f = generatedFile(source(counts));
  t.is((await f.getattr()).size, 0);
  for (const size of [1, 100, 4096, 131072]) {
    const h = await f.open(0);
    t.true((await readAll(h, size)).equals(CONTENT), String(size));
    await h.release();
  }
  t.is(counts.started, 4);
  t.is(counts.stopped, 4);
});

test('a read ahead skips, a read behind starts again; concurrent reads are served in turn', async (t) => {
  const counts = { started: 0, stopped: 0 };
  const h = await generatedFile(source(counts)).open(0);
  const buf = Buffer.alloc(100);
  t.is(await h.read(buf, 100, 5000), 100);
  t.true(buf.equals(CONTENT.subarray(5000, 5100)));
  t.is(await h.read(buf, 100, 10), 100);
  t.true(buf.equals(CONTENT.subarray(10, 110)));
  t.is(counts.started, 2);
  const a = Buffer.alloc(50);
  const b = Buffer.alloc(50);
  const [na, nb] = await Promise.all([h.read(a, 50, 110), h.read(b, 50, 160)]);
  t.deepEqual([na, nb], [50, 50]);
  t.true(a.equals(CONTENT.subarray(110, 160)) && b.equals(CONTENT.subarray(160, 210)));
  t.is(await h.read(buf, 100, 20_000), 0);
  await h.release();
  t.is(counts.stopped, 2);
});

test('writing is EPERM; a failing stream fails the read', async (t) => {
  const f = generatedFile(source({ started: 0, stopped: 0 }));
  await t.throwsAsync(f.open(1), { code: 'EPERM' });
  const bad = generatedFile(async function* () {
    yield Buffer.from('ab');
    throw new Error('walk failed');
  });
  const h = await bad.open(0);
  const buf = Buffer.alloc(10);
  await t.throwsAsync(h.read(buf, 10, 0), { message: 'walk failed' });
  await h.release();
});
