/**
 * Table files (net/ports, net/rules): one entry per line. Opened with O_APPEND, writes add
 * lines; otherwise the first write replaces the table (later writes on the same open
 * file add). The kernel delivers O_TRUNC as a truncate just after the open (by path or
 * by handle, as libfuse2 pleases): it only marks the files open on this table that have
 * not been written yet, so `echo x > ports` replaces in one step and a bad line changes
 * nothing, while `: > ports` (truncate, no write) empties the table when the file is
 * closed (at flush, which close() waits for). A truncate with no such open file empties it at once.
 */
import { constants as C } from 'node:fs';
import { tableLines } from '../../ctl/net-values.js';
import { snapshotHandle } from './text.js';
import { S_IFREG, type FileNode, type Handle } from './types.js';

export interface TableOps {
  /** Names the table for as long as it exists (nodes are made per lookup; this state is not). */
  key: string;
  lines(): string[];
  set(lines: string[]): Promise<void>;
}

interface OpenState { truncated: boolean; wrote: boolean }

/** The open files of each table; entries leave at release. */
const openFiles = new Map<string, Set<OpenState>>();

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
      const fresh = [...(openFiles.get(ops.key) ?? [])].filter((s) => !s.wrote);
      if (fresh.length === 0) await ops.set([]);
      for (const s of fresh) s.truncated = true;
    },
    async open(flags): Promise<Handle> {
      const state: OpenState = { truncated: (flags & C.O_TRUNC) !== 0, wrote: false };
      const append = (flags & C.O_APPEND) !== 0;
      const snapshot = snapshotHandle(Buffer.from(text()));
      let open = openFiles.get(ops.key);
      if (!open) openFiles.set(ops.key, (open = new Set()));
      open.add(state);
      return {
        read: (buf, len, pos) => snapshot.read(buf, len, pos),
        async write(buf, len) {
          const lines = tableLines(buf.subarray(0, len).toString('utf8'));
          const add = state.wrote || (append && !state.truncated);
          state.wrote = true; // even when refused: a refused write must not empty the table at close
          await ops.set(add ? [...ops.lines(), ...lines] : lines);
          return len;
        },
        async truncate(size) {
          if (size === 0) state.truncated = true;
        },
        // close() waits for flush, not for release: the emptying must be done before close returns.
        async flush() {
          if (state.truncated && !state.wrote) {
            state.wrote = true;
            await ops.set([]);
          }
        },
        async release() {
          open.delete(state);
          if (open.size === 0) openFiles.delete(ops.key);
        },
      };
    },
  };
}
