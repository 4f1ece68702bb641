/**
 * Running host programs (runc, mount, tar, ip …). One place so that every call has the
 * same logging and the same failure shape: a SystemFailure whose message says what ran
 * and what it printed on stderr.
 */
import { spawn } from 'node:child_process';
import { execa, type Options } from 'execa';
import { SystemFailure } from '../errors.js';
import { logger } from './log.js';

const log = logger('exec');

export interface RunResult { stdout: string; stderr: string }

export async function run(file: string, args: readonly string[], options: Options = {}): Promise<RunResult> {
  const started = Date.now();
  const result = await execa(file, args, { reject: false, stdin: 'ignore', ...options });
  log('%s %s → %s (%dms)', file, args.join(' '), result.exitCode ?? result.signal, Date.now() - started);
  if (result.failed) {
    const stderr = String(result.stderr ?? '').trim();
    const detail = stderr.split('\n').slice(-3).join('; ') || result.shortMessage;
    throw new SystemFailure(`${file.split('/').pop()} ${args[0] ?? ''} failed: ${detail}`);
  }
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
}

/**
 * Run a program whose descendants keep its stdio (a runtime starting a detached
 * container): no pipes, so nothing waits for them to close. stderr goes to `stderrFd`.
 */
export function runWithStderrTo(file: string, args: readonly string[], stderrFd: number): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', stderrFd] });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      log('%s %s → %s (%dms)', file, args.join(' '), code ?? signal, Date.now() - started);
      if (code === 0) resolve();
      else reject(new SystemFailure(`${file.split('/').pop()} ${args[0] ?? ''} failed (${code ?? signal})`));
    });
  });
}
