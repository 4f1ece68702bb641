/** The pure parts of terminals: conmon's k8s-file log decoded (drivers/monitor/terminal.ts), winsize values, the CLI's exit status. */
import test from 'ava';
import { decodeK8sLog } from '../../src/drivers/monitor/terminal.js';
import { parseWinsize } from '../../src/ctl/values.js';
import { exitStatus } from '../../src/cli/attach.js';
import { BadRequest } from '../../src/errors.js';

const TS = '2026-11-30T04:33:36.314805946+00:00';

test('k8s-file records decode to the bytes as written: F ends a line, P does not', (t) => {
  const log = Buffer.from([
    `${TS} stdout F `, // an empty line
    `${TS} stdout F hello\r`,
    `${TS} stdout P / # `,
    `${TS} stderr F runc: oops`,
    `${TS} stdout P  two  spaces `,
    '',
  ].join('\n'));
  const { records, consumed } = decodeK8sLog(log);
  t.is(consumed, log.length);
  t.deepEqual(records.map((r) => [r.stream, r.data.toString()]), [
    ['stdout', '\n'], ['stdout', 'hello\r\n'], ['stdout', '/ # '], ['stderr', 'runc: oops\n'], ['stdout', ' two  spaces '],
  ]);
});

test('k8s-file: a record being written is left for later; other lines are skipped', (t) => {
  const whole = `${TS} stdout F one\n`;
  const { records, consumed } = decodeK8sLog(Buffer.from(whole + `${TS} stdout P tw`));
  t.is(consumed, Buffer.byteLength(whole));
  t.deepEqual(records.map((r) => r.data.toString()), ['one\n']);
  const odd = decodeK8sLog(Buffer.from(`garbage\n${TS} stdin F x\n${TS} stdout X y\n${TS} stdout F ok\n`));
  t.deepEqual(odd.records.map((r) => r.data.toString()), ['ok\n']);
  // bytes that are not UTF-8 come through unchanged
  const bin = decodeK8sLog(Buffer.concat([Buffer.from(`${TS} stdout P `), Buffer.from([0xff, 0x00, 0x1b]), Buffer.from('\n')]));
  t.deepEqual([...bin.records[0]!.data], [0xff, 0x00, 0x1b]);
});

test('winsize: ROWS COLS, 1 to 1000 each', (t) => {
  t.deepEqual(parseWinsize('40 120\n'), { rows: 40, cols: 120 });
  t.deepEqual(parseWinsize(' 1  1000 '), { rows: 1, cols: 1000 });
  for (const bad of ['', '40', '40 120 3', '0 80', '40 1001', 'a b', '-1 5']) t.throws(() => parseWinsize(bad), { instanceOf: BadRequest }, bad);
});

test('the exit status of a session is the process\'s, 128+N for a signal', (t) => {
  t.is(exitStatus('exited 0\n'), 0);
  t.is(exitStatus('exited 3\n'), 3);
  t.is(exitStatus('killed INT\n'), 130);
  t.is(exitStatus('killed KILL\n'), 137);
});
