/**
 * Writing tar headers (POSIX pax over ustar), the mirror of tar.ts's reader: what `image
 * export` streams. A pax extended header carries what ustar cannot hold (long names and
 * link targets, large ids and sizes, sub-second and pre-1970 times) and the extended
 * attributes (SCHILY.xattr.NAME, as GNU tar and Docker write them). Pure: bytes out.
 */
import type { MemberType } from './tar.js';

export interface HeaderInput {
  name: string;
  type: MemberType;
  mode: number;
  uid: number;
  gid: number;
  /** Exact: seconds and nanoseconds since the epoch. */
  mtimeNs: bigint;
  size: number;
  linkname?: string;
  xattrs?: Map<string, Buffer>;
}

const FLAG: Record<MemberType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

export function padding(size: number): number {
  return (512 - (size % 512)) % 512;
}

/** `LEN key=value\n`, LEN counting itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function octal(n: number, width: number): string | undefined {
  const s = n.toString(8);
  return s.length <= width - 1 ? s.padStart(width - 1, '0') : undefined;
}

function ustar(name: Buffer, flag: string, mode: number, uid: number, gid: number, size: number, mtime: number, linkname: Buffer): Buffer {
  const h = Buffer.alloc(512);
  name.copy(h, 0, 0, Math.min(100, name.length));
  h.write(octal(mode & 0o7777, 8)!, 100, 'ascii');
  h.write(octal(uid, 8) ?? '0000000', 108, 'ascii');
  h.write(octal(gid, 8) ?? '0000000', 116, 'ascii');
  h.write(octal(size, 12) ?? '00000000000', 124, 'ascii');
  h.write(octal(mtime, 12) ?? '00000000000', 136, 'ascii');
  h.write(flag, 156, 'ascii');
  linkname.copy(h, 157, 0, Math.min(100, linkname.length));
  h.write('ustar\x0000', 257, 'latin1');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

/** The header blocks of one member (a pax header first when needed); its data follows, padded to 512. */
export function tarHeader(e: HeaderInput): Buffer {
  const name = Buffer.from(e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name);
  const link = Buffer.from(e.linkname ?? '');
  const NS = 1_000_000_000n;
  let sec = e.mtimeNs / NS;
  let nsec = e.mtimeNs % NS;
  if (nsec < 0n) { sec -= 1n; nsec += NS; }
  const records: Buffer[] = [];
  if (name.length > 100) records.push(paxRecord('path', name));
  if (link.length > 100) records.push(paxRecord('linkpath', link));
  if (octal(e.uid, 8) === undefined) records.push(paxRecord('uid', Buffer.from(String(e.uid))));
  if (octal(e.gid, 8) === undefined) records.push(paxRecord('gid', Buffer.from(String(e.gid))));
  if (octal(e.size, 12) === undefined) records.push(paxRecord('size', Buffer.from(String(e.size))));
  const secN = Number(sec);
  if (nsec !== 0n || secN < 0 || octal(secN, 12) === undefined) {
    // A decimal of the signed time: -1.5 is 1.5 s before the epoch.
    const abs = e.mtimeNs < 0n ? -e.mtimeNs : e.mtimeNs;
    const f = abs % NS;
    const frac = f === 0n ? '' : `.${f.toString().padStart(9, '0').replace(/0+$/, '')}`;
    records.push(paxRecord('mtime', Buffer.from(`${e.mtimeNs < 0n ? '-' : ''}${abs / NS}${frac}`)));
  }
  for (const [k, v] of [...(e.xattrs ?? new Map<string, Buffer>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  }
  const main = ustar(name, FLAG[e.type], e.mode, e.uid, e.gid, e.type === 'file' ? e.size : 0, Math.max(0, secN), link);
  if (!records.length) return main;
  const pax = Buffer.concat(records);
  const paxHeader = ustar(Buffer.from('././@PaxHeader'), 'x', 0o644, 0, 0, pax.length, Math.max(0, secN), Buffer.alloc(0));
  return Buffer.concat([paxHeader, pax, Buffer.alloc(padding(pax.length)), main]);
}

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(1024);
