/**
 * Who made a request of the tree: the calling process's uid, gid and pid as the FUSE
 * kernel gives them with every request (fuse_get_context() in the patched binding), and a
 * non-root caller's supplementary groups (libfuse reads them from /proc). With
 * `wardenfs mount --allow-other` other host users reach the tree: rootfs/ operations act
 * with the caller's credentials (docs/rootfs.md), and each ctl message is written to
 * events with its caller (docs/interface.md §8). Pure.
 */

export interface Caller {
  readonly uid: number;
  readonly gid: number;
  /** The calling thread's id (the process's pid for a single-threaded caller); 0: unknown. */
  readonly pid: number;
  /** Supplementary groups of a non-root caller ([] for root: it needs none). */
  readonly groups: readonly number[];
  /**
   * The caller's umask, for what it makes (the binding asks the kernel for FUSE_CAP_DONT_MASK:
   * modes come unmasked, docs/rootfs.md); absent or 0: the mode is taken as given.
   */
  readonly umask?: number;
}

/** Whether a view of a tree for `c` differs from the daemon's own: another user, or a umask to apply. */
export function needsView(c: Caller | undefined): boolean {
  return !actsAsDaemon(c) || (c?.umask ?? 0) !== 0;
}

/** Whether a request is done with the daemon's own credentials: a root caller, or none known. */
export function actsAsDaemon(c: Caller | undefined): boolean {
  return c === undefined || c.uid === 0;
}

/** A caller as the native rootfs addon takes it: [uid, gid, ...groups]. */
export function callerIds(c: Caller): Uint32Array {
  return Uint32Array.from([c.uid, c.gid, ...c.groups]);
}

/** The kernel's TASK_COMM_LEN less its NUL: a comm is at most 15 bytes. */
export const COMM_MAX = 15;

/**
 * A command name (/proc/PID/comm) fit for an events line: at most COMM_MAX bytes of it, its
 * trailing newline dropped, every byte that is not printable ASCII or is a blank shown as
 * '?' (a process names itself: it must not forge a line, a field or a terminal escape).
 * '' (unknown: the process is gone) shows as '?'.
 */
export function cleanComm(raw: string | Buffer | undefined): string {
  if (raw === undefined) return '?';
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8');
  let end = bytes.indexOf(0x0a);
  if (end < 0) end = bytes.length;
  const kept = bytes.subarray(0, Math.min(end, COMM_MAX));
  const text = Array.from(kept, (b) => (b > 0x20 && b < 0x7f ? String.fromCharCode(b) : '?')).join('');
  return text === '' ? '?' : text;
}

/** How events name a caller: `uid=0 pid=1234 comm=sh`. */
export function formatCaller(c: Pick<Caller, 'uid' | 'pid'>, comm: string | Buffer | undefined): string {
  return `uid=${c.uid} pid=${c.pid} comm=${cleanComm(comm)}`;
}

/** Bytes of a message shown in its events line; the rest is cut and marked with "…". */
export const SHOWN_MESSAGE_MAX = 200;

/**
 * The events line that names who sent a message (docs/interface.md §8):
 * `ctl uid=0 pid=1234 comm=sh: create web`. `what` is the message as written, cut at
 * SHOWN_MESSAGE_MAX bytes (a message may be up to 1 MiB), its control characters shown as
 * '?' (scripts build messages from untrusted values: no terminal escape reaches a reader).
 */
export function requestLine(kind: string, c: Pick<Caller, 'uid' | 'pid'>, comm: string | Buffer | undefined, what: string): string {
  let shown = what.trim().replace(/[\u0000-\u001f\u007f]/g, '?');
  if (Buffer.byteLength(shown) > SHOWN_MESSAGE_MAX) {
    shown = Buffer.from(shown).subarray(0, SHOWN_MESSAGE_MAX).toString('utf8').replace(/\uFFFD+$/, '') + '…';
  }
  return `${kind} ${formatCaller(c, comm)}: ${shown}`;
}
