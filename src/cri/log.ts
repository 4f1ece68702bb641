/**
 * A CRI container's log at its `log_path`, in kubelet's format (docs/cri.md, "Logs"): one
 * line per line the main process wrote, `TIMESTAMP STREAM TAG TEXT`, TIMESTAMP RFC 3339 with
 * nanoseconds (when the daemon read it), STREAM `stdout` or `stderr`, TAG `F` for a whole
 * line and `P` for a part of a longer one (16 KiB pieces); a last line without a newline is
 * written whole (`F`) at the end, as containerd does. The process's own output files under
 * procs/ stay as they are: this is a copy, followed as they grow.
 */
import { promises as fs, constants as C } from 'node:fs';
import path from 'node:path';
import type { Proc, Stream } from '../core/process.js';

/** Longest piece of a line in one log line. */
export const MAX_PIECE = 16 * 1024;

/** RFC 3339 with nine fraction digits, UTC. */
export function rfc3339Nano(ms: number, subMsNs = 0): string {
  const iso = new Date(Math.floor(ms)).toISOString(); // 2026-11-30T04:50:00.123Z
  const ns = String(Math.floor(subMsNs)).padStart(6, '0').slice(0, 6);
  return `${iso.slice(0, -1)}${ns}Z`;
}

/**
 * The log lines for `text` read from `stream`: its whole lines (each longer one as `P` pieces
 * and an `F` end), and what is left of a line not ended yet: kept for the next read, but
 * written as `P` pieces once longer than a piece, and written whole (`F`) when `final`.
 */
export function criLines(stream: Stream, text: Buffer, ts: string, final: boolean): { lines: string; rest: Buffer } {
  const out: string[] = [];
  const whole = (line: Buffer): void => {
    let l = line;
    while (l.length > MAX_PIECE) {
      out.push(`${ts} ${stream} P ${l.subarray(0, MAX_PIECE).toString('utf8')}\n`);
      l = l.subarray(MAX_PIECE);
    }
    out.push(`${ts} ${stream} F ${l.toString('utf8')}\n`);
  };
  let start = 0;
  for (let nl = text.indexOf(0x0a, start); nl >= 0; nl = text.indexOf(0x0a, start)) {
    whole(text.subarray(start, nl));
    start = nl + 1;
  }
  let rest = text.subarray(start);
  if (final && rest.length > 0) {
    whole(rest);
    rest = Buffer.alloc(0);
  }
  while (rest.length > MAX_PIECE) {
    out.push(`${ts} ${stream} P ${rest.subarray(0, MAX_PIECE).toString('utf8')}\n`);
    rest = rest.subarray(MAX_PIECE);
  }
  return { lines: out.join(''), rest: Buffer.from(rest) };
}

/** How far each stream has been written to the log (bytes of the process's output files). */
export type LogOffsets = Record<Stream, number>;

/** How often the offsets are recorded at most: after a daemon restart, at most this much of the log is written again. */
const SAVE_EVERY_MS = 1000;
// (A daemon that stops records them then: only a daemon killed outright repeats up to a second of lines.)

export class ContainerLog {
  private readonly offset: LogOffsets;
  private readonly rest: Record<Stream, Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  private finished?: Promise<void>;
  private savedAt = 0;

  /**
   * `from`: where an earlier daemon had got to (its record); `save` records how far it has got
   * now (at most once a second, and at the end), so that a restarted daemon goes on from there.
   */
  constructor(readonly file: string, private readonly proc: Proc, from?: LogOffsets, private readonly save?: (o: LogOffsets) => Promise<void>) {
    this.offset = { stdout: from?.stdout ?? 0, stderr: from?.stderr ?? 0 };
  }

  private saved = '';

  /** Record how far the log has got, if that changed (the daemon calls it at stop too). */
  async flush(): Promise<void> {
    if (!this.save) return;
    const now = this.written();
    const text = JSON.stringify(now);
    if (text === this.saved) return;
    this.savedAt = Date.now();
    await this.save(now);
    this.saved = text;
  }

  /** The offsets of what is in the log: a line not ended yet is not. */
  private written(): LogOffsets {
    return { stdout: this.offset.stdout - this.rest.stdout.length, stderr: this.offset.stderr - this.rest.stderr.length };
  }

  /** Follow the process's output until it ends (the promise of done()). */
  start(): Promise<void> {
    this.finished ??= this.run();
    return this.finished;
  }

  /** Settled once everything the process wrote is in the log. */
  done(): Promise<void> {
    return this.finished ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o755 });
    const fh = await fs.open(this.file, C.O_WRONLY | C.O_CREAT | C.O_APPEND | C.O_NOFOLLOW, 0o640);
    try {
      for (;;) {
        const running = this.proc.running;
        const waits = running ? (['stdout', 'stderr'] as const).map((s) => this.proc.nextChange(s)) : [];
        await this.pump(fh, !running);
        if (!running || Date.now() - this.savedAt >= SAVE_EVERY_MS) await this.flush();
        if (!running) return;
        await Promise.race(waits.map((w) => w.changed));
        for (const w of waits) w.cancel();
      }
    } finally {
      await fh.close();
    }
  }

  private async pump(fh: fs.FileHandle, final: boolean): Promise<void> {
    for (const stream of ['stdout', 'stderr'] as const) {
      const src = await fs.open(this.proc.paths[stream], 'r').catch(() => undefined);
      if (!src) continue;
      try {
        const size = (await src.stat()).size;
        if (size < this.offset[stream]) this.offset[stream] = 0; // cut (the output cap): read from its start
        const buf = Buffer.alloc(size - this.offset[stream]);
        const { bytesRead } = buf.length ? await src.read(buf, 0, buf.length, this.offset[stream]) : { bytesRead: 0 };
        this.offset[stream] += bytesRead;
        const now = performance.timeOrigin + performance.now();
        const { lines, rest } = criLines(stream, Buffer.concat([this.rest[stream], buf.subarray(0, bytesRead)]), rfc3339Nano(now, (now % 1) * 1e6), final);
        this.rest[stream] = rest;
        if (lines) await fh.write(lines);
      } finally {
        await src.close();
      }
    }
  }
}
