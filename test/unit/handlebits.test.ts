/**
 * The handle protocol between the adapter and the patched binding (issue 13.6): its bits are
 * declared once, as #defines in the binding's C (patches/fuse-native-2.2.6-wardenfs.patch),
 * exported by the binding (Fuse.HANDLE_BITS) and read by src/fs/adapter.ts. These tests fail
 * when the two sides could disagree: the built binding not the patch's (a stale build), a bit
 * spelled again as a literal in src/, or a layout the adapter's numbering relies on broken.
 */
import test from 'ava';
import Fuse from 'fuse-native';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HANDLE_BITS } from '../../src/fs/adapter.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const patch = readFileSync(path.join(root, 'patches', 'fuse-native-2.2.6-wardenfs.patch'), 'utf8');

/** The value of `#define WARDENFS_NAME` as the patch adds it to fuse-native.c. */
function defined(name: string): bigint {
  const m = new RegExp(`^\\+#define WARDENFS_${name} (.+?)\\s*(?://.*)?$`, 'm').exec(patch);
  if (!m) throw new Error(`no #define WARDENFS_${name} in the patch`);
  const text = m[1]!.trim();
  const shift = /^\(1ULL << (\d+)\)$/.exec(text);
  if (shift) return 1n << BigInt(shift[1]!);
  const hex = /^(0x[0-9a-f]+)u?$/i.exec(text);
  if (hex) return BigInt(hex[1]!);
  throw new Error(`cannot read WARDENFS_${name} = ${text}`);
}

const singleBit = (v: bigint): boolean => v > 0n && (v & (v - 1n)) === 0n;

test('the binding exports the bits the patch declares (a stale build fails here)', (t) => {
  const b = Fuse.HANDLE_BITS;
  t.is(BigInt(b.passthrough), defined('PASSTHROUGH'));
  t.is(BigInt(b.wantsFlush), defined('WANTS_FLUSH'));
  t.is(b.snapshot, defined('SNAPSHOT'));
  t.is(b.dir, defined('DIR'));
});

test('the adapter numbers its handles with the binding\'s bits', (t) => {
  t.is(HANDLE_BITS, Fuse.HANDLE_BITS);
  t.true(Object.isFrozen(HANDLE_BITS));
});

test('the layout the adapter relies on: single bits, apart; its handles positive int32, the binding\'s own above 32 bits', (t) => {
  const { passthrough, wantsFlush, snapshot, dir } = Fuse.HANDLE_BITS;
  const all = [BigInt(passthrough), BigInt(wantsFlush), snapshot, dir];
  for (const v of all) t.true(singleBit(v), `${v} is one bit`);
  t.is(new Set(all).size, all.length);
  // JavaScript's handles go through the binding as int32 (NAPI_ARGV_INT32): positive, so
  // below bit 31; JavaScript's counter runs below wantsFlush, under passthrough.
  t.true(passthrough < 2 ** 31 && wantsFlush < 2 ** 31);
  t.true(wantsFlush < passthrough);
  // The binding's own handles are pointers tagged above 32 bits: no JavaScript number is one.
  t.true(snapshot >= 1n << 32n && dir >= 1n << 32n);
});

test('no handle bit is spelled again in src/fs/ (it is read from the binding)', (t) => {
  const src = path.join(root, 'src', 'fs');
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const literal = /0x40000000|0x20000000|1n? << 6[12]|2 \*\* 6[12]|1073741824|536870912/;
  const found = files.filter((f) => literal.test(readFileSync(path.join(src, f), 'utf8')));
  t.deepEqual(found, []);
});
