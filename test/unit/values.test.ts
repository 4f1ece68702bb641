import test from 'ava';
import {
  parseSize, parseCount, parseCpuMax, parseSignal, parseUser, parseName, parseIntIn, parseEnv,
  parseSeconds, signalName, parseLimit,
} from '../../src/ctl/values.js';
import { putLimit } from '../../src/model/limits.js';
import { BadRequest } from '../../src/errors.js';

test('sizes: bytes, K/M/G in powers of 1024, max', (t) => {
  t.is(parseSize('0'), 0);
  t.is(parseSize('4096'), 4096);
  t.is(parseSize('64K'), 64 * 1024);
  t.is(parseSize('64M'), 64 * 1024 * 1024);
  t.is(parseSize('2G'), 2 * 1024 ** 3);
  t.is(parseSize('1g'), 1024 ** 3);
  t.is(parseSize(' 128M\n'), 128 * 1024 ** 2);
  t.is(parseSize('max'), 'max');
});

test('sizes: malformed input is a BadRequest', (t) => {
  for (const bad of ['', '-1', '1.5M', '12T', 'M', 'maxi', '1 M', '0x10', '99999999999999999999G']) {
    t.throws(() => parseSize(bad), { instanceOf: BadRequest }, bad);
  }
});

test('counts and ranges', (t) => {
  t.is(parseCount('100', 'pids.max'), 100);
  t.is(parseCount('max', 'pids.max'), 'max');
  t.throws(() => parseCount('-5', 'pids.max'), { instanceOf: BadRequest, message: 'bad pids.max "-5": want a number or max' });
  t.is(parseIntIn('50', 1, 10000, 'cpu.weight'), 50);
  t.throws(() => parseIntIn('0', 1, 10000, 'cpu.weight'), { instanceOf: BadRequest });
  t.throws(() => parseIntIn('10001', 1, 10000, 'cpu.weight'), { instanceOf: BadRequest });
});

test('cpu.max forms', (t) => {
  t.deepEqual(parseCpuMax('20000 100000'), { quota: 20000, period: 100000 });
  t.deepEqual(parseCpuMax('max 50000'), { quota: 'max', period: 50000 });
  t.deepEqual(parseCpuMax('max'), { quota: 'max', period: 100000 });
  t.deepEqual(parseCpuMax('50000'), { quota: 50000, period: 100000 });
  for (const bad of ['', 'a b', '1 2 3', '20000 10', '-1 100000', '500 100000']) {
    t.throws(() => parseCpuMax(bad), { instanceOf: BadRequest }, bad);
  }
});

test('signals by name or number', (t) => {
  t.deepEqual(parseSignal('TERM'), { number: 15, name: 'TERM' });
  t.deepEqual(parseSignal('sigkill'), { number: 9, name: 'KILL' });
  t.deepEqual(parseSignal('9'), { number: 9, name: 'KILL' });
  t.deepEqual(parseSignal('HUP'), { number: 1, name: 'HUP' });
  t.is(signalName(9), 'KILL');
  t.is(signalName(15), 'TERM');
  for (const bad of ['', 'FOO', '0', '99', '-9', 'SIG']) {
    t.throws(() => parseSignal(bad), { instanceOf: BadRequest }, bad);
  }
});

test('users: names or numbers, USER[:GROUP]', (t) => {
  t.deepEqual(parseUser('1000'), { user: 1000 });
  t.deepEqual(parseUser('1000:50'), { user: 1000, group: 50 });
  t.deepEqual(parseUser('root'), { user: 'root' });
  t.deepEqual(parseUser('www-data'), { user: 'www-data' });
  t.deepEqual(parseUser('www-data:staff'), { user: 'www-data', group: 'staff' });
  t.deepEqual(parseUser('100:nogroup'), { user: 100, group: 'nogroup' });
  t.deepEqual(parseUser('_apt:0'), { user: '_apt', group: 0 });
  t.deepEqual(parseUser('4294967294'), { user: 4294967294 });
  for (const bad of ['', '1:', ':1', '1:2:3', '99999999999', '4294967295', '-1', 'a b', 'a/b', '1a', 'é', 'x'.repeat(40), 'a\0b', 'a:b:c']) {
    t.throws(() => parseUser(bad), { instanceOf: BadRequest }, bad);
  }
});

test('names', (t) => {
  for (const good of ['web', 'a', 'A1', 'x.y-z_1', 'a'.repeat(63)]) t.is(parseName(good), good);
  for (const bad of ['', '.x', '-x', '_x', 'a/b', 'a b', '..', 'a'.repeat(64), 'é', 'a\0b']) {
    t.throws(() => parseName(bad), { instanceOf: BadRequest }, bad);
  }
});

test('env and seconds', (t) => {
  t.is(parseEnv('A=b=c'), 'A=b=c');
  t.is(parseEnv('A='), 'A=');
  t.throws(() => parseEnv('=x'), { instanceOf: BadRequest });
  t.throws(() => parseEnv('novalue'), { instanceOf: BadRequest });
  t.is(parseSeconds('3'), 3);
  t.is(parseSeconds('0.5'), 0.5);
  t.throws(() => parseSeconds('-1'), { instanceOf: BadRequest });
  t.throws(() => parseSeconds('soon'), { instanceOf: BadRequest });
});

test('parseLimit: one typed limit per writable cgroup/ file, errors as the create option gives them', (t) => {
  t.deepEqual(parseLimit('memory.max', '64M'), { key: 'memory.max', value: 64 * 1024 * 1024 });
  t.deepEqual(parseLimit('memory.max', 'max'), { key: 'memory.max', value: 'max' });
  t.deepEqual(parseLimit('cpu.max', '20000 100000'), { key: 'cpu.max', value: { quota: 20000, period: 100000 } });
  t.deepEqual(parseLimit('cpu.weight', '50'), { key: 'cpu.weight', value: 50 });
  t.deepEqual(parseLimit('pids.max', '100'), { key: 'pids.max', value: 100 });
  t.throws(() => parseLimit('cpu.weight', '0'), { instanceOf: BadRequest });
  const limits = {};
  putLimit(limits, parseLimit('pids.max', '7'));
  t.deepEqual(limits, { 'pids.max': 7 });
});
