/**
 * Users as the image knows them (issue 20, item 9): `run user=` takes names and numbers,
 * looked up in the container's own /etc/passwd and /etc/group (written here through
 * rootfs/), never the host's; the account files are read confined and bounded.
 * Also `run dir=` of a missing directory (item 10).
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { Tree } from '../helpers/tree.js';

const tree = new Tree('users');
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'www-data:x:100:101:www:/var/www:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
const GROUP = [
  'root:x:0:',
  'adm:x:4:root,www-data',
  'staff:x:50:www-data',
  'www-data:x:101:',
  'nogroup:x:65534:',
  '',
].join('\n');

async function container(name: string) {
  await tree.ctl(tree.p('ctl'), `create ${name}`);
  const c = (...p: string[]) => tree.p('containers', name, ...p);
  await fs.writeFile(c('rootfs', 'etc', 'passwd'), PASSWD);
  await fs.writeFile(c('rootfs', 'etc', 'group'), GROUP);
  /** `id`, HOME and USER as the process sees them. */
  const who = async (opts: string): Promise<string> => {
    const id = await tree.ctl(c('ctl'), `run ${opts} sh -c 'id; echo "HOME=$HOME USER=$USER"'`);
    const status = await fs.readFile(c('procs', id, 'wait'), 'utf8');
    const out = await fs.readFile(c('procs', id, 'stdout'), 'utf8');
    if (status !== 'exited 0\n') throw new Error(`${opts}: ${status} ${await fs.readFile(c('procs', id, 'stderr'), 'utf8')}`);
    return out.trim().replace('\n', ' | ');
  };
  return { c, who };
}

test('user=NAME, UID, NAME:GROUP, UID:GID: ids, groups, HOME and USER from the image\'s files', async (t) => {
  const { who } = await container('img');
  // (the kernel keeps the supplementary groups sorted)
  const www = 'uid=100(www-data) gid=101(www-data) groups=4(adm),50(staff),101(www-data) | HOME=/var/www USER=www-data';
  t.is(await who('user=www-data'), www);
  t.is(await who('user=100'), www);
  t.is(await who('user=www-data:staff'), 'uid=100(www-data) gid=50(staff) groups=50(staff) | HOME=/var/www USER=www-data');
  t.is(await who('user=www-data:0'), 'uid=100(www-data) gid=0(root) groups=0(root) | HOME=/var/www USER=www-data');
  t.is(await who('user=nobody:nogroup'), 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup) | HOME=/nonexistent USER=nobody');
  t.is(await who(''), 'uid=0(root) gid=0(root) groups=0(root),4(adm) | HOME=/root USER=root');
  // a uid the image does not know: gid = uid, HOME=/, no USER
  t.is(await who('user=4242'), 'uid=4242 gid=4242 groups=4242 | HOME=/ USER=');
  // the run's env= wins over what comes from passwd
  t.is(await who('user=www-data env=HOME=/tmp env=USER=me'), `${www.split(' | ')[0]} | HOME=/tmp USER=me`);
});

test('unknown names are EINVAL with a clear message, and the next run takes the id', async (t) => {
  const { c } = await container('unknown');
  for (const [opt, msg] of [['user=nosuch', 'no user "nosuch" in the container\'s /etc/passwd'], ['user=www-data:nosuch', 'no group "nosuch" in the container\'s /etc/group']]) {
    await t.throwsAsync(fs.writeFile(c('ctl'), `run ${opt} id\n`), { code: 'EINVAL' });
    t.true((await fs.readFile(c('events'), 'utf8')).includes(`error: ${msg}\n`), msg);
  }
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run user=bad/name id\n'), { code: 'EINVAL' });
  t.is(await tree.ctl(c('ctl'), 'run true'), '1');
});

test('the account files are the container\'s, read confined: host paths, FIFOs and huge files', async (t) => {
  const { c, who } = await container('hostile');
  const host = '/tmp/wfs-users-host-passwd';
  await fs.writeFile(host, 'evil:x:0:0::/evil:/bin/sh\n');
  t.teardown(() => fs.rm(host, { force: true }));
  // a symlink to a host path is resolved inside the container's root
  await fs.rm(c('rootfs', 'etc', 'passwd'));
  await fs.symlink(host, c('rootfs', 'etc', 'passwd'));
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run user=evil id\n'), { code: 'EINVAL' });
  await fs.writeFile(c('rootfs', 'tmp', 'wfs-users-host-passwd'), 'mine:x:7:8::/mine:/bin/sh\n');
  t.is(await who('user=mine'), 'uid=7(mine) gid=8 groups=8 | HOME=/mine USER=mine');

  // a FIFO: refused at once, with or without a name (runc opens the file itself for every exec
  // and would wait for a writer)
  await fs.rm(c('rootfs', 'etc', 'passwd'));
  const r = await tree.sh(`mkfifo "${c('rootfs', 'etc', 'passwd')}"`);
  t.is(r.exitCode, 0, r.stderr);
  const started = Date.now();
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run user=www-data id\n'), { code: 'EINVAL' });
  t.true(Date.now() - started < 5000);
  t.true((await fs.readFile(c('events'), 'utf8')).includes('error: cannot read the container\'s /etc/passwd: not a regular file\n'));
  for (const opts of ['user=100 ', '']) {
    const t0 = Date.now();
    await t.throwsAsync(fs.writeFile(c('ctl'), `run ${opts}id\n`), { code: 'EINVAL' }, opts);
    t.true(Date.now() - t0 < 5000);
  }

  // a 10 GB (sparse) passwd is not read
  await fs.rm(c('rootfs', 'etc', 'passwd'));
  const fh = await fs.open(c('rootfs', 'etc', 'passwd'), 'w');
  await fh.truncate(10 * 1024 ** 3);
  await fh.close();
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run user=www-data id\n'), { code: 'EINVAL' });
  t.regex(await fs.readFile(c('events'), 'utf8'), /error: cannot read the container's \/etc\/passwd: larger than \d+ bytes\n/);
});

test('dir= of a missing directory is EINVAL, naming the directory, not config.json', async (t) => {
  const { c } = await container('dirs');
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run dir=/nonexistent pwd\n'), { code: 'EINVAL' });
  await t.throwsAsync(fs.writeFile(c('ctl'), 'run dir=/etc/passwd pwd\n'), { code: 'EINVAL' });
  const events = await fs.readFile(c('events'), 'utf8');
  t.true(events.includes('error: no such directory "/nonexistent" in the container\n'), events);
  t.true(events.includes('error: "/etc/passwd" is not a directory in the container\n'), events);
  t.false(events.includes('config.json'));
  // a symlink to a directory is followed inside the container
  await fs.symlink('/tmp', c('rootfs', 'linked'));
  const id = await tree.ctl(c('ctl'), 'run dir=/linked pwd');
  t.is(await fs.readFile(c('procs', id, 'wait'), 'utf8'), 'exited 0\n');
  t.is(await fs.readFile(c('procs', id, 'stdout'), 'utf8'), '/tmp\n');
});
