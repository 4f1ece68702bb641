/**
 * Properties and grace times (src/ctl/props.ts): the grammar of keys and values, the table
 * rule for a repeated key, durations; `create prop.KEY=VALUE grace=…` (ctl/messages.ts);
 * container.json with and without them (core/record.ts); the lookup (core/properties.ts).
 */
import test from 'ava';
import {
  parseProperty, parsePropertyKey, parsePropertyValue, propertiesFrom, formatProperties,
  parseDuration, formatDuration, parseGrace, formatGrace, MAX_PROPERTIES,
} from '../../src/ctl/props.js';
import { parseGlobal } from '../../src/ctl/messages.js';
import { encodeRecord, decodeRecord, type RecordFile } from '../../src/core/record.js';
import { propertyKeys, propertyValues, withProperty, type Described } from '../../src/core/properties.js';
import { BadRequest } from '../../src/errors.js';

test('KEY=VALUE: the key ends at the first =, a value may hold = and blanks inside', (t) => {
  t.deepEqual(parseProperty('app=web'), ['app', 'web']);
  t.deepEqual(parseProperty('url=a=b=c'), ['url', 'a=b=c']);
  t.deepEqual(parseProperty('garden.network:ip-4=10.0.0.1'), ['garden.network:ip-4', '10.0.0.1']);
  t.deepEqual(parseProperty('note=two words'), ['note', 'two words']);
  t.deepEqual(parseProperty('_k=é'), ['_k', 'é']);
  t.deepEqual(parseProperty('k=.hidden'), ['k', '.hidden']);
});

test('bad keys: exact errors', (t) => {
  const keyErr = (k: string) => `bad property key ${JSON.stringify(k)}: use 1 to 63 of A-Z a-z 0-9 _ . - : starting with a letter, digit or _`;
  for (const k of ['', '.', '..', '.x', 'a/b', 'a b', 'a\0b', '-x', 'k'.repeat(64), 'é']) {
    t.throws(() => parsePropertyKey(k), { instanceOf: BadRequest, message: keyErr(k) }, k);
  }
  t.is(parsePropertyKey('k'.repeat(63)), 'k'.repeat(63));
  t.throws(() => parseProperty('noequals'), { instanceOf: BadRequest, message: 'bad property "noequals": want KEY=VALUE' });
  t.throws(() => parseProperty('=v'), { instanceOf: BadRequest, message: keyErr('') });
});

test('bad values: empty, too long, / or control characters, blanks at the ends, . and ..', (t) => {
  const err = (why: string) => ({ instanceOf: BadRequest, message: `bad value of property "k": ${why}` });
  t.throws(() => parsePropertyValue('k', ''), err('empty (to unset a property, write the table without its line)'));
  t.throws(() => parsePropertyValue('k', 'v'.repeat(192)), err('longer than 191 bytes'));
  t.is(parsePropertyValue('k', 'v'.repeat(191)), 'v'.repeat(191));
  t.throws(() => parsePropertyValue('k', 'é'.repeat(96)), err('longer than 191 bytes')); // 192 bytes
  for (const v of ['a/b', 'a\nb', 'a\0b', 'a\tb', '\x7f']) t.throws(() => parsePropertyValue('k', v), err("no '/' or control characters"), JSON.stringify(v));
  t.throws(() => parsePropertyValue('k', ' v'), err('no blanks at either end'));
  t.throws(() => parsePropertyValue('k', 'v '), err('no blanks at either end'));
  t.throws(() => parsePropertyValue('k', '.'), err('"." is not a name'));
  t.throws(() => parsePropertyValue('k', '..'), err('".." is not a name'));
});

