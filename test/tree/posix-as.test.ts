/**
 * POSIX fidelity of rootfs/NAME/ for callers other than root (issue 13.3, `wardenfs mount
 * --allow-other`): the differential harness (test/helpers/posixdiff.ts) runs each case's steps
 * as a host user with no passwd entry — U (4646:4646, no supplementary groups), and G (the same
 * uid and gid with the supplementary group 5151) — on the container's own overlay mount and on
 * rootfs/NAME/, from the same state prepared as root: directories and files of U's own, of
 * another user O (4747:4747) and of root, a sticky directory, a setgid directory, modes U can
 * and cannot write. Results, errnos, stat fields (owner, group, mode with its set-id bits) and
 * the times each step changes must agree step by step, or the difference is documented in
 * docs/rootfs.md ("Differences from the overlay") and asserted by the case.
 * The kernel checks permissions on the tree first (default_permissions, on the attributes the
 * tree reports), the daemon then acts with the caller's own ids on the overlay: both must agree
 * with the overlay checking alone.
 * The runner reaches the overlay by a descriptor root opened (the state dir is root's).
 */
import test from 'ava';
import path from 'node:path';
import { Tree } from '../helpers/tree.js';
import { buildOps, runCase, type Caller, type PosixCase, type Sides } from '../helpers/posixdiff.js';
import { cases as rootTable } from '../helpers/posixcases.js';

const tree = new Tree('posixas', { args: ['--allow-other'] });
let bin = '';
let sides: Sides;
/** The same for a container in a user namespace (the default): its files are host ids shifted, U's own are U's. */
let userns: Sides;
/** The sides for the runs as G: case directories of their own (U's cases run at the same time under the same names). */
let withGroup: Sides;

const U: Caller = { uid: 4646, gid: 4646 };
const G: Caller = { uid: 4646, gid: 4646, groups: [5151] };
/** Setup lines giving a path to U, to O, to root with group 5151. */
const toU = (p: string) => `chown ${p} 4646 4646`;
const toO = (p: string) => `chown ${p} 4747 4747`;

test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create pqa privileged=true');
  await tree.ctl(tree.p('ctl'), 'create pqb privileged=true');
  await tree.ctl(tree.p('ctl'), 'create pqn');
  bin = await buildOps(tree.base);
  sides = {
    overlay: path.join(tree.state, 'containers', 'pqa', 'rootfs'),
    tree: tree.p('rootfs', 'pqa'),
    otherOverlay: path.join(tree.state, 'containers', 'pqb', 'rootfs'),
    otherTree: tree.p('rootfs', 'pqb'),
    dir: 'tmp/posixdiff', // as in posix.test.ts: the table's documented readlink names it
  };
  // its own case directories: the other container (pqb) is shared with the cases above, run at the same time
  withGroup = { ...sides, dir: 'tmp/posixgrp' };
  userns = { ...sides, overlay: path.join(tree.state, 'containers', 'pqn', 'rootfs'), tree: tree.p('rootfs', 'pqn'), dir: 'tmp/posixns' };
});
test.after.always(async () => {
  await tree.cleanup();
});

/** A chain of `depth` directories named with 250 bytes each, mode 0777 (umask 0): ~251 bytes of path per level. */
const level = (i: number) => String(i).padStart(3, '0') + 'd'.repeat(247);
const chain = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => level(from + k)).join('/');
const mkChain = (depth: number) => [...Array.from({ length: depth }, (_, i) => [`mkdir ${level(i)} 0777`, `chdir ${level(i)}`]).flat(), `chdir ${'../'.repeat(depth).slice(0, -1)}`];

