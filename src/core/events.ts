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
import { promises as fs, openSync, writeSync, fstatSync, closeSync } from 'node:fs';
import path from 'node:path';
import { logger } from '../util/log.js';
import { APPEND_NOFOLLOW, CREATE_EXCL, READ_NOFOLLOW } from '../util/files.js';

const log = logger('events');

export const EVENTS_MAX = 4 * 1024 * 1024;
export const EVENTS_KEEP = 1024 * 1024;

/** Append to a file (created 0644, never through a symlink); its size after. */
function appendSync(file: string, text: string): number {
  const fd = openSync(file, APPEND_NOFOLLOW, 0o644);
  try {
    writeSync(fd, text);
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

export class EventLog {
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly file: string, private readonly max = EVENTS_MAX, private readonly keep = EVENTS_KEEP) {}

  /** Append one event; newlines inside are folded so that one event stays one line. */
  append(line: string): Promise<void> {
    const text = line.replace(/[\r\n]+/g, ' ').trimEnd() + '\n';
    this.tail = this.tail.then(async () => {
      // Synchronous: one small append to the state dir's local file (never the tree's own
      // mount) costs microseconds, where open, write, close and stat on the thread pool
      // were four round trips on the path of every run and every end (issue 18).
      // fstat, not a count of our own: another EventLog may append to the same file (restart)
      if (appendSync(this.file, text) > this.max) await this.trim();
    }).catch((e: unknown) => log('cannot append to %s: %s', this.file, e));
    return this.tail;
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