test('a later line for a key wins; read back sorted by key; bounded in number', (t) => {
  const p = propertiesFrom([['b', '1'], ['a', '1'], ['b', '2']]);
  t.deepEqual(p, { a: '1', b: '2' });
  t.deepEqual(formatProperties(p), ['a=1', 'b=2']);
  t.deepEqual(Object.keys(propertiesFrom([['z', '1'], ['A', '1'], ['a', '1'], ['_', '1']])), ['A', '_', 'a', 'z']);
  const many = Array.from({ length: MAX_PROPERTIES }, (_, i) => [`k${i}`, 'v'] as [string, string]);
  t.is(Object.keys(propertiesFrom(many)).length, MAX_PROPERTIES);
  t.throws(() => propertiesFrom([...many, ['one-more', 'v']]), { instanceOf: BadRequest, message: `too many properties: at most ${MAX_PROPERTIES}` });
  // the same key many times is one property
  t.deepEqual(propertiesFrom([...Array.from({ length: 1000 }, () => ['k', 'v'] as [string, string])]), { k: 'v' });
});

test('a key named __proto__ is a key like any other', (t) => {
  const p = propertiesFrom([['__proto__', 'x'], ['constructor', 'y']]);
  t.deepEqual(Object.keys(p), ['__proto__', 'constructor']);
  t.is(Object.getPrototypeOf(p), Object.prototype);
  t.deepEqual(formatProperties(p), ['__proto__=x', 'constructor=y']);
  const c = { name: 'c1', record: { properties: p } };
  t.deepEqual(propertyKeys([c]), ['__proto__', 'constructor']);
  t.deepEqual(withProperty([c], '__proto__', 'x'), ['c1']);
  t.deepEqual(propertyValues([{ name: 'c2', record: { properties: { a: '1' } } }], 'constructor'), []);
  t.deepEqual(withProperty([{ name: 'c2', record: { properties: { a: '1' } } }], 'toString', String(Object.prototype.toString)), []);
});

test('durations: seconds or Go-style units, largest first, 1s to 365d; formatted back', (t) => {
  t.is(parseDuration('90'), 90);
  t.is(parseDuration('2s'), 2);
  t.is(parseDuration('5m'), 300);
  t.is(parseDuration('1h30m'), 5400);
  t.is(parseDuration('1d2h3m4s'), 93784);
  t.is(parseDuration('365d'), 365 * 86400);
  for (const bad of ['', '0', '0s', '366d', '1.5m', '5 m', '-1', 'm', '30m1h', '1m1m', '5ms', '1w', 'none']) {
    t.throws(() => parseDuration(bad, 'grace'), { instanceOf: BadRequest, message: `bad grace ${JSON.stringify(bad)}: want seconds or a duration such as 90s, 5m, 1h30m, 2d (at least 1s, at most 365d)` }, bad);
  }
  for (const [s, text] of [[2, '2s'], [300, '5m'], [5400, '1h30m'], [86400, '1d'], [93784, '1d2h3m4s'], [3601, '1h1s']] as const) {
    t.is(formatDuration(s), text);
    t.is(parseDuration(text), s);
  }
  t.is(parseGrace('none'), 'none');
  t.is(parseGrace(' 5m\n'), 300);
  t.is(formatGrace(undefined), 'none');
  t.is(formatGrace(120), '2m');
});

test('create: prop.KEY=VALUE repeatable (a later one wins), grace=DURATION or none', (t) => {
  t.deepEqual(parseGlobal('create web prop.app=web prop.tier=front prop.app=api grace=5m'), {
    verb: 'create', name: 'web', options: { env: [], settings: {}, properties: { app: 'api', tier: 'front' }, grace: 300 },
  });
  t.deepEqual(parseGlobal("create 'prop.note=a b' grace=none"), { verb: 'create', options: { env: [], settings: {}, properties: { note: 'a b' } } });
  t.deepEqual(parseGlobal('create prop.url=http:x=1'), { verb: 'create', options: { env: [], settings: {}, properties: { url: 'http:x=1' } } });
  t.throws(() => parseGlobal('create web prop.=x'), { instanceOf: BadRequest, message: /^bad property key ""/ });
  t.throws(() => parseGlobal('create web prop.a/b=x'), { instanceOf: BadRequest, message: /^bad property key "a\/b"/ });
  t.throws(() => parseGlobal('create web prop.k=a/b'), { instanceOf: BadRequest, message: /^bad value of property "k"/ });
  t.throws(() => parseGlobal('create web prop.k='), { instanceOf: BadRequest, message: /^bad value of property "k": empty/ });
  t.throws(() => parseGlobal('create web grace=0'), { instanceOf: BadRequest, message: /^bad grace "0"/ });
  t.throws(() => parseGlobal('create web grace=soon'), { instanceOf: BadRequest, message: /^bad grace "soon"/ });
});

