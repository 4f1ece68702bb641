/** The pure parts of terminals: conmon's k8s-file log decoded (drivers/monitor/terminal.ts), winsize values, the CLI's exit status. */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeK8sLog, TtyLog } from '../../src/drivers/monitor/terminal.js';
import { ProcPaths } from '../../src/drivers/monitor/paths.js';
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

test('TtyLog: copies the log into stdout and stderr once, across a restart and a crash between an append and its position', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wfs-ttylog-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const p = new ProcPaths(dir);
  await TtyLog.init(p);
  await fs.writeFile(p.stdout, '');
  await fs.writeFile(p.stderr, '');
  const rec = (stream: string, tag: string, text: string) => `${TS} ${stream} ${tag} ${text}\n`;
  await fs.writeFile(p.ttyLog, rec('stdout', 'F', 'one\r') + rec('stderr', 'F', 'warn') + rec('stdout', 'P', 'tw'));
  const first = new TtyLog(p);
  t.true(await first.pump());
  t.is(await fs.readFile(p.stdout, 'utf8'), 'one\r\ntw');
  t.is(await fs.readFile(p.stderr, 'utf8'), 'warn\n');
  t.false(await first.pump(), 'nothing new: nothing appended');
  // more output while "the daemon is down", and a half-written record at the end
  await fs.appendFile(p.ttyLog, rec('stdout', 'F', 'o') + rec('stdout', 'F', 'three') + `${TS} stdout F fo`);
  // a crash after an append and before its position: the files hold more than tty.pos says
  const pos = await fs.readFile(p.ttyPos, 'utf8');
  await fs.appendFile(p.stdout, 'o\n');
  await fs.writeFile(p.ttyPos, pos);
  const second = new TtyLog(p); // a restarted daemon
  t.true(await second.pump());
  t.is(await fs.readFile(p.stdout, 'utf8'), 'one\r\ntwo\nthree\n', 'nothing twice, nothing lost');
  await fs.appendFile(p.ttyLog, 'ur\n');
  await second.pump();
  t.is(await fs.readFile(p.stdout, 'utf8'), 'one\r\ntwo\nthree\nfour\n');
  t.is(await fs.readFile(p.stderr, 'utf8'), 'warn\n');
  t.regex(await fs.readFile(p.ttyPos, 'utf8'), /^\d+ 20 5\n$/);
});
