/**
 * A process with a terminal (`run tty=1`; docs/processes.md, Terminals). conmon runs it in
 * terminal mode: runc makes the pty in the container's devpts and hands the master to
 * conmon through its console socket; conmon holds it as long as the process lives (so the
 * terminal outlives the daemon like the rest of a process's stdio) and
 *
 * - copies what the terminal shows into its k8s-file log (`tty.log`), which the daemon
 *   decodes into the process's `stdout` file (and the runtime's own messages, which conmon
 *   logs as stderr, into `stderr`): `TtyLog` below, resumable after a restart;
 * - writes to the master what arrives on its attach socket (`attach`, SOCK_SEQPACKET):
 *   the daemon's stdin writer is a connection to it (`AttachStdin`), made again at restart;
 * - resizes the terminal on a `1 ROWS COLS` line in its control FIFO (`ctl`): the kernel
 *   sends SIGWINCH to the terminal's foreground process group.
 */
import { promises as fs, constants as C, write as fsWrite, close as fsClose } from 'node:fs';
import { promisify } from 'node:util';
import { attachConnect } from '../rootfs/addon.js';
import { isErrno, writeFileAtomic, READ_NOFOLLOW, APPEND_NOFOLLOW } from '../../util/files.js';
import { BrokenPipe } from '../../errors.js';
import { logger } from '../../util/log.js';
import { run } from '../../util/exec.js';
import type { ProcPaths } from './paths.js';

const log = logger('monitor');

const writeFd = promisify(fsWrite);
const closeFd = promisify(fsClose);

/** What the daemon writes a process's stdin through: the FIFO's FileHandle, or the attach socket. */
export interface StdinSink {
  write(data: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  close(): Promise<void>;
}

/**
 * conmon reads one message of at most 32 KiB − 1 from the attach socket at a time and
 * drops the rest of a longer one (SOCK_SEQPACKET): each write is one message of at most this.
 */
const ATTACH_CHUNK = 4096;

/** The daemon's connection to conmon's attach socket (non-blocking: a full socket is EAGAIN). */
export class AttachStdin implements StdinSink {
  private fd: number | undefined;
  constructor(fd: number) { this.fd = fd; }

  async write(data: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }> {
    if (this.fd === undefined) throw new BrokenPipe('the terminal is closed');
    const { bytesWritten } = await writeFd(this.fd, data, offset, Math.min(length, ATTACH_CHUNK));
    return { bytesWritten };
  }

  async close(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await closeFd(fd);
  }
}

/** Connect to the process's attach socket; undefined when conmon is gone (no socket, or nobody listens). */
export function connectAttach(p: ProcPaths): AttachStdin | undefined {
  try {
    return new AttachStdin(attachConnect(p.dir, 'attach'));
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ECONNREFUSED')) return undefined;
    throw e;
  }
}

/**
 * Resize the terminal: one line to conmon's control FIFO (it makes the TIOCSWINSZ ioctl),
 * then the size is kept in `winsize` for readers. Opened non-blocking: with conmon gone
 * there is no reader (ENXIO) and nothing waits.
 */
export async function resizeTerminal(p: ProcPaths, rows: number, cols: number): Promise<boolean> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(p.conmonCtl, C.O_WRONLY | C.O_NONBLOCK | C.O_NOFOLLOW);
  } catch (e) {
    if (isErrno(e, 'ENXIO', 'ENOENT')) return false;
    throw e;
  }
  try {
    await fh.write(`1 ${rows} ${cols}\n`);
  } finally {
    await fh.close();
  }
  await writeWinsize(p, rows, cols);
  return true;
}

export async function writeWinsize(p: ProcPaths, rows: number, cols: number): Promise<void> {
  await writeFileAtomic(p.winsize, `${rows} ${cols}\n`, 0o600);
}

/** The size last set (`ROWS COLS`), or undefined when none was recorded. */
export async function readWinsize(p: ProcPaths): Promise<{ rows: number; cols: number } | undefined> {
  const text = await fs.readFile(p.winsize, { encoding: 'utf8', flag: READ_NOFOLLOW }).catch(() => undefined); // none recorded
  const m = text === undefined ? null : /^(\d+) (\d+)\n?$/.exec(text);
  return m ? { rows: Number(m[1]), cols: Number(m[2]) } : undefined;
}

export interface LogRecord { stream: 'stdout' | 'stderr'; data: Buffer }

/**
 * Decode conmon's k8s-file log: one record a line, `TIME STREAM TAG CONTENT\n`, TAG `F` for
 * content that ended a line (its newline is the record's) and `P` for a partial one. Only
 * whole lines are decoded; `consumed` is how far (the rest is a record being written). The
 * content is the process's bytes as they were, so the decoding is exact; a line of any
 * other shape is skipped (conmon writes none).
 */
