/**
 * Running host programs (runc, mount, tar, ip …). One place so that every call has the
 * same logging and the same failure shape: a SystemFailure whose message says what ran
 * and what it printed on stderr, and whose `run` holds the program, its arguments, its exit
 * status and its whole stderr (src/util/hostmessages.ts reads the known answers there).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { execa, type Options } from 'execa';
import { SystemFailure } from '../errors.js';
import { logger } from './log.js';

const log = logger('exec');

/**
 * Host programs are looked up in the system's directories only, never in the inherited
 * PATH: under npm, PATH starts with node_modules/.bin, where for example `nft` is a
 * JavaScript tool of a dev dependency that exits 0 and does nothing.
 */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const resolved = new Map<string, string>();

export function systemProgram(file: string): string {
  if (file.includes('/')) return file;
  let p = resolved.get(file);
  if (!p) {
    p = SYSTEM_PATH.split(':').map((d) => path.join(d, file)).find((c) => {
      try {
        accessSync(c, constants.X_OK);
        return true;
      } catch {
        return false; // not in this directory (or not executable): try the next
      }
    }) ?? file;
    resolved.set(file, p);
  }
  return p;
}

/** The environment for host programs: the system PATH, not the caller's. */
export function systemEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: SYSTEM_PATH, ...extra };
}

export interface RunResult { stdout: string; stderr: string }

export async function run(file: string, args: readonly string[], options: Options = {}): Promise<RunResult> {
  const started = Date.now();
  const stdin = options.input === undefined ? { stdin: 'ignore' as const } : {};
  const result = await execa(systemProgram(file), args, { reject: false, ...stdin, env: systemEnv(), extendEnv: false, ...options });
  log('%s %s → %s (%dms)', file, args.join(' '), result.exitCode ?? result.signal, Date.now() - started);
  if (result.failed) {
    const stderr = String(result.stderr ?? '').trim();
    const detail = stderr.split('\n').slice(-3).join('; ') || result.shortMessage;
    const program = file.split('/').pop()!;
    throw new SystemFailure(`${program} ${args[0] ?? ''} failed: ${detail}`, {
      cause: result,
      run: { program, args, exitCode: result.exitCode, signal: result.signal, stderr },
    });
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
    const child = spawn(systemProgram(file), args, { stdio: ['ignore', 'ignore', stderrFd], env: systemEnv() });
    const program = file.split('/').pop()!;
    child.once('error', (e) => reject(new SystemFailure(`${program} ${args[0] ?? ''} failed: ${e.message}`, { cause: e, run: { program, args, stderr: '' } })));
    child.once('exit', (code, signal) => {
      log('%s %s → %s (%dms)', file, args.join(' '), code ?? signal, Date.now() - started);
      if (code === 0) resolve();
      // stderr went to the caller's file: it reads it and says what it means (drivers/runtime/oci.ts).
      else reject(new SystemFailure(`${program} ${args[0] ?? ''} failed (${code ?? signal})`, { run: { program, args, exitCode: code ?? undefined, signal: signal ?? undefined, stderr: '' } }));
    });
  });
}
