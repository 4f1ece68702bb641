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
