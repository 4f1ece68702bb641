import test from 'ava';
import { deviceTag, treeIno, syntheticIno } from '../../src/fs/ino.js';

const makedev = (major: number, minor: number): number =>
  ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12) | 0; // small majors only

test('each overlay (an anonymous device) has its own tag; block devices are hashed into their own range', (t) => {
  t.is(deviceTag(makedev(0, 45)), 46n);
  t.is(deviceTag(makedev(0, 300)), 301n);
  t.not(deviceTag(makedev(0, 45)), deviceTag(makedev(0, 46)));
  const blk = deviceTag(makedev(254, 1));
  t.true(blk > 0x4000n && blk <= 0x7fffn);
  t.is(deviceTag(makedev(254, 1)), blk);
});

test('a file keeps its own number under its device\'s tag; other devices and synthetic files never collide', (t) => {
  const a = makedev(0, 45);
  const b = makedev(0, 46);
  t.is(treeIno(a, 1234n), (46n << 48n) | 1234n);
  t.not(treeIno(a, 1234n), treeIno(b, 1234n));
  t.true(syntheticIno('/containers/x/status') < 1n << 48n);
  t.true(treeIno(a, 1n) >= 1n << 48n);
  t.true(treeIno(makedev(254, 1), 1n << 60n) < 1n << 63n);
});

test('numbers too large are hashed above 2^47, apart from real ones', (t) => {
  const a = makedev(0, 45);
  const big = treeIno(a, 1n << 50n);
  t.true((big & ((1n << 48n) - 1n)) >= 1n << 47n);
  t.is(treeIno(a, 1n << 50n), big);
  t.not(treeIno(a, 1n << 50n), treeIno(a, (1n << 50n) + 1n));
});

test('synthetic numbers: the root is 1, others stable and distinct', (t) => {
  t.is(syntheticIno('/'), 1n);
  t.is(syntheticIno('/ctl'), syntheticIno('/ctl'));
  t.not(syntheticIno('/ctl'), syntheticIno('/events'));
});
