/**
 * An append-only event log: one line per event, oldest first, kept in a file so that
 * `tail -f` on the tree follows it and it survives restarts. Appends are serialised so
 * lines never interleave.
 *
 * The log is bounded: once the file passes `max` bytes (4 MiB), it is replaced (write a
 * new file, rename it over) by its last `keep` bytes (1 MiB), cut at a line start, after
 * a first line `dropped N bytes of older events`. Readers of the tree read the file by
 * name at each read (fs/nodes/log.ts), so an open `tail -f` sees the file shrink, says
 * "file truncated" and reads the kept part from its start again.
 */
import { promises as fs, openSync, writeSync, fstatSync, ftruncateSync, closeSync } from 'node:fs';
import path from 'node:path';
import { logger } from '../util/log.js';
import { APPEND_NOFOLLOW, CREATE_EXCL, READ_NOFOLLOW } from '../util/files.js';

const log = logger('events');

export const EVENTS_MAX = 4 * 1024 * 1024;
export const EVENTS_KEEP = 1024 * 1024;

/** Lines kept in memory while the state dir's filesystem is full (then the oldest are dropped). */
export const EVENTS_PENDING_MAX = 64 * 1024;
/** How often lines kept in memory are tried again. */
const RETRY_MS = 1000;

export class EventLog {
  private tail: Promise<void> = Promise.resolve();
  /**
   * Lines not written because the state dir's filesystem was full (ENOSPC, EDQUOT): kept in
   * order and written before the next line, or by a retry, once there is room
   * (docs/faults.md). Bounded: past EVENTS_PENDING_MAX the oldest go, and a line says how many.
   */
  private pending: string[] = [];
  private pendingBytes = 0;
  private droppedPending = 0;
  private retry?: NodeJS.Timeout;

  constructor(readonly file: string, private readonly max = EVENTS_MAX, private readonly keep = EVENTS_KEEP) {}

  /** Append one event; newlines inside are folded so that one event stays one line. */
  append(line: string): Promise<void> {
    const text = line.replace(/[\r\n]+/g, ' ').trimEnd() + '\n';
    this.keepLine(text);
    return this.flush();
  }

  /** Lines waiting in memory (a full state dir), for tests and the status of the daemon. */
  get waiting(): number { return this.pending.length; }

  private keepLine(text: string): void {
    this.pending.push(text);
    this.pendingBytes += text.length;
    while (this.pendingBytes > EVENTS_PENDING_MAX && this.pending.length > 1) {
      this.pendingBytes -= this.pending.shift()!.length;
      this.droppedPending++;
    }
  }

  /** Write what is waiting, in order; on a full filesystem keep it and try again later. */
  private flush(): Promise<void> {
    this.tail = this.tail.then(async () => {
      if (this.pending.length === 0) return;
      // Take the batch: lines appended while it is written wait for the next flush (chained after this one)
      const batch = this.pending;
      const dropped = this.droppedPending;
      this.pending = [];
      this.pendingBytes = 0;
      this.droppedPending = 0;
      const lines = dropped ? [`dropped ${dropped} events while the state dir was full\n`, ...batch] : batch;
      let size: number;
      try {
        size = this.write(lines.join(''));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e; // as before: logged, the lines are lost
        // Back in front of what came meanwhile, in order, within the bound
        const later = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        this.droppedPending += dropped;
        for (const l of [...batch, ...later]) this.keepLine(l);
        log('%s: the filesystem is full, %d line(s) kept in memory', this.file, this.pending.length);
        this.retry ??= setTimeout(() => { this.retry = undefined; void this.flush(); }, RETRY_MS).unref();
        return;
      }
      if (size > this.max) await this.trim();
    }).catch((e: unknown) => log('cannot append to %s: %s', this.file, e));
    return this.tail;
  }

  /** Append `text` whole or not at all: a write cut short by a full filesystem is taken back. */
  /**
   * Append `text` whole or not at all; the file's size after. Synchronous: one small append
   * to the state dir's local file (never the tree's own mount) costs microseconds, where
   * open, stat, write, close and the stat after on the thread pool were five round trips on
   * the path of every run and every end (issue 18).
   */
  private write(text: string): number {
    const fd = openSync(this.file, APPEND_NOFOLLOW, 0o644);
    try {
      const size = fstatSync(fd).size;
      try {
        const buf = Buffer.from(text);
        for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
      } catch (e) {
        try {
          ftruncateSync(fd, size);
        } catch (te) {
          log('taking back a part of a line in %s: %s', this.file, te);
        }
        throw e;
      }
      // fstat, not a count of our own: another EventLog may append to the same file (restart)
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  }


  error(message: string): Promise<void> {
    return this.append(`error: ${message}`);
  }

  /** Keep the last `keep` bytes, from a line start; the file is replaced whole (rename). */
  private async trim(): Promise<void> {
    const fh = await fs.open(this.file, READ_NOFOLLOW);
    let kept: Buffer;
    let size: number;
    try {
      size = (await fh.stat()).size;
      const from = Math.max(0, size - this.keep);
      const buf = Buffer.alloc(size - from);
      const { bytesRead } = await fh.read(buf, 0, buf.length, from);
      kept = buf.subarray(0, bytesRead);
      if (from > 0) {
        const nl = kept.indexOf(0x0a); // the byte before `from` may be mid-line: start at the next line
        kept = nl < 0 ? Buffer.alloc(0) : kept.subarray(nl + 1);
      }
    } finally {
      await fh.close();
    }
    const dropped = size - kept.length;
    const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.trim`);
    await fs.rm(tmp, { force: true }); // a leftover of a trim cut short
    await fs.writeFile(tmp, Buffer.concat([Buffer.from(`dropped ${dropped} bytes of older events\n`), kept]), { mode: 0o644, flag: CREATE_EXCL });
    await fs.rename(tmp, this.file);
  }
}
