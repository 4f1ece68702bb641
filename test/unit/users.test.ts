import test from 'ava';
import { parsePasswd, parseGroup, resolveUser } from '../../src/core/users.js';
import { BadRequest } from '../../src/errors.js';

const passwd = parsePasswd([
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'broken line',
  'bad:x:notanumber:1::/:/bin/sh',
  'www-data:x:100:101:www:/var/www:/usr/sbin/nologin',
  'nohome:x:200:200:::/bin/sh',
  '',
].join('\n'));
const group = parseGroup([
  'root:x:0:',
  'www-data:x:101:',
  'staff:x:50:www-data,other',
  'adm:x:4:root, www-data',
  'dup:x:101:www-data',
  'junk',
].join('\n'));

test('passwd and group lines; malformed ones skipped', (t) => {
  t.deepEqual(passwd.map((p) => p.name), ['root', 'www-data', 'nohome']);
  t.deepEqual(passwd[1], { name: 'www-data', uid: 100, gid: 101, home: '/var/www' });
  t.deepEqual(group.find((g) => g.name === 'adm')?.members, ['root', 'www-data']);
});

test('user by name or number: gid, supplementary groups and HOME from the image', (t) => {
  const www = { uid: 100, gid: 101, additionalGids: [101, 50, 4], home: '/var/www', name: 'www-data' };
  t.deepEqual(resolveUser({ user: 'www-data' }, passwd, group), www);
  t.deepEqual(resolveUser({ user: 100 }, passwd, group), www);
  t.deepEqual(resolveUser(undefined, passwd, group), { uid: 0, gid: 0, additionalGids: [0, 4], home: '/root', name: 'root' });
  t.deepEqual(resolveUser({ user: 'nohome' }, passwd, group), { uid: 200, gid: 200, additionalGids: [200], home: '/', name: 'nohome' });
});

test('an explicit group is the only one', (t) => {
  t.deepEqual(resolveUser({ user: 'www-data', group: 'staff' }, passwd, group), { uid: 100, gid: 50, additionalGids: [50], home: '/var/www', name: 'www-data' });
  t.deepEqual(resolveUser({ user: 100, group: 7 }, passwd, group), { uid: 100, gid: 7, additionalGids: [7], home: '/var/www', name: 'www-data' });
});

test('a uid the image does not know: gid = uid, HOME /, no name', (t) => {
  t.deepEqual(resolveUser({ user: 4242 }, passwd, group), { uid: 4242, gid: 4242, additionalGids: [4242], home: '/' });
  t.deepEqual(resolveUser({ user: 4242, group: 'staff' }, passwd, group), { uid: 4242, gid: 50, additionalGids: [50], home: '/' });
  t.deepEqual(resolveUser(undefined, [], []), { uid: 0, gid: 0, additionalGids: [0], home: '/root' });
});

test('unknown names are EINVAL with a clear message', (t) => {
  t.throws(() => resolveUser({ user: 'nosuch' }, passwd, group), { instanceOf: BadRequest, message: 'no user "nosuch" in the container\'s /etc/passwd' });
  t.throws(() => resolveUser({ user: 0, group: 'nosuch' }, passwd, group), { instanceOf: BadRequest, message: 'no group "nosuch" in the container\'s /etc/group' });
});
