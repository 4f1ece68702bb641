/**
 * The typed errors of wardenfs. Each class stands for exactly one errno (docs/interface.md §6);
 * the FUSE adapter turns them into numbers in one place (`fs/errno.ts`). Messages follow
 * one style, written down in docs/decisions.md: lower case, no trailing period, values
 * in double quotes — `no such container "web"`.
 */

export type ErrnoName =
  | 'EINVAL' | 'ENOENT' | 'EEXIST' | 'EBUSY' | 'ENOSPC' | 'EACCES' | 'EPERM' | 'EIO'
  | 'EAGAIN' | 'EINTR' | 'EPIPE' | 'EROFS' | 'EISDIR' | 'ENOTDIR' | 'ENOTEMPTY' | 'EXDEV' | 'ENOSYS' | 'ELOOP'
  | 'ENODATA' | 'EOPNOTSUPP' | 'EBADF' | 'EMFILE' | 'ENAMETOOLONG'
  | 'EADDRINUSE' | 'EADDRNOTAVAIL';

export abstract class WardenError extends Error {
  abstract readonly errno: ErrnoName;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
  /**
   * The errno's name, as node:fs errors carry it: code that handles both kinds (the rootfs
   * resolver's callers, files.ts's isCode) asks `.code` and need not tell them apart.
   */
  get code(): ErrnoName { return this.errno; }
}

/** Unknown message, bad syntax, bad value, bad name. */
export class BadRequest extends WardenError { readonly errno = 'EINVAL' as const; }
/** No such container, image or process. */
export class NotFound extends WardenError { readonly errno = 'ENOENT' as const; }
/** A container, image or process of that name exists. */
export class Exists extends WardenError { readonly errno = 'EEXIST' as const; }
/** The thing is in use. */
export class Busy extends WardenError { readonly errno = 'EBUSY' as const; }
/** Out of a resource: addresses, ports, disk. */
export class NoSpace extends WardenError { readonly errno = 'ENOSPC' as const; }
/** The caller may not do this. */
export class Denied extends WardenError { readonly errno = 'EACCES' as const; }
/** The operation is not permitted on this kind of node (e.g. writing a read-only file). */
export class NotPermitted extends WardenError { readonly errno = 'EPERM' as const; }
/** What a failed host program was asked and answered (src/util/exec.ts fills it in). */
export interface HostRun {
  /** The program's name as called (`runc`, `nft`, `ip` …). */
  program: string;
  args: readonly string[];
  /** Its exit status, or the signal that ended it; absent when it could not be started. */
  exitCode?: number;
  signal?: string;
  /** What it printed on stderr, trimmed. */
  stderr: string;
}

/**
 * The runtime or the kernel failed; the message says how. A host program's failure
 * carries `run` (program, args, exit status, stderr) and its `cause`, so that callers can
 * tell known answers apart (src/util/hostmessages.ts) without parsing the message.
 */
export class SystemFailure extends WardenError {
  readonly errno = 'EIO' as const;
  readonly run?: HostRun;
  constructor(message: string, options?: { cause?: unknown; run?: HostRun }) {
    super(message, options);
    if (options?.run) this.run = options.run;
  }
}
/** A bounded resource of the daemon (e.g. blocked readers) is exhausted for now. */
export class TryAgain extends WardenError { readonly errno = 'EAGAIN' as const; }
/** The caller was interrupted by a signal while it waited (Ctrl-C on a blocked read). */
export class Interrupted extends WardenError { readonly errno = 'EINTR' as const; }
/** Nobody reads any more (stdin of an ended process, or after closein). */
export class BrokenPipe extends WardenError { readonly errno = 'EPIPE' as const; }

/** Settle `wait`, or fail with Interrupted when `abort` fires first (the caller got a signal). */
export function interruptible<T>(wait: Promise<T>, abort?: AbortSignal): Promise<T> {
  if (!abort) return wait;
  if (abort.aborted) return Promise.reject(new Interrupted('interrupted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Interrupted('interrupted'));
    abort.addEventListener('abort', onAbort, { once: true });
    wait.then(
      (v) => { abort.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { abort.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/** A write to something that is read-only by design (images). */
export class ReadOnly extends WardenError { readonly errno = 'EROFS' as const; }
export class IsDirectory extends WardenError { readonly errno = 'EISDIR' as const; }
export class NotDirectory extends WardenError { readonly errno = 'ENOTDIR' as const; }
export class CrossDevice extends WardenError { readonly errno = 'EXDEV' as const; }
/** An open of a symlink that is not to be followed (O_NOFOLLOW): the kernel follows the tree's links itself. */
export class SymlinkLoop extends WardenError { readonly errno = 'ELOOP' as const; }
/** A file handle the daemon does not know (or no longer). */
export class BadHandle extends WardenError { readonly errno = 'EBADF' as const; }
/** A name or a link's text is longer than the kernel or libfuse passes on. */
export class NameTooLong extends WardenError { readonly errno = 'ENAMETOOLONG' as const; }
/** No more handles of some kind can be opened. */
export class TooManyOpen extends WardenError { readonly errno = 'EMFILE' as const; }
/** No extended attribute of that name (getxattr's own answer, not a failure). */
export class NoAttribute extends WardenError { readonly errno = 'ENODATA' as const; }
/** The file cannot carry this operation at all (extended attributes on synthetic files). */
export class NotSupported extends WardenError { readonly errno = 'EOPNOTSUPP' as const; }

/** A host port a forward asks for is taken: a host service listens on it, or another forward has it. */
export class AddressInUse extends WardenError { readonly errno = 'EADDRINUSE' as const; }
/** A forward's host address is not an address of this host. */
export class AddressNotAvailable extends WardenError { readonly errno = 'EADDRNOTAVAIL' as const; }

/** The text for a human: a WardenError's message, or a short form of anything else. */
export function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Quote a value for a message, Plan 9 style: `"frob x"`. */
export function q(value: string): string {
  return JSON.stringify(value);
}
