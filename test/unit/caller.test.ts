/** The caller of a request (src/model/caller.ts): how events name it, how the addon takes it. */
import test from 'ava';
import { actsAsDaemon, callerIds, cleanComm, formatCaller, requestLine, SHOWN_MESSAGE_MAX } from '../../src/model/caller.js';

test('root or an unknown caller acts as the daemon; anyone else as itself', (t) => {
  t.true(actsAsDaemon(undefined));
  t.true(actsAsDaemon({ uid: 0, gid: 5, pid: 1, groups: [] }));
  t.false(actsAsDaemon({ uid: 1000, gid: 0, pid: 1, groups: [] }));
});

test('the addon takes [uid, gid, ...groups] as 32-bit ids', (t) => {
  t.deepEqual(Array.from(callerIds({ uid: 4242, gid: 4343, pid: 9, groups: [5000, 4294967294] })), [4242, 4343, 5000, 4294967294]);
  t.true(callerIds({ uid: 1, gid: 1, pid: 1, groups: [] }) instanceof Uint32Array);
});

test('a command name is cut at 15 bytes, its newline dropped, blanks and unprintable bytes shown as ?', (t) => {
  t.is(cleanComm('sh\n'), 'sh');
  t.is(cleanComm(Buffer.from('bash\n')), 'bash');
  t.is(cleanComm('Web Content\n'), 'Web?Content');
  t.is(cleanComm('a\u001b[31mred'), 'a?[31mred');
  t.is(cleanComm('x'.repeat(40)), 'x'.repeat(15));
  t.is(cleanComm('caf\u00e9'), 'caf??'); // two UTF-8 bytes
  t.is(cleanComm(Buffer.from([0x66, 0x00, 0x67])), 'f?g');
  t.is(cleanComm(''), '?');
  t.is(cleanComm(undefined), '?');
  // a comm holding a newline cannot start a line of its own
  t.is(cleanComm('evil\ncreated web'), 'evil');
});

test('the events line of a message: kind, caller, the message cut at 200 bytes', (t) => {
  t.is(formatCaller({ uid: 0, pid: 12 }, 'sh\n'), 'uid=0 pid=12 comm=sh');
  t.is(requestLine('ctl', { uid: 4242, pid: 77 }, 'python3', ' create web\n'), 'ctl uid=4242 pid=77 comm=python3: create web');
  const long = requestLine('ctl', { uid: 0, pid: 1 }, undefined, `run echo ${'z'.repeat(1000)}`);
  t.true(long.startsWith('ctl uid=0 pid=1 comm=?: run echo zzz'));
  t.true(long.endsWith('…'));
  t.is(Buffer.byteLength(long.slice('ctl uid=0 pid=1 comm=?: '.length, -1)), SHOWN_MESSAGE_MAX);
  t.is(requestLine('mkdir', { uid: 0, pid: 1 }, 'mkdir', 'containers/a\u001b[2Jb\tc'), 'mkdir uid=0 pid=1 comm=mkdir: containers/a?[2Jb?c');
  // a multi-byte character is never cut in half
  const cut = requestLine('ctl', { uid: 0, pid: 1 }, 'sh', 'a' + 'é'.repeat(150));
  t.false(cut.includes('\uFFFD'));
});