/** Cases whose callers are U and G. */
const cases: PosixCase[] = [
  // ---- what U makes is U's
  { name: 'owner-of-new-files', setup: ['mkdir own 0755', toU('own')], watch: ['own', 'own/f', 'own/d', 'own/l', 'own/p', 'own/s', 'f'], times: true, noAtime: ['own/l'],
    steps: ['creat own/f 0640', 'mkdir own/d 0750', 'symlink f own/l', 'mkfifo own/p 0600', 'mksock own/s 0600', 'creat f 0644', 'open 0 own/n O_CREAT|O_EXCL|O_WRONLY 0600', 'fstat 0', 'close 0',
      'umask 077', 'mkdir own/m 0777', 'stat own/m', 'mkchr own/c 0600'] },
  // ---- permission errnos: search, read, write
  { name: 'permission-errnos', setup: ['mkdir nx 0700', 'creat nx/f 0644', 'mkdir ro 0755', 'creat ro/f 0644', 'mkdir rx 0744', 'creat rx/f 0644', 'creat p 0600', 'creat w 0666', 'creat r 0444', 'creat x 0711', toO('x')],
    watch: ['.', 'ro', 'w', 'p'], times: true,
    steps: ['stat nx/f', 'ls nx', 'creat nx/g 0644', 'ls rx', 'stat rx/f', 'creat ro/g 0644', 'mkdir ro/d 0755', 'unlink ro/f', 'symlink x ro/l', 'mkfifo ro/p 0644',
      'open 0 p O_RDONLY', 'open 0 p O_WRONLY', 'cat p', 'open 1 w O_RDWR', 'write 1 hi', 'close 1', 'open 2 r O_RDWR', 'open 2 r O_RDONLY|O_TRUNC', 'open 2 r O_RDONLY', 'close 2',
      'access p r', 'access w rw', 'access w x', 'access x x', 'access x r', 'access r f', 'access nx/f f', 'access ro w', 'access rx x', 'chdir nx', 'chdir rx', 'open 3 x O_RDONLY'] },
  // ---- chmod / chown by the owner and by others
  { name: 'chmod-chown-owner-and-not', setup: ['creat mine 0644', toU('mine'), 'creat theirs 0666', toO('theirs'), 'creat rootgrp 0644', 'chown rootgrp 4646 0', 'mkdir d 0755', toU('d'), 'symlink mine l', 'lchown l 4646 4646'],
    watch: ['mine', 'theirs', 'rootgrp', 'd', 'l'], times: true, noAtime: ['l'], treeTimes: { 10: { theirs: '-' } },
    steps: ['chmod mine 0600', 'chmod mine 04755', 'chmod mine 02755', 'chmod theirs 0777', 'chown mine 4646 4646', 'chown mine -1 4646', 'chown mine -1 4747', 'chown mine 4747 -1', 'chown mine 0 -1',
      'chown theirs 4646 -1', 'chown theirs -1 -1', 'chown rootgrp -1 4646', 'stat rootgrp', 'chmod d 02777', 'chmod d 01777', 'lchown l -1 4646', 'lchown l 4747 -1', 'chmod l 0600',
      'chown mine -1 5151', 'chmod rootgrp 02644', 'chown nope 1 1'] },
  // ---- the sticky bit: unlink, rmdir and rename of others' names
  { name: 'sticky-dir', setup: ['mkdir t 01777', 'creat t/o 0666', toO('t/o'), 'creat t/r 0666', 'creat t/u 0644', toU('t/u'), 'creat t/u2 0644', toU('t/u2'), 'mkdir t/od 0777', toO('t/od'),
    'mkdir t/ud 0755', toU('t/ud'), 'mkdir mydir 01777', toU('mydir'), 'creat mydir/o 0600', toO('mydir/o'), 'mkdir plain 0777', 'creat plain/o 0600', toO('plain/o')],
    watch: ['t', 't/o', 't/u', 't/od', 'mydir'], times: true,
    steps: ['unlink t/o', 'unlink t/r', 'rename t/o t/x', 'rename t/u t/o', 'rename t/u t/r', 'rmdir t/od', 'rename t/od t/y', 'rename t/ud t/od', 'creat t/od/mine 0644', 'unlink t/od/mine',
      'rename t/u t/u3', 'rename t/u3 t/u2', 'unlink t/u2', 'rmdir t/ud', 'unlink mydir/o', 'unlink plain/o', 'open 0 t/o O_WRONLY|O_APPEND', 'write 0 still', 'close 0', 'ls t'] },
  // ---- setuid / setgid bits: cleared by write and truncate of others' files and by chown
  { name: 'setid-clearing', setup: ['creat s 04777', toO('s'), 'creat g 02777', toO('g'), 'creat gx 02770', 'chown gx 4747 4646', 'chmod gx 02770', 'creat both 06777', toO('both'),
    'creat mine 06755', toU('mine'), 'chmod mine 06755', 'creat mine2 06710', toU('mine2'), 'chmod mine2 06710', 'creat t 06777', toO('t'), 'creat ft 06777', toO('ft'), 'creat nog 02666', toO('nog'), 'creat nog2 02666', toO('nog2'), 'creat nog3 02666', toO('nog3'), 'creat nog4 02666', toO('nog4'), 'creat st 06777', toO('st'), 'creat ng 02676', 'chown ng 4747 4646', 'chmod ng 02676'],
    watch: ['s', 'g', 'gx', 'both', 'mine', 'mine2', 't', 'ft', 'nog', 'nog2', 'nog3', 'nog4', 'st', 'ng'], times: true,
    steps: ['open 0 s O_WRONLY', 'write 0 x', 'close 0', 'open 0 g O_WRONLY', 'write 0 x', 'close 0', 'open 0 gx O_WRONLY|O_APPEND', 'write 0 x', 'close 0', 'open 0 both O_RDWR', 'write 0 y', 'close 0',
      'open 0 mine O_WRONLY', 'write 0 z', 'close 0', 'open 0 mine2 O_WRONLY', 'write 0 z', 'close 0', 'truncate t 0', 'open 1 ft O_RDWR', 'ftruncate 1 3', 'close 1', 'open 2 nog O_WRONLY', 'write 2 n', 'close 2',
      'chmod mine 06755', 'chown mine -1 4646', 'chmod mine 06755', 'chown mine 4646 -1', 'chmod mine2 06710', 'chown mine2 -1 -1', 'open 3 mine O_WRONLY|O_TRUNC', 'close 3',
      'truncate nog2 1', 'open 4 nog3 O_WRONLY|O_TRUNC', 'close 4', 'open 5 nog4 O_RDWR', 'ftruncate 5 2', 'close 5', 'open 6 st O_WRONLY|O_TRUNC', 'close 6',
      'open 7 ng O_WRONLY', 'write 7 member', 'close 7'] },
  // ---- a setgid directory: the group and (for directories) the bit pass on; a non-member's set-group-ID is dropped
  { name: 'setgid-dir', setup: ['mkdir sg 02777', 'chown sg 4747 5151', 'chmod sg 02777', 'mkdir own 0777', toU('own')],
    watch: ['sg', 'sg/f', 'sg/d', 'sg/x', 'sg/p', 'sg/l', 'sg/m'], times: true, noAtime: ['sg/l'],
    steps: ['creat sg/f 0644', 'mkdir sg/d 0755', 'creat sg/x 02755', 'mkfifo sg/p 0644', 'symlink f sg/l', 'mkdir sg/m 02755', 'chmod sg/f 02644', 'chmod sg/x 02755', 'rename sg/f own/f', 'stat own/f', 'chmod own/f 02644', 'stat own/f'] },
  // ---- utimensat: explicit times by the owner only, UTIME_NOW by anyone who may write
  { name: 'utimes-rules', setup: ['creat mine 0444', toU('mine'), 'creat w 0666', toO('w'), 'creat r 0644', toO('r'), 'mkdir d 0777', toO('d')], watch: ['mine', 'w', 'r', 'd'], times: true,
    steps: ['utimens mine 100 200', 'utimens mine now now', 'utimens mine now omit', 'utimens mine omit 300', 'utimens w now now', 'utimens w 5 5', 'utimens w now omit', 'utimens w omit now', 'utimens w omit omit',
      'utimens w now 7', 'utimens r now now', 'utimens r omit omit', 'utimens r now omit', 'utimens r 1 1', 'utimens d now now', 'utimens d 9 9', 'stat mine'] },
  // ---- truncate: write permission, not ownership
  { name: 'truncate-perms', setup: ['creat mine 0444', toU('mine'), 'creat w 0666', toO('w'), 'creat r 0644', toO('r'), 'open 0 w O_WRONLY', 'write 0 0123456789', 'close 0'], watch: ['mine', 'w', 'r'], times: true,
    steps: ['truncate mine 0', 'truncate w 4', 'truncate r 0', 'open 0 w O_RDONLY', 'ftruncate 0 2', 'close 0', 'open 0 w O_WRONLY', 'ftruncate 0 2', 'close 0', 'cat w', 'truncate w 100000', 'stat w'] },
  // ---- link: protected_hardlinks refuses linking others' files the caller cannot read and write
  { name: 'link-protected', setup: ['mkdir own 0777', toU('own'), 'creat o 0644', toO('o'), 'creat orw 0666', toO('orw'), 'creat ro 0600', 'creat mine 0600', toU('mine'), 'creat os 04777', toO('os'),
    'creat osg 02777', toO('osg'), 'creat osgx 02770', 'chown osgx 4747 4646', 'chmod osgx 02770', 'mkdir ro-dir 0755', 'creat ro-dir/f 0666'],
    watch: ['o', 'orw', 'mine', 'os'], times: true,
    steps: ['link o own/o', 'link orw own/orw', 'link ro own/ro', 'link mine own/mine', 'link os own/os', 'link osg own/osg', 'link osgx own/osgx', 'link mine ro-dir/m', 'link ro-dir/f own/f', 'ls own'] },
  // ---- rename across directories without write permission (and a directory's own '..')
  { name: 'rename-perms', setup: ['mkdir own 0755', toU('own'), 'creat own/f 0644', toU('own/f'), 'mkdir own/sub 0755', toU('own/sub'), 'mkdir ro 0755', 'creat ro/f 0666', 'mkdir w 0777', 'mkdir w/d 0755',
    'mkdir w/ud 0755', toU('w/ud'), 'mkdir w/nx 0777', 'mkdir w/nx/in 0755', 'chmod w/nx 0733', 'mkdir w2 0777', toO('w2')],
    watch: ['own', 'ro', 'w', 'w/d', 'w/ud', 'w2'], times: true,
    // documented: between two containers the kernel's own checks on the one FUSE mount come before EXDEV
    treeGives: { 13: 'R ENOENT', 18: 'R EACCES' },
    steps: ['rename ro/f own/f2', 'rename own/f ro/f2', 'rename w/d own/d', 'rename w/d w/d2', 'rename w/ud own/ud', 'rename own/ud w2/ud', 'rename own/sub w/sub', 'rename w/sub w/sub2',
      'rename own/f w/f', 'rename w/f w2/f', 'rename w/nx/in own/in', 'ls w/nx', 'rename own/nope w/x', 'rename own/f {O}/f', 'ls own', 'creat own/g 0644', 'rename own/g {O}/g', 'link own/g {O}/g',
      'rename ro/f {O}/f', 'link ro/f {O}/f', 'rename own/g {O}/nodir/g'] },
  // ---- rmdir and unlink in directories without write permission; an open file's unlink
  { name: 'remove-perms', setup: ['mkdir ro 0755', 'mkdir ro/d 0777', 'creat ro/f 0666', 'mkdir own 0755', toU('own'), 'mkdir own/theirs 0755', toO('own/theirs'), 'creat own/theirs/f 0644', toO('own/theirs/f'), 'creat own/o 0600', toO('own/o')],
    watch: ['ro', 'own', 'own/theirs'], times: true,
    steps: ['rmdir ro/d', 'unlink ro/f', 'unlink own/o', 'unlink own/theirs/f', 'rmdir own/theirs', 'ls own'] },
  // ---- extended attributes: user.* by whoever may write, trusted.* never
  { name: 'xattrs-as-user', setup: ['creat mine 0644', toU('mine'), 'creat w 0666', toO('w'), 'creat r 0644', toO('r'), 'setxattr r user.k v 0', 'mkdir t 01777', 'creat t/o 0666', toO('t/o')],
    watch: ['mine', 'w', 'r'], times: true,
    steps: ['setxattr mine user.a 1 0', 'getxattr mine user.a', 'setxattr w user.b 2 0', 'setxattr r user.c 3 0', 'getxattr r user.k', 'listxattr r', 'removexattr r user.k', 'setxattr mine trusted.t 1 0',
      'getxattr mine trusted.t', 'setxattr t/o user.s 1 0', 'removexattr mine user.a', 'listxattr mine'] },
  // ---- a cwd inside a directory the caller cannot search (it got there before, or was handed it):
  // the kernel checks nothing above it, and the tree must not either
  { name: 'cwd-below-unsearchable', setup: ['mkdir p 0700', 'mkdir p/q 0777', toU('p/q'), 'creat p/q/f 0666', 'mkdir p/q/o 0755', 'mkdir p/q/nx 0700', 'creat p/q/nx/f 0666', 'symlink f p/q/sl',
    'creat p/q/r 0600', 'setxattr p/q/r user.k v 0', 'mkdir p/q/mine 0755', toU('p/q/mine'), 'creat p/q/m 06755', toU('p/q/m'), 'chmod p/q/m 06755'],
    start: 'p/q', watch: ['.', 'f', 'g', 'd', 'sl', 'm', 'mine'], times: true, noAtime: ['sl'],
    steps: ['stat .', 'stat f', 'open 0 f O_RDWR', 'write 0 x', 'close 0', 'cat f', 'creat g 0644', 'ls .', 'mkdir d 0755', 'rename g d/g', 'link d/g h', 'unlink d/g', 'unlink h', 'rmdir d',
      'chmod f 0600', 'chmod . 0775', 'utimens f now now', 'utimens . 3 3', 'chown . -1 4646', 'setxattr . user.q 1 0', 'listxattr .', 'symlink f l', 'readlink l', 'readlink sl', 'setxattr f user.x 1 0', 'getxattr f user.x', 'listxattr f',
      'access f rw', 'access . rwx', 'ls o', 'stat ..', 'ls ..', 'stat nx/f', 'ls nx', 'cat sl', 'open 1 o O_RDONLY|O_DIRECTORY', 'close 1', 'truncate f 0', 'mkfifo p 0600', 'unlink p',
      'cat r', 'getxattr r user.k', 'truncate r 0', 'chmod r 0666', 'chown f -1 0', 'utimens r now now', 'utimens r 1 1', 'open 2 r O_WRONLY|O_TRUNC',
      'chmod m 04755', 'chown m -1 4646', 'utimens m 1 1', 'truncate m 0', 'stat m', 'chdir mine', 'chmod . 0700', 'utimens . 7 7', 'setxattr . user.d 1 0', 'stat .', 'creat n 0600', 'chdir ..'] },
  // ---- long paths (~4,000 bytes from a cwd ~3,750 bytes deep), made by the user
  { name: 'long-paths-as-user', setup: mkChain(32), watch: ['.'],
    steps: [`chdir ${chain(0, 15)}`, `stat ${chain(15, 31)}`, `mkdir ${chain(15, 31)}/x 0700`, `creat ${chain(15, 31)}/x/f 0600`, `open 0 ${chain(15, 31)}/x/f O_WRONLY|O_APPEND`, 'write 0 deep', 'close 0',
      `stat ${chain(15, 31)}/x/f`, `rename ${chain(15, 31)}/x/f ${chain(15, 31)}/x/g`, `link ${chain(15, 31)}/x/g ${chain(15, 31)}/x/h`, `symlink g ${chain(15, 31)}/x/s`, `chmod ${chain(15, 31)}/x/g 0640`,
      `chown ${chain(15, 31)}/x/g -1 4646`, `chown ${chain(15, 31)}/x/g 0 0`, `utimens ${chain(15, 31)}/x/g 1000.5 2000.25`, `utimens ${chain(15, 31)}/x/g now now`, `ls ${chain(15, 31)}/x`,
      `unlink ${chain(15, 31)}/x/h`, `unlink ${chain(15, 31)}/x/s`, `unlink ${chain(15, 31)}/x/g`, `rmdir ${chain(15, 31)}/x`, `rmdir ${chain(15, 31)}`,
      `stat ${chain(15, 31)}/${'z'.repeat(4096 - chain(15, 31).length - 2)}`, `stat ${chain(15, 31)}/${'z'.repeat(4096 - chain(15, 31).length - 1)}`] },
];

