/**
 * What the known answers of host programs mean. The OCI runtime (runc, crun), `ip` and
 * `nft` say "no such thing" or "exists" only in words on stderr; this table is the one
 * place that reads those words and picks the typed error (and so the errno) for them.
 * Everything else stays a SystemFailure (EIO). test/unit/hostmessages.test.ts holds the
 * real messages each row was written for.
 */
import { BadRequest, Exists, NotFound, SystemFailure, type WardenError } from '../errors.js';

export type HostProgram = 'runtime' | 'ip' | 'nft';

export type ErrorClass = new (message: string, options?: { cause?: unknown }) => WardenError;

interface Known {
  program: HostProgram;
  pattern: RegExp;
  error: ErrorClass;
}

/** First match wins: the order matters where a message holds two answers. */
const KNOWN: readonly Known[] = [
  // A process's start (runc exec through conmon): the working directory set by `run dir=`.
  { program: 'runtime', pattern: /chdir to cwd \(".*"\) set in config\.json failed/, error: BadRequest },
  // The program itself is missing (runc: "executable file not found in $PATH", "stat …: no such
  // file or directory"; crun: "executable file `x` not found in $PATH: No such file or directory").
  { program: 'runtime', pattern: /executable file not found|no such file or directory|not found/i, error: NotFound },
  // It is there but cannot be run, or the directory cannot be entered.
  { program: 'runtime', pattern: /chdir|permission denied|not a directory/i, error: BadRequest },
  // nft: a table, chain, map or element that is not there ("Error: No such file or directory").
  { program: 'nft', pattern: /No such file or directory/i, error: NotFound },
  // nft: a map element with that key leads elsewhere ("Error: Could not process rule: File exists").
  { program: 'nft', pattern: /exists/i, error: Exists },
  // ip: no such link or namespace.
  { program: 'ip', pattern: /Cannot find device|No such file or directory/i, error: NotFound },
  { program: 'ip', pattern: /File exists/i, error: Exists },
];

/** The words to read from a failure: a host program's whole stderr, else the message. */
export function failureText(e: unknown): string {
  if (e instanceof SystemFailure && e.run?.stderr) return e.run.stderr;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** The typed error class a known answer of `program` stands for, or undefined (a plain failure). */
export function classify(program: HostProgram, failure: unknown): ErrorClass | undefined {
  const text = typeof failure === 'string' ? failure : failureText(failure);
  return KNOWN.find((k) => k.program === program && k.pattern.test(text))?.error;
}

/** Whether `failure` is `program`'s answer "no such thing" (a table, link, namespace …). */
export function isAbsent(program: HostProgram, failure: unknown): boolean {
  return classify(program, failure) === NotFound;
}

/** A typed error with `message` for a failure of `program`: its known class, else SystemFailure. */
export function typedFailure(program: HostProgram, failure: unknown, message: string): WardenError {
  const Class = classify(program, failure) ?? SystemFailure;
  return new Class(message, { cause: failure });
}
