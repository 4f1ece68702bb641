/** The CRI face's pure parts (src/cri/names.ts, src/cri/log.ts): tree names, label keys as property keys, image references, kubelet's log lines. */
import test from 'ava';
import { limitTexts, treeName, uniqueName, propertyKey, kubeKey, crProperties, parseImageRef, formatImageRef, mirrorPath, imageTreeName, ownImageName, newId } from '../../src/cri/names.js';
import { criLines, rfc3339Nano, MAX_PIECE } from '../../src/cri/log.js';
import { isValidName } from '../../src/ctl/values.js';
import { BadRequest } from '../../src/errors.js';

test('tree names: POD-NAMESPACE[-CONTAINER], .ATTEMPT, valid and bounded', (t) => {
  t.is(treeName(['web', 'default']), 'web-default');
  t.is(treeName(['web', 'default', 'app'], 2), 'web-default-app.2');
  t.is(treeName(['a:b/c', 'ns']), 'a_b_c-ns');
  t.is(treeName(['-x', 'ns']), 'k-x-ns', 'a name starts with a letter or digit');
  const long = treeName(['p'.repeat(60), 'n'.repeat(60), 'c'.repeat(60)], 1);
  t.is(long.length, 63);
  t.true(isValidName(long));
  t.regex(long, /^p{54}-[0-9a-f]{8}$/);
  t.not(long, treeName(['p'.repeat(60), 'n'.repeat(60), 'c'.repeat(60)], 2), 'long names that share a beginning stay apart');
  t.is(treeName(['p'.repeat(60), 'n'.repeat(60)]), treeName(['p'.repeat(60), 'n'.repeat(60)]), 'stable');
  const id = newId();
  t.regex(id, /^[0-9a-f]{64}$/);
  const u = uniqueName(long, id);
  t.true(isValidName(u) && u.endsWith(`-${id.slice(0, 8)}`) && u.length === 63);
});

test('label and annotation keys as property keys: / as :, and back', (t) => {
  for (const k of ['app', 'app.kubernetes.io/name', 'example.com/a_b-c.d']) {
    t.is(kubeKey('label', propertyKey('label', k)), k);
  }
  t.is(propertyKey('annotation', 'kubernetes.io/config.seen'), 'annotation.kubernetes.io:config.seen');
  t.is(kubeKey('label', 'annotation.x'), undefined);
  const p = crProperties({ 'cri.kind': 'pod' }, { 'a.io/b': 'c', empty: '', ['k'.repeat(60)]: 'long key' }, { json: '{"a":1}', slash: 'a/b', nl: 'a\nb', ok: 'fine value' });
  t.deepEqual(p, { 'cri.kind': 'pod', 'label.a.io:b': 'c', 'annotation.json': '{"a":1}', 'annotation.ok': 'fine value' });
  const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`l${i}`, 'v']));
  t.is(Object.keys(crProperties({ 'cri.id': 'x' }, many, {})).length, 256, 'at most the tree\'s 256 properties, cri.* first');
});

test('image references normalized as Docker does; bad ones are BadRequest', (t) => {
  const cases: Array<[string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['me/app', 'docker.io/me/app:latest'],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9'],
    ['localhost:5000/a/b:c', 'localhost:5000/a/b:c'],
    [`quay.io/x/y@sha256:${'a'.repeat(64)}`, `quay.io/x/y@sha256:${'a'.repeat(64)}`],
  ];
  for (const [ref, want] of cases) t.is(formatImageRef(parseImageRef(ref)), want, ref);
  for (const bad of ['', 'Busybox', 'a/../b', 'a//b', 'x:', 'x@sha256:12', '../etc/passwd', 'a/./b', 'x y']) {
    t.throws(() => parseImageRef(bad), { instanceOf: BadRequest }, bad);
  }
  t.is(mirrorPath(parseImageRef('busybox')), 'docker.io/library/busybox:latest');
  t.is(mirrorPath(parseImageRef(`x:1@sha256:${'b'.repeat(64)}`)), `docker.io/library/x@sha256:${'b'.repeat(64)}`);
  const n = imageTreeName(parseImageRef('registry.k8s.io/pause:3.9'));
  t.regex(n, /^pause-3\.9-[0-9a-f]{8}$/);
  t.not(n, imageTreeName(parseImageRef('docker.io/library/pause:3.9')), 'same last name and tag elsewhere: another image');
  t.true(isValidName(imageTreeName(parseImageRef(`${'a'.repeat(100)}:${'t'.repeat(100)}`))));
  t.is(ownImageName('busybox'), 'busybox');
  t.is(ownImageName('docker.io/library/busybox:latest'), 'busybox');
  t.is(ownImageName('busybox:1.0'), undefined);
  t.is(ownImageName('me/busybox'), undefined);
});

test('log lines in kubelet\'s format: F for whole lines, P pieces, the rest kept until the end', (t) => {
  const ts = '2026-11-30T04:50:00.123456789Z';
  t.deepEqual(criLines('stdout', Buffer.from('a\nb\nc'), ts, false), { lines: `${ts} stdout F a\n${ts} stdout F b\n`, rest: Buffer.from('c') });
  t.deepEqual(criLines('stderr', Buffer.from('c'), ts, true), { lines: `${ts} stderr F c\n`, rest: Buffer.alloc(0) });
  t.deepEqual(criLines('stdout', Buffer.from('\n'), ts, false).lines, `${ts} stdout F \n`);
  const big = 'x'.repeat(MAX_PIECE * 2 + 5);
  const r = criLines('stdout', Buffer.from(`${big}\n`), ts, false);
  t.is(r.lines, `${ts} stdout P ${'x'.repeat(MAX_PIECE)}\n${ts} stdout P ${'x'.repeat(MAX_PIECE)}\n${ts} stdout F xxxxx\n`);
  const open = criLines('stdout', Buffer.from(big), ts, false);
  t.is(open.lines, `${ts} stdout P ${'x'.repeat(MAX_PIECE)}\n${ts} stdout P ${'x'.repeat(MAX_PIECE)}\n`);
  t.is(open.rest.toString(), 'xxxxx');
  t.is(rfc3339Nano(Date.UTC(2026, 10, 30, 4, 50, 0, 123), 456789), '2026-11-30T04:50:00.123456789Z');
});

test('linux.resources as the tree\'s limits: 0 is unset, shares by runc\'s conversion', (t) => {
  t.deepEqual(limitTexts(undefined), []);
  t.deepEqual(limitTexts({ cpu_period: '0', cpu_quota: '0', cpu_shares: '0', memory_limit_in_bytes: '0' }), []);
  t.deepEqual(limitTexts({ memory_limit_in_bytes: '1048576', cpu_quota: '20000', cpu_shares: '1024' }), [['memory.max', '1048576'], ['cpu.max', '20000 100000'], ['cpu.weight', '39']]);
  t.deepEqual(limitTexts({ cpu_quota: 5000, cpu_period: 10000, cpu_shares: 2 }), [['cpu.max', '5000 10000'], ['cpu.weight', '1']]);
  t.deepEqual(limitTexts({ cpu_shares: 262144 }), [['cpu.weight', '10000']]);
});
