/** container.json: typed in memory, canonical lines on disk, as earlier daemons wrote them (core/record.ts). */
import test from 'ava';
import { encodeRecord, decodeRecord, type RecordFile } from '../../src/core/record.js';
import { BadRequest } from '../../src/errors.js';

/** A record as a daemon before typed settings wrote it (rate as given at create). */
const earlier: RecordFile = {
  address: '10.88.0.2', seccomp: 'default', name: 'web', image: 'busybox', net: 'bridge', env: ['A=1'],
  settings: { 'memory.max': 67108864, ports: ['8080:80/tcp', '127.0.0.1:53:53/udp'], rules: ['allow tcp 10.0.0.3/32 80'], rate: '1mbit 64k', 'pids.max': 1024 },
  created: '2026-11-30T03:00:00Z', cgroupsPath: '/wardenfs/x/web',
};

test('a record of an earlier daemon is read into typed values', (t) => {
  const r = decodeRecord(earlier);
  t.deepEqual(r.settings.ports, [{ hostPort: 8080, containerPort: 80, proto: 'tcp' }, { hostPort: 53, containerPort: 53, proto: 'udp', hostIp: '127.0.0.1' }]);
  t.deepEqual(r.settings.rules, [{ proto: 'tcp', dest: '10.0.0.3', prefix: 32, ports: [80, 80] }]);
  t.deepEqual(r.settings.rate, { rate: '1mbit', burst: '64k' });
  t.is(r.settings['memory.max'], 67108864);
  t.is(r.address, '10.88.0.2');
});

test('written back it is the same text form', (t) => {
  const back = JSON.parse(encodeRecord(decodeRecord(earlier))) as RecordFile;
  t.deepEqual(back, earlier);
  t.true(encodeRecord(decodeRecord(earlier)).endsWith('}\n'));
});

test('rate max and no network settings round-trip; an empty rate is none', (t) => {
  const plain: RecordFile = { ...earlier, settings: { rate: 'max' } };
  t.deepEqual(JSON.parse(encodeRecord(decodeRecord(plain))), plain);
  t.deepEqual(decodeRecord({ ...earlier, settings: { rate: '' } }).settings, {});
  t.deepEqual(decodeRecord({ ...earlier, settings: {} }).settings, {});
});

test('a value it cannot parse is a BadRequest (the container is then not adopted, and not swept)', (t) => {
  t.throws(() => decodeRecord({ ...earlier, settings: { ports: ['nope'] } }), { instanceOf: BadRequest });
});

test('bind mounts are kept as their canonical lines, disk.max as bytes', (t) => {
  const f: RecordFile = { ...earlier, settings: { mounts: ['/srv/a:/data:ro', '/srv/b:/b:rw'], 'disk.max': 2147483648 } };
  const r = decodeRecord(f);
  t.deepEqual(r.settings.mounts, [{ host: '/srv/a', path: '/data', rw: false }, { host: '/srv/b', path: '/b', rw: true }]);
  t.is(r.settings['disk.max'], 2147483648);
  t.deepEqual(JSON.parse(encodeRecord(r)), f);
  t.throws(() => decodeRecord({ ...earlier, settings: { mounts: ['relative:/x'] } }), { instanceOf: BadRequest });
});