/**
 * POSIX ACLs, as U. Documented: the kernel checks permissions on the tree with the mode bits
 * alone (libfuse 2 cannot enable ACLs on a FUSE mount), so what a named user or group entry
 * grants beyond them is refused there (EACCES) before the daemon is asked; what an entry
 * denies is refused on both sides (the daemon acts as the caller on the real file).
 * The ACLs themselves are read and set through the tree as on the overlay.
 */
const aclCases: PosixCase[] = [
  // documented: what the entries grant beyond the mode bits is refused on the tree
  { name: 'acl-grants', setup: ['creat f 0640', 'open 0 f O_WRONLY', 'write 0 secret', 'close 0', 'acl f access u::rw,u:4646:rw,g::r,m::rw,o::-',
    'mkdir d 0755', 'acl d access u::rwx,u:4646:rwx,g::rx,m::rwx,o::rx', 'mkdir g 0750', 'acl g access u::rwx,g::rx,g:4646:rx,m::rx,o::-'],
    watch: [], treeGives: { 0: 'R EACCES', 1: 'R EACCES', 2: 'R EACCES', 3: 'R EBADF', 4: 'R EACCES', 5: 'R EACCES', 6: 'R EACCES' },
    steps: ['access f rw', 'cat f', 'open 0 f O_WRONLY|O_APPEND', 'close 0', 'creat d/x 0644', 'ls g', 'stat g/nope', 'access f x'] },
  // what they deny is refused on both; the ACLs themselves read and set as on the overlay
  { name: 'acl-denies-and-attrs', setup: ['creat n 0644', 'open 0 n O_WRONLY', 'write 0 public', 'close 0', 'acl n access u::rw,u:4646:-,g::r,m::r,o::r', 'creat mine 0644', toU('mine'),
    'creat f 0640', 'acl f access u::rw,u:4646:rw,g::r,m::rw,o::-', 'mkdir dd 0777', 'acl dd default u::rwx,u:4747:rwx,g::rx,m::rwx,o::rx'],
    watch: ['n', 'mine', 'f', 'dd/m', 'dd/f'], times: true,
    steps: ['cat n', 'open 1 n O_WRONLY', 'getacl n access', 'getacl f access', 'acl f access u::rw,g::r,o::r', 'acl mine access u::rw,u:4747:r,g::r,m::r,o::-', 'getacl mine access',
      'chmod mine 0600', 'getacl mine access', 'acl mine access u::rw,g::r,o::r', 'getacl mine access', 'creat dd/f 0666', 'stat dd/f', 'getacl dd/f access', 'umask 0', 'mkdir dd/m 0777', 'getacl dd/m default', 'getacl dd/m access'] },
];

