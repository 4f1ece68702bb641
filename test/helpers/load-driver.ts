/**
 * The clients of the load test (test/tree/load.test.ts), in a process of their own so that
 * 200 blocking reads each get a thread (UV_THREADPOOL_SIZE is set by the test) and the
 * measures are not the ava worker's. Reads a JSON plan from argv[2]; prints progress words
 * on stdout (`caught-up`, `blocked`, `ended`) and, last, one JSON line of results.
 * Reads `go-extra` and `go-end` on stdin (the test's cues).
 */
import { promises as fs, constants as C } from 'node:fs';
import readline from 'node:readline';

interface Plan {
  seconds: number;
  /** Files followed as a stream: a blocking read at the end until the last line `done`. */
  streams: string[];
  /** Logs followed by polling (tail -f), with the text each must end up holding. */
  logs: string[];
  /** Per writer: the file and the messages it cycles through. */
  writers: Array<{ file: string; messages: string[] }>;
  /** Extra readers to block on `extraFile` at the cue, then one more that must get EAGAIN. */
  extra: number;
  extraFile: string;
}

const plan = JSON.parse(process.argv[2]!) as Plan;
const now = (): number => Number(process.hrtime.bigint() / 1000n) / 1000; // ms

const cues = new Map<string, () => void>();
const cue = (name: string): Promise<void> => new Promise((resolve) => cues.set(name, resolve));
readline.createInterface({ input: process.stdin }).on('line', (l) => cues.get(l.trim())?.());

interface StreamResult { file: string; bytes: number; text: string; maxGap: number; error?: string; endedBy?: string; endedAfter?: number }

let logsOver = false;
let ending: number | undefined;

/** Follow a stream: blocking reads; the gap between arrivals while output flows is its progress latency. */
async function follow(file: string): Promise<StreamResult> {
  const r: StreamResult = { file, bytes: 0, text: '', maxGap: 0 };
  const fh = await fs.open(file, C.O_RDONLY);
  const buf = Buffer.alloc(65536);
  const chunks: Buffer[] = [];
  let last = now();
  let done = false;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, r.bytes);
      const t = now();
      if (bytesRead === 0) {
        r.endedBy = 'eof';
        break;
      }
      if (!done) r.maxGap = Math.max(r.maxGap, t - last);
      last = t;
      chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
      r.bytes += bytesRead;
      if (!done && Buffer.concat(chunks).toString().endsWith('done\n')) {
        done = true;
        caughtUp++;
        if (caughtUp === plan.streams.length) process.stdout.write('caught-up\n');
      }
    }
  } catch (e) {
    r.error = (e as NodeJS.ErrnoException).code ?? String(e);
    r.endedBy = r.error;
  } finally {
    if (ending !== undefined) r.endedAfter = now() - ending;
    await fh.close().catch(() => undefined);
  }
  r.text = Buffer.concat(chunks).toString();
  return r;
}
let caughtUp = 0;

interface LogResult { file: string; text: string; maxRead: number; reads: number }

/** Follow a log as `tail -f` does: read to the end, sleep a little, read again. */
async function tail(file: string): Promise<LogResult> {
  const r: LogResult = { file, text: '', maxRead: 0, reads: 0 };
  let pos = 0;
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (let last = false; ; last = logsOver) {
    const t0 = now();
    const fh = await fs.open(file, C.O_RDONLY);
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
        pos += bytesRead;
      }
    } finally {
      await fh.close();
    }
    r.maxRead = Math.max(r.maxRead, now() - t0);
    r.reads++;
    if (last) break; // one whole read after the cue: everything up to it is in
    await new Promise((res) => setTimeout(res, 200));
  }
  r.text = Buffer.concat(chunks).toString();
  return r;
}

interface WriterResult { file: string; requests: number; latencies: number[]; errors: string[] }

/** One write of one message, its reply read back on the same open file: the latency of the request. */
async function writer(w: Plan['writers'][number], until: number): Promise<WriterResult> {
  const r: WriterResult = { file: w.file, requests: 0, latencies: [], errors: [] };
  let i = 0;
  while (now() < until) {
    const message = w.messages[i++ % w.messages.length]!;
    const t0 = now();
    try {
      const fh = await fs.open(w.file, message.startsWith('>') ? C.O_WRONLY | C.O_TRUNC : C.O_RDWR);
      try {
        await fh.write(message.replace(/^>/, '') + '\n');
        if (!message.startsWith('>')) await fh.read(Buffer.alloc(4096), 0, 4096, 0);
      } finally {
        await fh.close();
      }
    } catch (e) {
      r.errors.push(`${message}: ${(e as Error).message}`);
    }
    r.latencies.push(now() - t0);
    r.requests++;
  }
  return r;
}

async function main(): Promise<void> {
  const started = now();
  const streams = plan.streams.map(follow);
  const logs = plan.logs.map(tail);
  const writers = await Promise.all(plan.writers.map((w) => writer(w, started + plan.seconds * 1000)));
  process.stdout.write('writers-done\n');
  await new Promise((res) => setTimeout(res, 2000));
  logsOver = true;
  const logResults = await Promise.all(logs);
  process.stdout.write('logs-done\n');
  await cue('go-extra');
  // Fill the bound: `extra` more readers wait at the end of a quiet stream; one more is EAGAIN at once
  const extraFhs = await Promise.all(Array.from({ length: plan.extra }, () => fs.open(plan.extraFile, C.O_RDONLY)));
  const size = (await fs.stat(plan.extraFile)).size;
  const extraReads = extraFhs.map((fh) => fh.read(Buffer.alloc(100), 0, 100, size).then(
    (x) => (x.bytesRead === 0 ? 'eof' : 'data'),
    (e: NodeJS.ErrnoException) => e.code ?? String(e),
  ).finally(() => fh.close().catch(() => undefined)));
  await new Promise((res) => setTimeout(res, 1000));
  const over = await fs.open(plan.extraFile, C.O_RDONLY);
  const t0 = now();
  let overResult: string;
  try {
    const x = await over.read(Buffer.alloc(100), 0, 100, size);
    overResult = x.bytesRead === 0 ? 'eof' : 'data';
  } catch (e) {
    overResult = (e as NodeJS.ErrnoException).code ?? String(e);
  } finally {
    await over.close();
  }
  const overMs = now() - t0;
  process.stdout.write('blocked\n');
  await cue('go-end');
  ending = now();
  const [streamResults, extraResults] = await Promise.all([Promise.all(streams), Promise.all(extraReads)]);
  const endMs = now() - ending;
  process.stdout.write('ended\n');
  process.stdout.write(JSON.stringify({ streams: streamResults, logs: logResults, writers, extra: extraResults, overResult, overMs, endMs }) + '\n');
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ fatal: String((e as Error).stack ?? e) }) + '\n');
  process.exit(1);
});
