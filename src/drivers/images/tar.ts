/**
 * Reading a tar stream (ustar, GNU long names, PAX), member after member, without
 * touching any file: what the members say is applied elsewhere (unpack.ts), through the
 * confined resolver. Compression is recognised by its magic bytes: gzip in process,
 * bzip2, xz and zstd through the system's decompressor.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { Readable, Transform } from 'node:stream';
import { createHash } from 'node:crypto';
import { BadRequest } from '../../errors.js';
import { systemEnv, systemProgram } from '../../util/exec.js';

export type MemberType = 'file' | 'dir' | 'symlink' | 'link' | 'fifo' | 'char' | 'block';

export interface TarMember {
  /** The name as the archive gives it (not yet checked). */
  name: string;
  type: MemberType;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (PAX may give a fraction). */
  mtime: number;
  /** The same, exact (a PAX time keeps its nanoseconds). */
  mtimeNs: bigint;
  size: number;
  linkname: string;
  /** SCHILY.xattr.* of a PAX header, raw values. */
  xattrs: Map<string, Buffer>;
}

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  /** Bytes handed out (read, pieces, skip) since the start of the stream. */
  pos = 0;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<void> {
    const parts = [this.buf];
    let have = this.buf.length;
    while (have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) { this.done = true; break; }
      parts.push(r.value);
      have += r.value.length;
    }
    if (parts.length === 2 && parts[0]!.length === 0) this.buf = parts[1]!;
    else if (parts.length > 1) this.buf = Buffer.concat(parts);
  }

  /** Exactly n bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    this.pos += out.length;
    return out;
  }

  /** n bytes as they come, in pieces; fails on a stream that ends early. */
  async *pieces(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) await this.fill(1);
      if (this.buf.length === 0) throw new BadRequest('the tar archive ends in the middle of a member');
      const take = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(take.length);
      this.pos += take.length;
      left -= take.length;
      yield take;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.pieces(n)) { /* discard */ }
  }

}

function cstring(b: Buffer): string {
  const z = b.indexOf(0);
  return (z < 0 ? b : b.subarray(0, z)).toString('utf8');
}

/** An octal field, or GNU's base-256 (first byte's high bit set). */
function number(b: Buffer): number {
  if (b.length > 0 && (b[0]! & 0x80)) {
    if (b[0] === 0xff) throw new BadRequest('negative number in a tar header');
    let v = b[0]! & 0x7f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = cstring(b).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new BadRequest(`bad number ${JSON.stringify(s)} in a tar header`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  try {
    return number(h.subarray(148, 156)) === sum;
  } catch {
    return false; // an unreadable checksum field is a bad checksum
  }
}

/** PAX records: "LEN key=value\n", values as raw bytes. */
function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(data.subarray(i, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) throw new BadRequest('bad PAX header in the tar archive');
    const rec = data.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1));
    i += len;
  }
  return out;
}