/**
 * A default ACL, as root. Documented: on the tree the kernel applies the caller's umask to
 * the mode of what is made (a FUSE mount without ACLs), where the overlay, whose directory
 * has a default ACL, ignores the umask and takes the ACL's entries.
 */
const rootCases: PosixCase[] = [
  { name: 'default-acl', setup: ['mkdir dd 0777', 'acl dd default u::rwx,g::rwx,o::rwx', 'mkdir dn 0777', 'acl dn default u::rwx,u:4646:rwx,g::rx,m::rwx,o::rx'],
    watch: ['dd/f', 'dd/d', 'dn/f'], times: true,
    steps: ['creat dd/f 0666', 'stat dd/f', 'mkdir dd/d 0777', 'stat dd/d', 'getacl dd/d default', 'umask 0', 'creat dn/f 0666', 'getacl dn/f access', 'stat dn/f'] },
];

/** Cases whose caller is G: U with the supplementary group 5151. */
const groupCases: PosixCase[] = [
  { name: 'group-perms', setup: ['mkdir g 0770', 'chown g 0 5151', 'creat g/f 0640', 'open 0 g/f O_WRONLY', 'write 0 secret', 'close 0', 'chown g/f 4747 5151', 'creat g/w 0660', 'chown g/w 4747 5151', 'mkdir n 0770', 'chown n 0 5152', 'creat m 0600', toU('m'),
    'mkdir sg 02770', 'chown sg 0 5151', 'chmod sg 02770', 'creat x 02755', toU('x'), 'chmod x 02755'],
    watch: ['g', 'g/f', 'g/w', 'm', 'sg/d', 'sg/f', 'x'], times: true,
    steps: ['ls g', 'cat g/f', 'open 0 g/f O_WRONLY', 'open 0 g/w O_WRONLY', 'write 0 w', 'close 0', 'creat g/new 0644', 'stat g/new', 'ls n', 'chown m -1 5151', 'chown m -1 5152', 'chmod m 02644', 'stat m',
      'mkdir sg/d 0755', 'creat sg/f 02644', 'chown x -1 5151', 'chmod x 02755', 'chown x -1 4646', 'chmod x 02755', 'access g/f r', 'access g/f w', 'utimens g/w now now', 'utimens g/w 1 1', 'link g/w g/l'] },
];

