/**
 * A read-only file whose content is produced at open as a stream of chunks, and read in
 * order (images/NAME/export.tar): nothing is built whole. The size is unknown, so getattr
 * says 0 and readers read to EOF (every synthetic file is direct I/O). Reads of one open
 * file are served one after the other; a read ahead of where the stream is skips forward,
 * a read behind it starts the stream again from the beginning (a reader that seeks back
 * pays for it; `cat`, `cp`, `tar` read in order).
 */
import { NotPermitted } from '../../errors.js';
import { S_IFREG, wantsWrite, type FileNode, type Handle } from './types.js';

export function generatedFile(produce: () => AsyncGenerator<Buffer>, mode = 0o444): FileNode {
  return {
    kind: 'file',
    async getattr() {
      const now = new Date();
      return { mode: S_IFREG | mode, size: 0, mtime: now, ctime: now, atime: now };
    },
    async open(flags): Promise<Handle> {
      if (wantsWrite(flags)) throw new NotPermitted('read-only file');
      let it = produce();
      let at = 0; // stream offset of the first byte of `pending`
      let pending: Buffer[] = []; // chunks made and not yet read
      let have = 0; // their total length
      let ended = false;
      let queue: Promise<unknown> = Promise.resolve();
      const restart = async (): Promise<void> => {
        await it.return(undefined);
        it = produce();
        at = 0;
        pending = [];
        have = 0;
        ended = false;
      };
      /** One more chunk into `pending`; false at the end. */
      const more = async (): Promise<boolean> => {
        if (ended) return false;
        const r = await it.next();
        if (r.done) { ended = true; return false; }
        pending.push(r.value);
        have += r.value.length;
        return true;
      };
      /** Drop n bytes from the front of `pending`, copying them to `out` when given. */
      const take = (n: number, out?: Buffer): number => {
        let done = 0;
        while (done < n && pending.length) {
          const head = pending[0]!;
          const k = Math.min(head.length, n - done);
          if (out) head.copy(out, done, 0, k);
          if (k === head.length) pending.shift();
          else pending[0] = head.subarray(k);
          done += k;
        }
        have -= done;
        at += done;
        return done;
      };
      const readAt = async (buf: Buffer, len: number, pos: number): Promise<number> => {
        if (pos < at) await restart();
        while (at + have <= pos) { // skip forward to pos
          take(have);
          if (!(await more())) return 0;
        }
        take(pos - at);
        while (have < len && (await more())) { /* gather up to len */ }
        return take(Math.min(len, have), buf);
      };
      return {
        read(buf, len, pos) {
          const r = queue.then(() => readAt(buf, len, pos));
          queue = r.catch(() => undefined); // the failure is this read's; the next one tries on
          return r;
        },
        async write() {
          throw new NotPermitted('read-only file');
        },
        async release() {
          await queue;
          await it.return(undefined).catch(() => undefined); // stops the walk; a failure of an abandoned stream is nobody's
        },
      };
    },
  };
}
