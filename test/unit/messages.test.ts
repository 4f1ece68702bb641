import test from 'ava';
import { parseGlobal, parseContainer, parseProcess } from '../../src/ctl/messages.js';
import { BadRequest } from '../../src/errors.js';

test('create with and without a name, with options', (t) => {
  t.deepEqual(parseGlobal('create'), { verb: 'create', options: { env: [], settings: {} } });
  t.deepEqual(parseGlobal('create web'), { verb: 'create', name: 'web', options: { env: [], settings: {} } });
  t.deepEqual(parseGlobal('create web image=busybox net=none env=A=1 env=B=2 memory.max=64M pids.max=100 cpu.weight=50'), {
    verb: 'create', name: 'web',
    options: { image: 'busybox', net: 'none', env: ['A=1', 'B=2'], settings: { 'memory.max': 64 * 1024 * 1024, 'pids.max': 100, 'cpu.weight': 50 } },
  });
  t.deepEqual(parseGlobal("create net=none 'cpu.max=20000 100000'"), {
    verb: 'create', options: { net: 'none', env: [], settings: { 'cpu.max': { quota: 20000, period: 100000 } } },
  });
});

test('create parses ports, rules and rate once, into typed values', (t) => {
  t.deepEqual(parseGlobal("create web ports=8080:80 ports=127.0.0.1:53:53/udp 'rules=allow tcp 10.0.0.3 80' 'rate=1MBIT 64k'"), {
    verb: 'create', name: 'web',
    options: {
      env: [], settings: {
        ports: [{ hostPort: 8080, containerPort: 80, proto: 'tcp' }, { hostPort: 53, containerPort: 53, proto: 'udp', hostIp: '127.0.0.1' }],
        rules: [{ proto: 'tcp', dest: '10.0.0.3', prefix: 32, ports: [80, 80] }],
        rate: { rate: '1mbit', burst: '64k' },
      },
    },
  });
  t.throws(() => parseGlobal('create web ports=80'), { instanceOf: BadRequest, message: /^bad port forward "80"/ });
  t.throws(() => parseGlobal("create web 'rate=fast'"), { instanceOf: BadRequest, message: /^bad rate "fast"/ });
});

test('create refuses bad names, keys and values with clear messages', (t) => {
  t.throws(() => parseGlobal('create a/b'), { instanceOf: BadRequest, message: /^bad container name "a\/b"/ });
  t.throws(() => parseGlobal('create web color=red'), { instanceOf: BadRequest, message: 'unknown option "color"' });
  t.throws(() => parseGlobal('create web net=host'), { instanceOf: BadRequest, message: 'bad net "host": want bridge or none' });
  t.throws(() => parseGlobal('create web memory.max=lots'), { instanceOf: BadRequest, message: /^bad size "lots"/ });
  t.throws(() => parseGlobal('create web bare'), { instanceOf: BadRequest, message: 'bad option "bare": want KEY=VALUE' });
  t.throws(() => parseGlobal("create 'web"), { instanceOf: BadRequest, message: /^unterminated quote/ });
});

test('destroy and image messages', (t) => {
  t.deepEqual(parseGlobal('destroy web'), { verb: 'destroy', name: 'web' });
  t.deepEqual(parseGlobal('image import alpine /tmp/a.tar.gz'), { verb: 'image import', name: 'alpine', path: '/tmp/a.tar.gz' });
  t.deepEqual(parseGlobal('image remove alpine'), { verb: 'image remove', name: 'alpine' });
  t.throws(() => parseGlobal('destroy'), { instanceOf: BadRequest, message: 'usage: destroy NAME' });
  t.throws(() => parseGlobal('image import x'), { instanceOf: BadRequest, message: 'usage: image import NAME PATH' });
  t.deepEqual(parseGlobal('image commit web2 web'), { verb: 'image commit', name: 'web2', container: 'web' });
  t.throws(() => parseGlobal('image commit web2'), { instanceOf: BadRequest, message: 'usage: image commit NEWNAME CONTAINER' });
  t.throws(() => parseGlobal('image commit ../x web'), { instanceOf: BadRequest });
  t.throws(() => parseGlobal('image commit x we/b'), { instanceOf: BadRequest });
  t.throws(() => parseGlobal('image frob'), { instanceOf: BadRequest, message: 'unknown message "image frob"' });
});

test('unknown messages are re-quoted in the error', (t) => {
  t.throws(() => parseGlobal('frob x'), { instanceOf: BadRequest, message: 'unknown message "frob x"' });
  t.throws(() => parseGlobal("frob 'a b'"), { instanceOf: BadRequest, message: `unknown message "frob 'a b'"` });
  t.throws(() => parseContainer('launch'), { instanceOf: BadRequest, message: 'unknown message "launch"' });
});

