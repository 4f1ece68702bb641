/** disk.max and disk.current (docs/interface.md): a real limit on a container's own layer, from inside and through rootfs/. */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';

const tree = new Tree('disk');
test.before(async () => { await tree.start(); });
test.after.always(async () => { await tree.cleanup(); });

const c = (name: string, ...p: string[]): string => tree.p('containers', name, ...p);
const M = 1024 * 1024;

async function inside(name: string, script: string): Promise<{ wait: string; err: string }> {
  const id = await tree.ctl(c(name, 'ctl'), `run sh -c '${script.replace(/'/g, "''")}'`);
  const wait = (await fs.readFile(c(name, 'procs', id, 'wait'), 'utf8')).trim();
  return { wait, err: await fs.readFile(c(name, 'procs', id, 'stderr'), 'utf8') };
}

async function current(name: string): Promise<{ bytes: number; inodes: number }> {
  const text = await fs.readFile(c(name, 'disk.current'), 'utf8');
  const m = /^bytes (\d+)\ninodes (\d+)\n$/.exec(text);
  if (!m) throw new Error(`disk.current: ${JSON.stringify(text)}`);
  return { bytes: Number(m[1]), inodes: Number(m[2]) };
}

/** The loop devices backing a file (losetup -j). */
async function loops(file: string): Promise<string> {
  return (await execa('losetup', ['-n', '-O', 'NAME', '-j', file], { reject: false })).stdout.trim();
}

