/**
 * Table files (net/ports, net/rules): one entry per line. Opened with O_APPEND, writes add
 * lines; otherwise the first lines written replace the table (later ones on the same open
 * file add). The bytes of one open file are gathered as a ctl's are (ctl/lines.ts): each
 * write applies the whole lines it completes, so a line cut between two write()s is never
 * read as two entries, and its errors (EINVAL, EADDRINUSE …) fail that write.
 *
 * The kernel delivers O_TRUNC as a truncate just after the open (by path or by handle, as
 * libfuse2 pleases): it only marks the files open on this table that have not been
 * written yet, so `echo x > ports` replaces in one step and a bad line changes nothing,
 * while `: > ports` (truncate, no write) empties the table when the file is closed (at
 * FLUSH, which close() waits for). A truncate with no such open file empties it at once.
 *
 * Whose close (docs/security.md §3): the kernel sends FLUSH at every close of a
 * descriptor of the open file, a forked child's inherited copy included (at its exec or
 * exit). A FLUSH ends an unterminated last line only when its lock owner (the caller's
 * descriptor table) wrote some of that line, as for ctl files; what is still pending at
 * release is applied then. The truncate carries no owner (libfuse2 does not pass the
 * kernel's one for a setattr), so the opener of `: >` cannot be told from a child: an
 * O_TRUNC open that never wrote empties the table at the first FLUSH of any process, once.
 * That emptying does not count as a write: the first lines the open file writes afterwards
 * still replace the table, so it ends exactly as written (only the emptying may come
 * early, at a child's close before the writer's first write).
 */
import { constants as C } from 'node:fs';
import { tableLines } from '../../ctl/net-values.js';
import { LineBuffer } from '../../ctl/lines.js';
import { BadRequest } from '../../errors.js';
import { snapshotHandle } from './text.js';
import { S_IFREG, wantsWrite, type FileNode, type Handle, type Owner } from './types.js';

export interface TableOps {
  /** Names the table for as long as it exists (nodes are made per lookup; this state is not). */
  key: string;
  lines(): string[];
  set(lines: string[]): Promise<void>;
  /** Logs the refusal of a line that is too long (set() logs every other error). */
  refuse?(message: string): Promise<void>;
}

/** The writable open files of each table (for a truncate by path); entries leave at release. */
const openFiles = new Map<string, Set<TableHandle>>();

export class TableHandle implements Handle {
  private readonly lines = new LineBuffer();
  /** O_TRUNC (at open or by a truncate before the first write): the first lines replace, none empty. */
  private truncated: boolean;
  /** Bytes were written on this open file (even refused ones: a refused write must not empty the table at close). */
  wrote = false;
  /** Lines of this open file went to the table (applied or refused): the next ones add. */
  private changed = false;
  /** The truncate's emptying was done (at a FLUSH or at release). */
  private emptied = false;
  /** The descriptor tables that wrote bytes of the open (unterminated) line. */
  private readonly writers = new Set<bigint>();
  /** A writer of the open line came without an owner: any FLUSH ends it. */
  private unknownWriter = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly snapshot: Handle;

  private readonly append: boolean;

  /** `current`: the table's text at open, what reads of this open file return. */
  constructor(private readonly ops: TableOps, flags: number, current: string) {
    this.truncated = (flags & C.O_TRUNC) !== 0;
    this.append = (flags & C.O_APPEND) !== 0;
    this.snapshot = snapshotHandle(Buffer.from(current));
  }

  markTruncated(): void {
    if (!this.wrote) this.truncated = true;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Lines of this open file into the table: the first replace it (unless appending), later ones add. */
  private apply(entries: string[]): Promise<void> {
    const add = this.changed || (this.append && !this.truncated);
    this.changed = true;
    return this.ops.set(add ? [...this.ops.lines(), ...entries] : entries);
  }

  private forgetWriters(): void {
    this.writers.clear();
    this.unknownWriter = false;
  }

  read(buf: Buffer, len: number, pos: number): Promise<number> {
    return this.snapshot.read(buf, len, pos);
  }

  write(buf: Buffer, len: number, _pos: number, _abort?: AbortSignal, owner?: Owner): Promise<number> {
    return this.serial(async () => {
      this.wrote = true;
      const piece = buf.subarray(0, len);
      const endsLine = piece.includes(0x0a);
      const wasRefusing = this.lines.refusing;
      const pushed = this.lines.push(piece);
      try {
        if (pushed.lines.length > 0) {
          try {
            await this.apply(tableLines(pushed.lines.join('\n')));
          } catch (e) {
            // the rest of this write is dropped, up to the end of its line
            this.lines.abandon(len > 0 && piece[len - 1] !== 0x0a);
            throw e;
          }
        }
        if (pushed.refused) {
          // One events line per refused line, not one per piece of it (as for ctl files).
          if (!wasRefusing || pushed.lines.length > 0) await this.ops.refuse?.(pushed.refused.message);
          throw new BadRequest(pushed.refused.message);
        }
        return len;
      } finally {
        if (!this.lines.open || endsLine) this.forgetWriters(); // the line they wrote ended
        if (this.lines.open) {
          if (owner === undefined) this.unknownWriter = true;
          else this.writers.add(owner);
        }
      }
    });
  }

  async truncate(size: number): Promise<void> {
    if (size === 0) this.markTruncated();
  }

  /** The last line, if pending; else the emptying of an O_TRUNC open that wrote nothing. */
  private async finish(): Promise<void> {
    const last = this.lines.end();
    this.forgetWriters();
    if (last !== undefined) {
      await this.apply(tableLines(last));
    } else if (this.truncated && !this.wrote && !this.emptied) {
      this.emptied = true;
      await this.ops.set([]);
    }
  }

  /**
   * close() waits for FLUSH, not for release: the emptying and the last line are done
   * before close returns. Only a FLUSH from a table that wrote some of the open line ends
   * it (or any FLUSH when a writer or the FLUSH is unidentified).
   */
  flush(owner?: Owner): Promise<void> {
    return this.serial(async () => {
      if (this.lines.open && owner !== undefined && !this.unknownWriter && !this.writers.has(owner)) return;
      await this.finish();
    });
  }

  /** The last close: a line still pending is applied (its error is in events only). */
  release(): Promise<void> {
    return this.serial(async () => {
      const open = openFiles.get(this.ops.key);
      open?.delete(this);
      if (open?.size === 0) openFiles.delete(this.ops.key);
      await this.finish().catch(() => undefined);
    });
  }
}

export function tableFile(ops: TableOps): FileNode {
  const text = (): string => ops.lines().map((l) => l + '\n').join('');
  return {
    kind: 'file',
    async getattr() {
      const now = new Date();
      return { mode: S_IFREG | 0o644, size: Buffer.byteLength(text()), mtime: now, ctime: now, atime: now };
    },
    async truncate(size) {
      if (size !== 0) return;
      const fresh = [...(openFiles.get(ops.key) ?? [])].filter((h) => !h.wrote);
      if (fresh.length === 0) await ops.set([]);
      for (const h of fresh) h.markTruncated();
    },
    async open(flags): Promise<Handle> {
      // A read-only open has nothing to apply or empty: a snapshot, which the binding
      // answers itself (docs/fuse.md), and no candidate for a truncate by path.
      if (!wantsWrite(flags) && (flags & C.O_TRUNC) === 0) return snapshotHandle(Buffer.from(text()));
      const h = new TableHandle(ops, flags, text());
      let open = openFiles.get(ops.key);
      if (!open) openFiles.set(ops.key, (open = new Set()));
      open.add(h);
      return h;
    },
  };
}