const base: RecordFile = {
  address: '10.88.0.2', seccomp: 'default', name: 'web', image: 'busybox', net: 'bridge', env: [],
  settings: {}, created: '2026-11-30T03:00:00Z', cgroupsPath: '/wardenfs/x/web',
};

test('container.json: properties and grace round-trip; a record without them has none', (t) => {
  const r = decodeRecord(base);
  t.is(r.properties, undefined);
  t.is(r.grace, undefined);
  const withBoth: RecordFile = { ...base, properties: { app: 'web', 'x.y': 'a=b' }, grace: 120 };
  const back = JSON.parse(encodeRecord(decodeRecord(withBoth))) as RecordFile;
  t.deepEqual(back, withBoth);
  t.deepEqual(decodeRecord(withBoth).properties, { app: 'web', 'x.y': 'a=b' });
  t.is(decodeRecord(withBoth).grace, 120);
});

test('container.json: a bad property or grace is a BadRequest (not adopted, never in by-property/)', (t) => {
  t.throws(() => decodeRecord({ ...base, properties: { '../x': 'v' } }), { instanceOf: BadRequest });
  t.throws(() => decodeRecord({ ...base, properties: { k: 'a/b' } }), { instanceOf: BadRequest });
  t.throws(() => decodeRecord({ ...base, grace: 0 }), { instanceOf: BadRequest });
  t.throws(() => decodeRecord({ ...base, grace: 1.5 }), { instanceOf: BadRequest });
});

test('lookup: keys in use, values of a key, containers with a pair', (t) => {
  const cs: Described[] = [
    { name: 'b', record: { properties: { app: 'web', tier: 'front' } } },
    { name: 'a', record: { properties: { app: 'web' } } },
    { name: 'c', record: { properties: { app: 'db' } } },
    { name: 'd', record: {} },
  ];
  t.deepEqual(propertyKeys(cs), ['app', 'tier']);
  t.deepEqual(propertyValues(cs, 'app'), ['db', 'web']);
  t.deepEqual(propertyValues(cs, 'none'), []);
  t.deepEqual(withProperty(cs, 'app', 'web'), ['a', 'b']);
  t.deepEqual(withProperty(cs, 'app', 'x'), []);
});

test('labels are default properties at create: the create\'s own win, bad ones and the excess are left out and named', async (t) => {
  const { propertiesAtCreate } = await import('../../src/core/properties.js');
  t.deepEqual(propertiesAtCreate(undefined, undefined), { properties: {}, skipped: [] });
  const r = propertiesAtCreate({ role: 'base', 'org.example.tier': 'web', 'bad key': 'v', empty: '', slash: 'a/b' }, { role: 'mine', own: 'x' });
  t.deepEqual(r.properties, { 'org.example.tier': 'web', own: 'x', role: 'mine' });
  t.deepEqual(Object.keys(r.properties), ['org.example.tier', 'own', 'role']);
  t.deepEqual(r.skipped, ['bad key', 'empty', 'slash']);
  const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${String(i).padStart(3, '0')}`, 'v']));
  const m = propertiesAtCreate(many, { mine: 'y' });
  t.is(Object.keys(m.properties).length, 256);
  t.is(m.properties.mine, 'y');
  t.is(m.skipped.length, 45);
  t.is(m.skipped[0], 'k255');
});

test('image commit: owners shift back from the container\'s host range; outside it, nobody', async (t) => {
  const { unshiftId } = await import('../../src/drivers/images/commit.js');
  t.is(unshiftId(1000), 1000);
  const idmap = { base: 2 ** 30, size: 65536 };
  t.is(unshiftId(2 ** 30, idmap), 0);
  t.is(unshiftId(2 ** 30 + 1000, idmap), 1000);
  t.is(unshiftId(2 ** 30 + 65536, idmap), 65534);
  t.is(unshiftId(0, idmap), 65534);
});