/** A PAX time (`SECONDS[.FRACTION]`, maybe negative) in nanoseconds, exactly; undefined when malformed. */
export function paxTimeNs(s: string): bigint | undefined {
  const m = /^(-?)(\d{1,18})(?:\.(\d*))?$/.exec(s.trim());
  if (!m) return undefined;
  const ns = BigInt(m[2]!) * 1_000_000_000n + BigInt((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
  return m[1] ? -ns : ns;
}

const TYPES: Record<string, MemberType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/** A member and its content; `body` must be consumed (or skipped) before the next member is asked for. */
export interface TarEntry {
  member: TarMember;
  body: AsyncGenerator<Buffer>;
  /** Where the member's data starts in the (decompressed) stream. */
  offset: number;
}

const MAX_META = 1 << 20;

/**
 * The members of a tar stream, in order. What follows the end blocks is left in `source`
 * (the caller drains it, so that a digest over the whole blob is checked).
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source);
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, Buffer>();
  let first = true;
  for (;;) {
    const h = await r.read(512);
    if (h.length === 0 && !first) return; // some writers omit the end blocks
    if (h.length < 512) throw new BadRequest('not a tar archive (short header)');
    if (h.every((b) => b === 0)) return;
    if (!checksumOk(h)) throw new BadRequest(first ? 'not a tar archive' : 'bad checksum in a tar header');
    first = false;
    const flag = String.fromCharCode(h[156]!);
    let size = number(h.subarray(124, 136));
    const padded = Math.ceil(size / 512) * 512;
    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
      if (size > MAX_META) throw new BadRequest('tar metadata header too large');
      const data = await r.read(padded);
      if (data.length < padded) throw new BadRequest('the tar archive ends in the middle of a member');
      const content = data.subarray(0, size);
      if (flag === 'L') longName = cstring(content);
      else if (flag === 'K') longLink = cstring(content);
      else if (flag === 'x') pax = parsePax(content);
      // 'g': global PAX defaults are not applied (nothing we honour lives there).
      continue;
    }
    const type = TYPES[flag];
    if (flag === 'V') { await r.skip(padded); continue; }
    if (!type) throw new BadRequest(`unsupported tar member type ${JSON.stringify(flag)}`);
    for (const k of pax.keys()) {
      if (k.startsWith('GNU.sparse')) throw new BadRequest('sparse tar members are not supported');
    }
    const magic = h.subarray(257, 263).toString('latin1');
    const prefix = magic === 'ustar\0' ? cstring(h.subarray(345, 500)) : '';
    let name = cstring(h.subarray(0, 100));
    if (prefix) name = `${prefix}/${name}`;
    if (longName !== undefined) name = longName;
    let linkname = longLink ?? cstring(h.subarray(157, 257));
    const xattrs = new Map<string, Buffer>();
    let mtime = number(h.subarray(136, 148));
    let mtimeNs = BigInt(mtime) * 1_000_000_000n;
    let uid = number(h.subarray(108, 116));
    let gid = number(h.subarray(116, 124));
    for (const [k, v] of pax) {
      const s = v.toString('utf8');
      if (k === 'path') name = s;
      else if (k === 'linkpath') linkname = s;
      else if (k === 'size') size = Number(s);
      else if (k === 'uid') uid = Number(s);
      else if (k === 'gid') gid = Number(s);
      else if (k === 'mtime') {
        mtime = Number(s);
        const ns = paxTimeNs(s);
        if (ns === undefined) throw new BadRequest(`bad PAX mtime ${JSON.stringify(s.slice(0, 40))} in the tar archive`);
        mtimeNs = ns;
      }
      else if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    }
    if (![size, uid, gid].every((n) => Number.isSafeInteger(n) && n >= 0)) throw new BadRequest(`bad size or owner of tar member ${JSON.stringify(name)}`);
    longName = longLink = undefined;
    pax = new Map();
    const member: TarMember = {
      name, type, mode: number(h.subarray(100, 108)) & 0o7777, uid, gid,
      mtime: Number.isFinite(mtime) ? mtime : 0, mtimeNs, size: type === 'file' ? size : 0, linkname, xattrs,
    };
    const dataSize = size;
    const body = r.pieces(type === 'file' ? dataSize : 0);
    yield { member, body, offset: r.pos };
    // Whatever the consumer left: the rest of the data, then the padding.
    for await (const _ of body) { /* drain */ }
    const rest = type === 'file' ? Math.ceil(dataSize / 512) * 512 - dataSize : Math.ceil(dataSize / 512) * 512;
    await r.skip(rest);
  }
}

/**
 * The decompressed bytes of a file given as an fd (which this takes over), whatever the
 * compression: chosen from the first bytes, not from the name or a media type. With
 * `range`, only those bytes of the file (a member of an uncompressed archive), and the fd
 * is left open.
 */