test.serial('writes past disk.max fail with ENOSPC inside and through rootfs/; raising it lets them go on', async (t) => {
  t.is(await tree.ctl(tree.p('ctl'), 'create d1 disk.max=300M'), 'd1');
  t.is(await fs.readFile(c('d1', 'disk.max'), 'utf8'), `${300 * M}\n`);
  const image = `${tree.state}/containers/d1/layer.img`;
  t.truthy(await loops(image), 'a loop device backs the layer');
  const before = await current('d1');

  // inside: dd of 320M into a 300M layer
  const r = await inside('d1', 'dd if=/dev/zero of=/big bs=1M count=320');
  t.not(r.wait, 'exited 0');
  t.regex(r.err, /No space left on device/);
  const full = await current('d1');
  t.true(full.bytes > before.bytes + 200 * M, `disk.current grew: ${before.bytes} → ${full.bytes}`);
  t.true(full.inodes > before.inodes);

  // through rootfs/: the host side is refused too
  const w = await fs.writeFile(c('d1', 'rootfs', 'host-file'), Buffer.alloc(8 * M)).then(() => 'ok', (e: NodeJS.ErrnoException) => e.code);
  t.is(w, 'ENOSPC');

  // refused values change nothing
  await t.throwsAsync(fs.writeFile(c('d1', 'disk.max'), '299M\n'), { code: 'EINVAL' });
  await t.throwsAsync(fs.writeFile(c('d1', 'disk.max'), 'lots\n'), { code: 'EINVAL' });
  await t.throwsAsync(fs.writeFile(c('d1', 'disk.max'), 'max\n'), { code: 'EBUSY' });
  t.is(await fs.readFile(c('d1', 'disk.max'), 'utf8'), `${300 * M}\n`);

  // raised live: the same writes go on, from both sides
  await fs.writeFile(c('d1', 'disk.max'), '512M\n');
  t.is(await fs.readFile(c('d1', 'disk.max'), 'utf8'), `${512 * M}\n`);
  t.is((await inside('d1', 'dd if=/dev/zero of=/big2 bs=1M count=150')).wait, 'exited 0');
  await fs.writeFile(c('d1', 'rootfs', 'host-file'), Buffer.alloc(8 * M));
  t.true((await current('d1')).bytes > full.bytes + 150 * M);
  t.regex(await fs.readFile(c('d1', 'events'), 'utf8'), /limit disk\.max=536870912/);
  // lowering is refused (XFS cannot shrink)
  await t.throwsAsync(fs.writeFile(c('d1', 'disk.max'), '400M\n'), { code: 'EBUSY' });
  t.is(await fs.readFile(c('d1', 'disk.max'), 'utf8'), `${512 * M}\n`);

  // the metrics carry the layer's use and size, as disk.current and disk.max say
  const metrics = await fs.readFile(c('d1', 'metrics'), 'utf8');
  const value = (name: string): number => Number(new RegExp(`^${name}\\{container="d1"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
  t.is(value('wardenfs_container_fs_limit_bytes'), 512 * M);
  const used = value('wardenfs_container_fs_usage_bytes');
  const now = await current('d1');
  t.true(Math.abs(used - now.bytes) < 8 * M, `metrics ${used} ≈ disk.current ${now.bytes}`);
  t.true(value('wardenfs_container_fs_inodes') > 0);
  t.regex(metrics, /^# TYPE wardenfs_container_fs_usage_bytes gauge$/m);
  const lint = await execa('promtool', ['check', 'metrics'], { input: metrics, reject: false });
  t.is(lint.exitCode, 0, lint.stdout + lint.stderr);

  // kept across a restart of the daemon; destroy frees the loop device
  await tree.stop();
  await tree.start();
  t.is(await fs.readFile(c('d1', 'disk.max'), 'utf8'), `${512 * M}\n`);
  t.is((await inside('d1', 'test -s /big2')).wait, 'exited 0');
  await tree.ctl(tree.p('ctl'), 'destroy d1');
  t.is(await loops(image), '', 'the loop device is gone');
});

test.serial('a container without disk.max: disk.current counts its layer, disk.max reads max and cannot be set', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create d2');
  t.is(await fs.readFile(c('d2', 'disk.max'), 'utf8'), 'max\n');
  t.notRegex(await fs.readFile(c('d2', 'metrics'), 'utf8'), /^wardenfs_container_fs_/m, 'no disk samples without a disk.max');
  const before = await current('d2');
  t.is((await inside('d2', 'dd if=/dev/zero of=/f bs=1M count=3 && mkdir /a /a/b')).wait, 'exited 0');
  const after = await current('d2');
  t.true(after.bytes >= before.bytes + 3 * M, `${before.bytes} → ${after.bytes}`);
  t.true(after.inodes >= before.inodes + 3);
  await t.throwsAsync(fs.writeFile(c('d2', 'disk.max'), '1G\n'), { code: 'EINVAL' });
  await fs.writeFile(c('d2', 'disk.max'), 'max\n');
  t.is(await fs.readFile(c('d2', 'disk.max'), 'utf8'), 'max\n');
  t.notRegex(await fs.readFile(c('d2', 'metrics'), 'utf8'), /^wardenfs_container_fs_/m, 'no disk samples without a disk.max');
});

test.serial('a refused create with disk.max leaves no image, mount or loop device', async (t) => {
  // refused after the layer's file system is made and mounted: a host directory over /etc/passwd
  const r = await tree.sh(`echo 'create d3 disk.max=300M mount=/usr/share:/etc/passwd' > "$M/ctl"`);
  t.not(r.exitCode, 0);
  t.false((await fs.readdir(tree.p('containers'))).includes('d3'));
  await t.throwsAsync(fs.access(`${tree.state}/containers/d3`));
  t.false((await fs.readFile('/proc/self/mountinfo', 'utf8')).includes(`${tree.state}/containers/d3`));
  t.is(await loops(`${tree.state}/containers/d3/layer.img`), '');
  t.regex(await fs.readFile(tree.p('events'), 'utf8'), /a directory over a file/);
  const tooSmall = await tree.sh(`echo 'create d4 disk.max=100M' > "$M/ctl"`);
  t.not(tooSmall.exitCode, 0);
});

test.serial('an init started again (host reboot) is on the same limited layer', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create d5 disk.max=300M');
  t.is((await inside('d5', 'echo kept > /kept')).wait, 'exited 0');
  const before = await tree.status('d5');
  await tree.stop();
  process.kill(Number(before.pid), 'SIGKILL');
  await tree.start();
  t.not((await tree.status('d5')).pid, before.pid);
  t.is((await inside('d5', 'cat /kept && dd if=/dev/zero of=/big bs=1M count=320')).err.includes('No space left on device'), true);
  await tree.ctl(tree.p('ctl'), 'destroy d5');
  t.is(await loops(`${tree.state}/containers/d5/layer.img`), '');
});