test('run: options end at -- or at the first token that is not an option', (t) => {
  t.deepEqual(parseContainer("run sh -c 'echo hi; sleep 1'"), { verb: 'run', env: [], argv: ['sh', '-c', 'echo hi; sleep 1'] });
  t.deepEqual(parseContainer('run id=web dir=/tmp user=1000:1000 env=A=1 env=B=2 -- env=x ls'), {
    verb: 'run', id: 'web', dir: '/tmp', user: { user: 1000, group: 1000 }, env: ['A=1', 'B=2'], argv: ['env=x', 'ls'],
  });
  t.deepEqual(parseContainer('run FOO=bar printenv'), { verb: 'run', env: [], argv: ['FOO=bar', 'printenv'] });
  // No program: the image's Entrypoint and Cmd (core/program.ts decides, and refuses when there are none).
  t.deepEqual(parseContainer('run'), { verb: 'run', env: [], argv: [] });
  t.deepEqual(parseContainer('run id=1 --'), { verb: 'run', id: '1', env: [], argv: [] });
  t.deepEqual(parseContainer('run entrypoint=/bin/echo -- hi'), { verb: 'run', env: [], entrypoint: '/bin/echo', argv: ['hi'] });
  t.deepEqual(parseContainer("run entrypoint= -- ls -l"), { verb: 'run', env: [], entrypoint: '', argv: ['ls', '-l'] });
  t.throws(() => parseContainer("run ''"), { instanceOf: BadRequest, message: /^usage: run/ });
  t.throws(() => parseContainer('run dir=relative ls'), { instanceOf: BadRequest, message: 'bad dir "relative": want an absolute path' });
  t.throws(() => parseContainer('run id=a/b ls'), { instanceOf: BadRequest, message: /^bad process id/ });
});

test('run tty=1 [rows=R] [cols=C]: a terminal, 24x80 unless sized; sizes only with tty=1', (t) => {
  t.deepEqual(parseContainer('run tty=1 -- sh'), { verb: 'run', env: [], argv: ['sh'], tty: { rows: 24, cols: 80 } });
  t.deepEqual(parseContainer('run tty=1 rows=50 cols=132 sh'), { verb: 'run', env: [], argv: ['sh'], tty: { rows: 50, cols: 132 } });
  t.deepEqual(parseContainer('run cols=100 tty=1 vi'), { verb: 'run', env: [], argv: ['vi'], tty: { rows: 24, cols: 100 } });
  t.deepEqual(parseContainer('run tty=0 sh'), { verb: 'run', env: [], argv: ['sh'] });
  t.deepEqual(parseContainer('run -- tty=1 sh'), { verb: 'run', env: [], argv: ['tty=1', 'sh'] }, 'after -- it is the program');
  t.throws(() => parseContainer('run tty=yes sh'), { instanceOf: BadRequest, message: 'bad tty "yes": want 1 or 0' });
  t.throws(() => parseContainer('run rows=10 sh'), { instanceOf: BadRequest, message: 'rows= and cols= need tty=1' });
  t.throws(() => parseContainer('run tty=0 cols=10 sh'), { instanceOf: BadRequest, message: 'rows= and cols= need tty=1' });
  t.throws(() => parseContainer('run tty=1 rows=0 sh'), { instanceOf: BadRequest, message: 'bad rows "0": want a number from 1 to 1000' });
  t.throws(() => parseContainer('run tty=1 cols=1001 sh'), { instanceOf: BadRequest, message: 'bad cols "1001": want a number from 1 to 1000' });
});

test('kill, stop, destroy', (t) => {
  t.deepEqual(parseContainer('kill 1'), { verb: 'kill', id: '1', signal: { number: 15, name: 'TERM' } });
  t.deepEqual(parseContainer('kill 1 KILL'), { verb: 'kill', id: '1', signal: { number: 9, name: 'KILL' } });
  t.deepEqual(parseContainer('stop'), { verb: 'stop', seconds: 10 });
  t.deepEqual(parseContainer('stop 2'), { verb: 'stop', seconds: 2 });
  t.deepEqual(parseContainer('destroy'), { verb: 'destroy' });
  t.throws(() => parseContainer('kill 1 NOPE'), { instanceOf: BadRequest, message: 'bad signal "NOPE"' });
  t.throws(() => parseContainer('destroy now'), { instanceOf: BadRequest, message: 'usage: destroy' });
});

