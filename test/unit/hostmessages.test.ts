/** The known answers of runc/crun, nft and ip: real messages, and the typed error each one is. */
import test from 'ava';
import { classify, isAbsent, typedFailure, failureText, type HostProgram, type ErrorClass } from '../../src/util/hostmessages.js';
import { BadRequest, Exists, NotFound, SystemFailure } from '../../src/errors.js';

const TABLE: Array<[HostProgram, string, ErrorClass | undefined]> = [
  // runc 1.1 exec, as conmon's stderr file holds it once the log prefix is taken off.
  ['runtime', 'runc exec failed: unable to start container process: exec: "nosuch": executable file not found in $PATH', NotFound],
  ['runtime', 'runc exec failed: unable to start container process: exec: "/nosuch": stat /nosuch: no such file or directory', NotFound],
  ['runtime', 'runc exec failed: unable to start container process: chdir to cwd ("/nope") set in config.json failed: no such file or directory', BadRequest],
  ['runtime', 'runc exec failed: unable to start container process: exec: "/etc": permission denied', BadRequest],
  ['runtime', 'runc exec failed: unable to start container process: exec: "/etc/passwd/x": stat /etc/passwd/x: not a directory', BadRequest],
  ['runtime', 'runc exec failed: unable to start container process: exec: "/bin/x": not a directory', BadRequest],
  // crun 1.x
  ['runtime', 'executable file `nosuch` not found in $PATH: No such file or directory', NotFound],
  ['runtime', 'open executable: Permission denied', BadRequest],
  ['runtime', 'runc exec failed: container_linux.go:380: starting container process caused: process_linux.go: signal: killed', undefined],
  // nft 1.0 (Debian 12)
  ['nft', 'Error: No such file or directory\nlist table ip wardenfs_x\n              ^^^^^^^^^^^^', NotFound],
  ['nft', '/dev/stdin:1:17-28: Error: Could not process rule: No such file or directory\ndelete chain ip wardenfs_x c_web\n                ^^^^^^^^^^^^', NotFound],
  ['nft', '/dev/stdin:1:38-41: Error: Could not process rule: File exists\nadd element ip wardenfs_x fwd_tcp { 8080 : goto c_b }\n                                     ^^^^', Exists],
  ['nft', '/dev/stdin:3:1-20: Error: Could not process rule: Device or resource busy', undefined],
  ['nft', 'Error: Could not process rule: Operation not permitted', undefined],
  // iproute2 6.1
  ['ip', 'Cannot find device "wfsnosuch0"', NotFound],
  ['ip', 'Cannot remove namespace file "/run/netns/wfsnosuch": No such file or directory', NotFound],
  ['ip', 'Cannot open network namespace "wfsnosuch": No such file or directory', NotFound],
  ['ip', 'Cannot create namespace file "/run/netns/x": File exists', Exists],
  ['ip', 'RTNETLINK answers: Operation not permitted', undefined],
];

for (const [program, message, expected] of TABLE) {
  test(`${program}: ${message.split('\n')[0]!.slice(0, 90)}`, (t) => {
    t.is(classify(program, message), expected);
  });
}

test('a known answer is only read for its own program', (t) => {
  t.is(classify('runtime', 'Cannot find device "x"'), undefined);
  t.is(classify('ip', 'executable file not found in $PATH'), undefined);
  t.is(classify('nft', 'Cannot find device "x"'), undefined);
});

test('a host program failure is read by its whole stderr, not its shortened message', (t) => {
  const stderr = 'Error: No such file or directory\nlist table ip wardenfs_x\n              ^^^^';
  const e = new SystemFailure('nft list failed: list table ip wardenfs_x; ^^^^', { run: { program: 'nft', args: ['list'], exitCode: 1, stderr } });
  t.is(failureText(e), stderr);
  t.true(isAbsent('nft', e));
  t.false(isAbsent('nft', new SystemFailure('nft list failed', { run: { program: 'nft', args: ['list'], exitCode: 1, stderr: 'Error: Operation not permitted' } })));
  t.false(isAbsent('nft', new Error('spawn nft ENOENT')));
});

test('typedFailure keeps the message given and the failure as cause', (t) => {
  const e = typedFailure('runtime', 'exec: "x": executable file not found in $PATH', 'cannot run "x": it is not there');
  t.true(e instanceof NotFound);
  t.is(e.message, 'cannot run "x": it is not there');
  t.is(e.errno, 'ENOENT');
  const other = typedFailure('ip', 'RTNETLINK answers: Operation not permitted', 'link failed');
  t.true(other instanceof SystemFailure);
  t.is(other.errno, 'EIO');
});
