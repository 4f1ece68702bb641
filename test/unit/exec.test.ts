/** A host program's failure is a structured SystemFailure (util/exec.ts). */
import test from 'ava';
import { run } from '../../src/util/exec.js';
import { SystemFailure } from '../../src/errors.js';

test('a failed program: SystemFailure with program, args, exit status, whole stderr and cause', async (t) => {
  const e = await t.throwsAsync(run('sh', ['-c', 'echo one >&2; echo two >&2; exit 3']), { instanceOf: SystemFailure });
  t.is(e!.errno, 'EIO');
  t.is(e!.message, 'sh -c failed: one; two');
  t.deepEqual(e!.run, { program: 'sh', args: ['-c', 'echo one >&2; echo two >&2; exit 3'], exitCode: 3, signal: undefined, stderr: 'one\ntwo' });
  t.true(e!.cause instanceof Error);
});

test('a program that succeeds gives its output', async (t) => {
  t.deepEqual(await run('sh', ['-c', 'echo out; echo err >&2']), { stdout: 'out', stderr: 'err' });
});