// the modes of the setup are exactly as written (umask 0); the steps run with umask 022
for (const c of [...cases, ...groupCases, ...aclCases, ...rootCases]) c.setup = ['umask 0', ...(c.setup ?? [])];

for (const c of cases) {
  test(`posix as ${U.uid}:${U.gid}: ${c.name}`, async (t) => {
    const r = await runCase(bin, sides, c, U);
    if (process.env.WARDENFS_TEST_POSIX_SHOW) t.log(r.overlay.join('\n'));
    if (r.diffs.length) t.fail(`the tree differs from the overlay:\n${r.diffs.join('\n')}`);
    else t.pass();
  });
  // a container in a user namespace: with --allow-other the tree shows host ids there too
  test(`posix as ${U.uid}:${U.gid}, user namespace: ${c.name}`, async (t) => {
    const r = await runCase(bin, userns, c, U);
    if (r.diffs.length) t.fail(`the tree differs from the overlay:\n${r.diffs.join('\n')}`);
    else t.pass();
  });
}
/**
 * The table's documented differences that are root's (what U may not do gives the overlay's
 * error on both sides), and those U meets instead (docs/rootfs.md, "Differences from the overlay").
 */
const asUser: Record<string, Partial<PosixCase>> = {
  // mknod of a device is EPERM for U on both sides: nothing to open
  'device-nodes-as-root': { treeGives: {} },
  // U may not make the link in root's d: both ENOENT
  'readlink-symlink': { treeGives: {} },
  // U cannot write d/f (root's): it stays empty, and its reads are answered by the kernel (no atime)
  'times-of-ops': { treeTimes: { 10: { g: '-' }, 11: { 'd/f': '-' }, 12: { 'd/f': '-' } } },
  // the kernel's checks before EXDEV: moving root's directory needs write permission on it, linking root's file (protected_hardlinks)
  'rename-across-containers-exdev': { treeGives: { 1: 'R EACCES', 2: 'R EPERM' } },
};