export async function decompressed(fd: number, what: string, digest?: string, range?: { start: number; end: number }): Promise<{ stream: AsyncIterable<Buffer>; done: () => void }> {
  const raw = range
    ? createReadStream('', { fd, autoClose: false, start: range.start, end: range.end - 1 })
    : createReadStream('', { fd, autoClose: true, start: 0 });
  if (range && range.end <= range.start) {
    raw.destroy();
    return { stream: (async function* () { /* empty */ })(), done: () => undefined };
  }
  return decompressedStream(raw, what, digest);
}

/** The first `n` bytes of a stream, and a stream that gives them again followed by the rest. */
async function peek(src: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; all: Readable }> {
  const it = src[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const r = await it.next();
    if (r.done) break;
    parts.push(r.value);
    have += r.value.length;
  }
  const head = Buffer.concat(parts);
  async function* again(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { head, all: Readable.from(again(), { objectMode: false }) };
}

/** As decompressed(), over any stream of bytes (a member of an archive read as a stream). */
export async function decompressedStream(src: AsyncIterable<Buffer> & { destroy?: (e?: Error) => void }, what: string, digest?: string): Promise<{ stream: AsyncIterable<Buffer>; done: () => void }> {
  let peeked: { head: Buffer; all: Readable };
  try {
    peeked = await peek(src, 6);
  } catch (e) {
    src.destroy?.();
    throw new BadRequest(`cannot read ${what}: ${(e as Error).message}`);
  }
  const magic = peeked.head;
  const raw = peeked.all;
  const file = digest ? raw.pipe(verifier(digest, what)) : raw;
  if (digest) raw.on('error', (e) => file.destroy(e));
  const stop = (): void => { src.destroy?.(); raw.destroy(); file.destroy(); };
  const is = (...b: number[]): boolean => b.every((x, i) => magic[i] === x);
  if (is(0x1f, 0x8b)) {
    const gunzip = createGunzip();
    file.on('error', (e: Error) => gunzip.destroy(e));
    return { stream: wrapErrors(file.pipe(gunzip), what), done: () => { stop(); gunzip.destroy(); } };
  }
  let tool: string | undefined;
  if (is(0x42, 0x5a, 0x68)) tool = 'bzip2';
  else if (is(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) tool = 'xz';
  else if (is(0x28, 0xb5, 0x2f, 0xfd)) tool = 'zstd';
  if (!tool) return { stream: wrapErrors(file, what), done: stop };
  const child = spawn(systemProgram(tool), ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'], env: systemEnv() });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (e) => reject(new BadRequest(`cannot decompress ${what}: ${e.message} (is ${tool} installed?)`)));
    child.once('close', (code) => {
      if (code) reject(new BadRequest(`cannot decompress ${what}: ${stderr.trim().split('\n').pop() ?? code}`));
      else resolve();
    });
  });
  exited.catch(() => undefined); // awaited by wrapErrors at the stream's end; this only marks it handled until then
  file.on('error', (e: Error) => child.stdout.destroy(e));
  file.pipe(child.stdin);
  child.stdin.on('error', () => undefined); // EPIPE when the tool fails: its exit status (exited) says why
  return { stream: wrapErrors(child.stdout, what, exited), done: () => { stop(); child.kill('SIGKILL'); } };
}

/** Passes the bytes through and fails at the end if they are not the blob the digest names. */
function verifier(digest: string, what: string): Transform {
  const [alg, hex] = digest.split(':');
  const hash = createHash(alg!);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const got = hash.digest('hex');
      cb(got === hex ? null : new BadRequest(`${what} does not match its digest (${alg}:${got.slice(0, 12)}…)`));
    },
  });
}

async function* wrapErrors(s: Readable, what: string, exited?: Promise<void>): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of s) yield chunk as Buffer;
    await exited;
  } catch (e) {
    if (e instanceof BadRequest) throw e;
    throw new BadRequest(`cannot read ${what}: ${(e as Error).message}`);
  }
}
