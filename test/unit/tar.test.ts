/**
 * The tar reader and member names of image import (src/drivers/images/tar.ts, unpack.ts):
 * archives made by GNU tar in its formats (long names, PAX) read back exactly; member names
 * are made relative or refused; junk is not a tar archive.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { readTar, type TarMember } from '../../src/drivers/images/tar.js';
import { memberPath } from '../../src/drivers/images/unpack.js';

async function* chunks(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function members(buf: Buffer, chunk = 777): Promise<Array<TarMember & { data: string }>> {
  const out = [];
  for await (const { member, body } of readTar(chunks(buf, chunk))) {
    const parts: Buffer[] = [];
    for await (const b of body) parts.push(b);
    out.push({ ...member, data: Buffer.concat(parts).toString() });
  }
  return out;
}

test('member names: relative, cleaned; absolute and ".." refused', (t) => {
  t.is(memberPath('./a//b/'), 'a/b');
  t.is(memberPath('.'), '');
  t.is(memberPath('a/./b'), 'a/b');
  t.throws(() => memberPath('/etc/passwd'), { message: /absolute member name/ });
  t.throws(() => memberPath('a/../../x'), { message: /with "\.\." refused/ });
  t.throws(() => memberPath('..'), { message: /with "\.\." refused/ });
});

for (const format of ['gnu', 'pax', 'ustar']) {
  test(`GNU tar --format=${format} reads back: names, links, modes, sizes`, async (t) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wfs-tar-'));
    try {
      const long = format === 'ustar' ? 'l'.repeat(90) : 'l'.repeat(180);
      await fs.mkdir(path.join(dir, 'src', 'd'), { recursive: true });
      await fs.writeFile(path.join(dir, 'src', 'd', long), 'x'.repeat(1000));
      await fs.chmod(path.join(dir, 'src', 'd', long), 0o4750);
      await fs.link(path.join(dir, 'src', 'd', long), path.join(dir, 'src', 'hard'));
      await fs.symlink('/abs/' + long, path.join(dir, 'src', 'sym'));
      await fs.writeFile(path.join(dir, 'src', 'empty'), '');
      const file = path.join(dir, 'a.tar');
      await execa('tar', [`--format=${format}`, '-C', path.join(dir, 'src'), '-cf', file, 'd', 'hard', 'sym', 'empty']);
      const got = await members(await fs.readFile(file));
      const by = new Map(got.map((m) => [m.name, m]));
      t.is(by.get('d/')?.type, 'dir');
      const f = by.get(`d/${long}`);
      t.is(f?.type, 'file');
      t.is(f?.mode, 0o4750);
      t.is(f?.data, 'x'.repeat(1000));
      t.is(by.get('hard')?.type, 'link');
      t.is(by.get('hard')?.linkname, `d/${long}`);
      t.is(by.get('sym')?.type, 'symlink');
      t.is(by.get('sym')?.linkname, '/abs/' + long);
      t.is(by.get('empty')?.data, '');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
}

test('junk is not a tar archive; a truncated one fails', async (t) => {
  await t.throwsAsync(members(Buffer.from('not a tar archive at all\n'.repeat(40))), { message: /not a tar archive/ });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wfs-tar-'));
  try {
    await fs.writeFile(path.join(dir, 'f'), 'y'.repeat(5000));
    await execa('tar', ['-C', dir, '-cf', path.join(dir, 'a.tar'), 'f']);
    const whole = await fs.readFile(path.join(dir, 'a.tar'));
    await t.throwsAsync(members(whole.subarray(0, 2048)), { message: /ends in the middle/ });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('tarHeader (image export) reads back exactly: long names and targets, large ids, nanosecond and old times, xattrs', async (t) => {
  const { tarHeader, padding, TAR_END } = await import('../../src/drivers/images/tar-write.js');
  const long = 'd/'.repeat(80) + 'f';
  const entries = [
    { name: 'dir', type: 'dir' as const, mode: 0o1777, uid: 0, gid: 0, mtimeNs: 1_000_000_000_000_000_000n, size: 0 },
    { name: long, type: 'file' as const, mode: 0o4755, uid: 3_000_000, gid: 65534, mtimeNs: 1_700_000_000_123_456_789n, size: 5, xattrs: new Map([['user.a', Buffer.from([0, 1, 2, 255])], ['security.capability', Buffer.from('cap')]]) },
    { name: 'hard', type: 'link' as const, mode: 0o644, uid: 0, gid: 0, mtimeNs: 0n, size: 0, linkname: long },
    { name: 'sym', type: 'symlink' as const, mode: 0o777, uid: 1, gid: 2, mtimeNs: -1_500_000_000n, size: 0, linkname: '/t/' + 'x'.repeat(150) },
    { name: 'fifo', type: 'fifo' as const, mode: 0o640, uid: 0, gid: 0, mtimeNs: 5_000_000_000n, size: 0 },
  ];
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    if (e.type === 'file') parts.push(Buffer.from('hello'), Buffer.alloc(padding(5)));
  }
  parts.push(TAR_END);
  const buf = Buffer.concat(parts);
  const got = await members(buf, 300);
  t.deepEqual(got.map((m) => [m.name, m.type, m.mode, m.uid, m.gid, m.mtimeNs, m.linkname, m.data]), [
    ['dir/', 'dir', 0o1777, 0, 0, 1_000_000_000_000_000_000n, '', ''],
    [long, 'file', 0o4755, 3_000_000, 65534, 1_700_000_000_123_456_789n, '', 'hello'],
    ['hard', 'link', 0o644, 0, 0, 0n, long, ''],
    ['sym', 'symlink', 0o777, 1, 2, -1_500_000_000n, '/t/' + 'x'.repeat(150), ''],
    ['fifo', 'fifo', 0o640, 0, 0, 5_000_000_000n, '', ''],
  ]);
  t.deepEqual([...got[1]!.xattrs.entries()], [['security.capability', Buffer.from('cap')], ['user.a', Buffer.from([0, 1, 2, 255])]]);
  // GNU tar reads it too.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wfs-tar-'));
  try {
    await fs.writeFile(path.join(dir, 'a.tar'), buf);
    const { stdout } = await execa('tar', ['-tvf', path.join(dir, 'a.tar'), '--numeric-owner']);
    t.regex(stdout, new RegExp(`^-rwsr-xr-x 3000000/65534\\s+5 2023-11-1\\d \\d\\d:\\d\\d ${long}$`, 'm'));
    t.regex(stdout, /^hrw-r--r-- 0\/0\s+0 .* hard link to d\//m);
    t.regex(stdout, /^prw-r----- 0\/0\s+0 1970-01-01 \d\d:\d\d fifo$/m);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('paxTimeNs: exact nanoseconds, negative times, malformed refused', async (t) => {
  const { paxTimeNs } = await import('../../src/drivers/images/tar.js');
  t.is(paxTimeNs('1700000000.123456789'), 1_700_000_000_123_456_789n);
  t.is(paxTimeNs('12.5'), 12_500_000_000n);
  t.is(paxTimeNs('7'), 7_000_000_000n);
  t.is(paxTimeNs('-1.5'), -1_500_000_000n);
  t.is(paxTimeNs('1.1234567891'), 1_123_456_789n);
  t.is(paxTimeNs('1e9'), undefined);
  t.is(paxTimeNs(''), undefined);
});