// the table posix.test.ts runs as root, run as U: the same state (root's files, case directories 0777)
for (const table of rootTable) {
  const c = { ...table, ...asUser[table.name] };
  test(`posix table as ${U.uid}:${U.gid}: ${c.name}`, async (t) => {
    const r = await runCase(bin, sides, c, U);
    if (process.env.WARDENFS_TEST_POSIX_SHOW) t.log(r.overlay.join('\n'));
    if (r.diffs.length) t.fail(`the tree differs from the overlay:\n${r.diffs.join('\n')}`);
    else t.pass();
  });
}
for (const c of aclCases) {
  test(`posix as ${U.uid}:${U.gid}, ACLs: ${c.name}`, async (t) => {
    const r = await runCase(bin, sides, c, U);
    if (process.env.WARDENFS_TEST_POSIX_SHOW) t.log(r.overlay.join('\n'));
    if (r.diffs.length) t.fail(`the tree differs from the overlay:\n${r.diffs.join('\n')}`);
    else t.pass();
  });
}
for (const c of rootCases) {
  test(`posix as root, ACLs: ${c.name}`, async (t) => {
    const r = await runCase(bin, sides, c);
    if (process.env.WARDENFS_TEST_POSIX_SHOW) t.log(r.overlay.join('\n'));
    if (r.diffs.length) t.fail(`the tree differs from the overlay:\n${r.diffs.join('\n')}`);
    else t.pass();
  });
}
// U's cases again with the supplementary group 5151 (the setgid directory's, the group of some files)
for (const c of [...cases, ...groupCases]) {
  test(`posix as ${G.uid}:${G.gid} groups ${G.groups!.join(',')}: ${c.name}`, async (t) => {
    const r = await runCase(bin, withGroup, c, G);
    if (process.env.WARDENFS_TEST_POSIX_SHOW) t.log(r.overlay.join('\n'));
    if (r.diffs.length) t.fail(`the tree differs from the overlay:\n${r.diffs.join('\n')}`);
    else t.pass();
  });
}

