/**
 * An image's run configuration (src/drivers/images/config.ts): read from untrusted JSON,
 * typed, bounded, shown in a fixed order; and what a run makes of it (src/core/program.ts).
 */
import test from 'ava';
import { imageConfigOf, parseImageConfig, formatImageConfig, MAX_CONFIG_ITEMS } from '../../src/drivers/images/config.js';
import { runDefaults } from '../../src/core/program.js';
import { BadRequest } from '../../src/errors.js';

const cfg = (config: unknown): unknown => ({ architecture: 'amd64', os: 'linux', config });

test('every field is kept, null, "" and [] are absent, unknown fields dropped', (t) => {
  const c = imageConfigOf(cfg({
    Env: ['PATH=/bin', 'EMPTY='], WorkingDir: '/w', User: 'app:staff', Entrypoint: ['/e', '-x'], Cmd: ['c'],
    ExposedPorts: { '80/tcp': {}, '53': null }, Labels: { z: '1', a: '2' }, Hostname: 'x', Volumes: { '/v': {} }, Healthcheck: { Test: ['x'] },
  }));
  t.deepEqual(c, {
    Env: ['PATH=/bin', 'EMPTY='], WorkingDir: '/w', User: 'app:staff', Entrypoint: ['/e', '-x'], Cmd: ['c'],
    ExposedPorts: { '53': {}, '80/tcp': {} }, Labels: { a: '2', z: '1' },
  });
  t.deepEqual(imageConfigOf(cfg({ Env: null, WorkingDir: '', User: '', Entrypoint: [], Cmd: null, ExposedPorts: {}, Labels: null })), {});
  t.deepEqual(imageConfigOf({ architecture: 'amd64' }), {});
  t.deepEqual(imageConfigOf({ config: null }), {});
  t.deepEqual(imageConfigOf(cfg({ User: '1000:1000' })), { User: '1000:1000' });
  // An Entrypoint may take an empty argument; Cmd after an Entrypoint too.
  t.deepEqual(imageConfigOf(cfg({ Entrypoint: ['/e', ''], Cmd: [''] })), { Entrypoint: ['/e', ''], Cmd: [''] });
});

test('images/NAME/config is JSON in a fixed field order', (t) => {
  const text = formatImageConfig({ Labels: { a: 'b' }, Cmd: ['sh'], Env: ['A=1'] });
  t.is(text, '{\n  "Env": [\n    "A=1"\n  ],\n  "Cmd": [\n    "sh"\n  ],\n  "Labels": {\n    "a": "b"\n  }\n}\n');
  t.is(formatImageConfig({}), '{}\n');
});

test('nonsense is refused with the field named', (t) => {
  const bad = (config: unknown, message: string | RegExp): void => {
    t.throws(() => imageConfigOf(cfg(config)), { instanceOf: BadRequest, message }, JSON.stringify(config).slice(0, 60));
  };
  bad({ Env: 'A=1' }, 'bad image config: "Env" must be a list of strings');
  bad({ Env: ['A'] }, 'bad image config: "Env" entry "A" is not NAME=VALUE');
  bad({ Env: ['=x'] }, 'bad image config: "Env" entry "=x" is not NAME=VALUE');
  bad({ Env: ['A=\0'] }, 'bad image config: "Env" holds a NUL character');
  bad({ Env: [{}] }, 'bad image config: "Env" must hold strings');
  bad({ Entrypoint: ['', 'x'] }, 'bad image config: "Entrypoint" starts with an empty program');
  bad({ Cmd: [''] }, 'bad image config: "Cmd" starts with an empty program');
  bad({ Cmd: 'sh -c x' }, 'bad image config: "Cmd" must be a list of strings');
  bad({ WorkingDir: 'rel' }, 'bad image config: "WorkingDir" "rel" is not an absolute path');
  bad({ WorkingDir: 3 }, 'bad image config: "WorkingDir" must hold strings');
  bad({ User: 'a:b:c' }, /^bad image config: "User" "a:b:c" is not USER or USER:GROUP/);
  bad({ User: '-x' }, /"User" "-x"/);
  bad({ User: '99999999999' }, /"User" "99999999999"/);
  bad({ User: '0:4294967295' }, /"User" "0:4294967295"/);
  t.deepEqual(imageConfigOf(cfg({ User: '4294967294' })), { User: '4294967294' });
  bad({ ExposedPorts: { '0/tcp': {} } }, /"ExposedPorts" has a bad port "0\/tcp"/);
  bad({ ExposedPorts: { '80/icmp': {} } }, /"ExposedPorts" has a bad port "80\/icmp"/);
  bad({ ExposedPorts: { '80/tcp': 'yes' } }, 'bad image config: "ExposedPorts" values must be objects');
  bad({ Labels: { a: ['b'] } }, 'bad image config: "Labels" must hold strings');
  bad({ Labels: { '': 'x' } }, 'bad image config: "Labels" has a bad key ""');
  bad({ Labels: [] }, 'bad image config: "Labels" must be an object');
  bad({ Cmd: Array.from({ length: MAX_CONFIG_ITEMS + 1 }, () => 'x') }, `bad image config: "Cmd" has more than ${MAX_CONFIG_ITEMS} entries`);
  bad({ Labels: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v'.repeat(1000)])) }, /^bad image config: more than 262144 bytes/);
  bad('x', 'bad image config: "config" must be an object');
  t.throws(() => imageConfigOf([]), { message: 'bad image config: not a JSON object' });
  t.throws(() => parseImageConfig(Buffer.from('{"config":')), { message: /^bad image config: not JSON/ });
});

test('run: Entrypoint + Cmd, words replace Cmd, entrypoint= replaces Entrypoint and drops Cmd; dir= and user= default to WorkingDir and User', (t) => {
  const image = { Entrypoint: ['/e', '-a'], Cmd: ['c1', 'c2'], WorkingDir: '/w', User: 'app:1' };
  const run = (o: Partial<Parameters<typeof runDefaults>[0]>) => runDefaults({ env: [], argv: [], ...o }, image);
  t.deepEqual(run({}), { env: [], argv: ['/e', '-a', 'c1', 'c2'], dir: '/w', user: { user: 'app', group: 1 } });
  t.deepEqual(run({ argv: ['x'] }).argv, ['/e', '-a', 'x']);
  t.deepEqual(run({ entrypoint: '/p' }).argv, ['/p']);
  t.deepEqual(run({ entrypoint: '/p', argv: ['x'] }).argv, ['/p', 'x']);
  t.deepEqual(run({ entrypoint: '', argv: ['ls', '-l'] }).argv, ['ls', '-l']);
  t.false('entrypoint' in run({ entrypoint: '/p' }));
  t.deepEqual(run({ dir: '/d', user: { user: 0 } }), { env: [], argv: ['/e', '-a', 'c1', 'c2'], dir: '/d', user: { user: 0 } });
  t.throws(() => run({ entrypoint: '' }), { instanceOf: BadRequest, message: /^no program to run/ });
  // Cmd alone is the whole command; words replace it.
  t.deepEqual(runDefaults({ env: [], argv: [] }, { Cmd: ['sh', '-c', 'x'] }).argv, ['sh', '-c', 'x']);
  t.deepEqual(runDefaults({ env: [], argv: ['ls'] }, { Cmd: ['sh'] }).argv, ['ls']);
  // No config: what the run says, as before.
  t.deepEqual(runDefaults({ env: ['A=1'], argv: ['ls'] }, {}), { env: ['A=1'], argv: ['ls'] });
  t.throws(() => runDefaults({ env: [], argv: [] }, {}), { instanceOf: BadRequest, message: /^no program to run/ });
});
