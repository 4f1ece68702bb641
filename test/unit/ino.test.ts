import test from 'ava';
import { treeIno, treeTag, syntheticIno } from '../../src/fs/ino.js';

test('trees get distinct tags, stable per key', (t) => {
  const a = treeTag('container:a');
  const b = treeTag('container:b');
  const i = treeTag('image:a');
  t.not(a, b);
  t.not(a, i);
  t.is(treeTag('container:a'), a);
  t.true(a >= 1 && a <= 0x7fff);
});

test('a file keeps its own number under its tree\'s tag; other trees and synthetic files never collide', (t) => {
  const a = treeTag('container:ino-a');
  const b = treeTag('container:ino-b');
  t.is(treeIno(a, 5, 1234n, 5), (BigInt(a) << 48n) | 1234n);
  t.not(treeIno(a, 5, 1234n, 5), treeIno(b, 5, 1234n, 5));
  t.true(syntheticIno('/containers/x/status') < 1n << 48n);
  t.true(treeIno(a, 5, 1n, 5) >= 1n << 48n);
  t.true(treeIno(a, 5, 1n, 5) < 1n << 63n);
});

test('numbers too large or on another device are hashed above 2^47, apart from real ones', (t) => {
  const a = treeTag('container:ino-c');
  const big = treeIno(a, 5, 1n << 50n, 5);
  const other = treeIno(a, 6, 1234n, 5);
  t.true((big & ((1n << 48n) - 1n)) >= 1n << 47n);
  t.true((other & ((1n << 48n) - 1n)) >= 1n << 47n);
  t.not(big, other);
  t.is(treeIno(a, 6, 1234n, 5), other);
});

test('synthetic numbers: the root is 1, others stable and distinct', (t) => {
  t.is(syntheticIno('/'), 1n);
  t.is(syntheticIno('/ctl'), syntheticIno('/ctl'));
  t.not(syntheticIno('/ctl'), syntheticIno('/events'));
});