test('process ctl', (t) => {
  t.deepEqual(parseProcess('kill'), { verb: 'kill', signal: { number: 15, name: 'TERM' } });
  t.deepEqual(parseProcess('kill 9'), { verb: 'kill', signal: { number: 9, name: 'KILL' } });
  t.deepEqual(parseProcess('closein'), { verb: 'closein' });
  t.throws(() => parseProcess('closein now'), { instanceOf: BadRequest });
});

test('garbage never escapes as anything but BadRequest', (t) => {
  const junk = ['\0\0\0', "'", '\u00ff\u00fe', 'create ' + 'x'.repeat(10000), "run '' ''", 'kill', '=', 'create ='];
  for (const j of junk) {
    for (const parse of [parseGlobal, parseContainer, parseProcess]) {
      try {
        parse(j);
      } catch (e) {
        t.true(e instanceof BadRequest, `${JSON.stringify(j).slice(0, 40)}: ${String(e)}`);
      }
    }
  }
});

test('create parses mount= (repeatable, ro unless :rw) and disk.max', (t) => {
  const c = parseGlobal('create m mount=/srv/a:/data mount=/srv/b:/b/c:rw mount=/etc/hosts:/etc/hosts:ro disk.max=2G');
  t.deepEqual(c, {
    verb: 'create', name: 'm',
    options: {
      env: [],
      settings: {
        mounts: [
          { host: '/srv/a', path: '/data', rw: false },
          { host: '/srv/b', path: '/b/c', rw: true },
          { host: '/etc/hosts', path: '/etc/hosts', rw: false },
        ],
        'disk.max': 2 * 1024 ** 3,
      },
    },
  });
  t.deepEqual(parseGlobal('create disk.max=max'), { verb: 'create', options: { env: [], settings: { 'disk.max': 'max' } } });
});

test('bad mounts and disk limits are refused with the reason', (t) => {
  const err = (m: string): string => t.throws(() => parseGlobal(m), { instanceOf: BadRequest })!.message;
  t.is(err('create mount=srv:/data'), 'bad mount "srv:/data": the host path must be absolute');
  t.is(err('create mount=/srv:data'), 'bad mount "/srv:data": the container path must be absolute');
  t.is(err('create mount=/srv/../etc:/data'), 'bad mount "/srv/../etc:/data": no . or .. in the host path');
  t.is(err('create mount=/srv:/a/./b'), 'bad mount "/srv:/a/./b": no . or .. in the container path');
  t.is(err('create mount=/srv//x:/a'), 'bad mount "/srv//x:/a": the host path must be normalised (no // or trailing /)');
  t.is(err('create mount=/srv:/a/'), 'bad mount "/srv:/a/": the container path must be normalised (no // or trailing /)');
  t.is(err('create mount=/srv:/a:rx'), 'bad mount "/srv:/a:rx": the mode is ro or rw, not "rx"');
  t.is(err('create mount=/srv'), 'bad mount "/srv": want HOST:PATH[:ro|:rw] (no \':\' in the paths)');
  t.is(err('create mount=/a:/b:/c:ro'), 'bad mount "/a:/b:/c:ro": want HOST:PATH[:ro|:rw] (no \':\' in the paths)');
  t.is(err('create mount=/srv:/'), 'bad mount "/srv:/": cannot mount over the container\'s /');
  t.is(err('create mount=/srv:/proc/x'), 'bad mount "/srv:/proc/x": not under /proc, /sys, /dev (not the container\'s own files)');
  t.is(err('create mount=/srv:/dev'), 'bad mount "/srv:/dev": not under /proc, /sys, /dev (not the container\'s own files)');
  t.is(err('create mount=/a:/d mount=/b:/d/e'), 'mounts "/a:/d:ro" and "/b:/d/e:ro" overlap in the container: one path each, none under another');
  t.is(err('create mount=/a:/d mount=/b:/d:rw'), 'mounts "/a:/d:ro" and "/b:/d:rw" overlap in the container: one path each, none under another');
  t.is(err('create mounts=/a:/d'), 'unknown option "mounts"');
  t.is(err('create disk.max=299M'), 'bad disk.max "299M": at least 300M (the smallest XFS)');
  t.is(err('create disk.max=lots'), 'bad size "lots": want bytes, a number with K, M or G, or max');
  // /devices is not /dev
  t.deepEqual((parseGlobal('create mount=/srv:/devices') as { options: { settings: unknown } }).options.settings, { mounts: [{ host: '/srv', path: '/devices', rw: false }] });
});