export function decodeK8sLog(buf: Buffer): { records: LogRecord[]; consumed: number } {
  const records: LogRecord[] = [];
  let pos = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) break;
    const line = buf.subarray(pos, nl);
    pos = nl + 1;
    const s1 = line.indexOf(0x20);
    const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
    const s3 = s2 < 0 ? -1 : line.indexOf(0x20, s2 + 1);
    const stream = s2 < 0 ? '' : line.subarray(s1 + 1, s2).toString('latin1');
    const tag = s2 < 0 ? '' : line.subarray(s2 + 1, s3 < 0 ? line.length : s3).toString('latin1');
    if ((stream !== 'stdout' && stream !== 'stderr') || (tag !== 'F' && tag !== 'P')) continue;
    const content = s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1);
    records.push({ stream, data: tag === 'F' ? Buffer.concat([content, Buffer.from('\n')]) : Buffer.from(content) });
  }
  return { records, consumed: pos };
}

/** Read at most this much of the log per step. */
const STEP = 1024 * 1024;

/**
 * The daemon's copy of a terminal's log into `stdout`/`stderr`. Its position is kept in
 * `tty.pos` (`LOGOFFSET STDOUTSIZE STDERRSIZE`, written after each append): a daemon that
 * died between an append and the position finds files longer than recorded and skips that
 * many decoded bytes, so nothing is copied twice or lost. What was decoded is released
 * from the log (a punched hole): the log costs no more disk than its undecoded tail.
 */
export class TtyLog {
  private pos?: { log: number; out: number; err: number };
  private running?: Promise<boolean>;
  private again = false;

  constructor(private readonly p: ProcPaths) {}

  /** Start a fresh log's position (before conmon runs). */
  static async init(p: ProcPaths): Promise<void> {
    await writeFileAtomic(p.ttyPos, '0 0 0\n', 0o600);
  }

  /** Copy what the log holds beyond the position; resolves true when anything was appended. Calls are serialized. */
  pump(): Promise<boolean> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let any = false;
      try {
        do {
          this.again = false;
          while (await this.step()) any = true;
        } while (this.again);
      } finally {
        this.running = undefined;
      }
      return any;
    })();
    return this.running;
  }

  private async load(): Promise<{ log: number; out: number; err: number }> {
    if (this.pos) return this.pos;
    const text = await fs.readFile(this.p.ttyPos, { encoding: 'utf8', flag: READ_NOFOLLOW }).catch(() => '0 0 0'); // none: from the start
    const [log0, out, err] = text.trim().split(' ').map(Number);
    this.pos = { log: log0 || 0, out: out || 0, err: err || 0 };
    return this.pos;
  }

  private async step(): Promise<boolean> {
    const pos = await this.load();
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(this.p.ttyLog, READ_NOFOLLOW);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false; // conmon has not written it yet
      throw e;
    }
    let buf: Buffer;
    try {
      buf = Buffer.alloc(STEP);
      const { bytesRead } = await fh.read(buf, 0, STEP, pos.log);
      buf = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
    let { records, consumed } = decodeK8sLog(buf);
    if (consumed === 0) {
      if (buf.length < STEP) return false; // a record being written
      // A megabyte without a newline is not conmon's (its records are a few KiB): step over it.
      log('%s: a line of more than %d bytes skipped', this.p.ttyLog, STEP);
      consumed = buf.length;
      records = [];
    }
    // After a restart: what the files hold beyond the recorded sizes was appended already.
    const sizes = await Promise.all([this.sizeOf(this.p.stdout), this.sizeOf(this.p.stderr)]);
    let skipOut = Math.max(0, sizes[0] - pos.out);
    let skipErr = Math.max(0, sizes[1] - pos.err);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    for (const r of records) {
      let data = r.data;
      if (r.stream === 'stdout') {
        const s = Math.min(skipOut, data.length);
        skipOut -= s;
        data = data.subarray(s);
        if (data.length) out.push(data);
      } else {
        const s = Math.min(skipErr, data.length);
        skipErr -= s;
        data = data.subarray(s);
        if (data.length) err.push(data);
      }
    }
    const outBytes = Buffer.concat(out);
    const errBytes = Buffer.concat(err);
    if (outBytes.length) await fs.appendFile(this.p.stdout, outBytes, { flag: APPEND_NOFOLLOW, mode: 0o600 });
    if (errBytes.length) await fs.appendFile(this.p.stderr, errBytes, { flag: APPEND_NOFOLLOW, mode: 0o600 });
    // The sizes recorded are what the files hold now (less a skip still owed), so a skip is exact.
    const next = { log: pos.log + consumed, out: sizes[0] + outBytes.length - skipOut, err: sizes[1] + errBytes.length - skipErr };
    await writeFileAtomic(this.p.ttyPos, `${next.log} ${next.out} ${next.err}\n`, 0o600);
    this.pos = next;
    await this.release(next.log);
    return true;
  }

  private async sizeOf(file: string): Promise<number> {
    return (await fs.stat(file).catch(() => undefined))?.size ?? 0; // not there yet: nothing in it
  }

  /** Punch out what was decoded once it is worth it (offsets stay valid, as for the output cap). */
  private released = 0;
  private async release(upTo: number): Promise<void> {
    const aligned = Math.floor(upTo / 65536) * 65536;
    if (aligned - this.released < 1024 * 1024) return;
    await run('fallocate', ['--punch-hole', '--offset', '0', '--length', String(aligned), this.p.ttyLog]).catch((e: unknown) => log('release %s: %s', this.p.ttyLog, e));
    this.released = aligned;
  }
}
