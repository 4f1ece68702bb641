/**
 * The table of differential cases of rootfs/ against the overlay (test/tree/posix.test.ts runs
 * it as root, test/tree/posix-as.test.ts as another user): each case a sequence of operations
 * (test/helpers/posixdiff.ts) with the state it starts from.
 */
import type { PosixCase } from './posixdiff.js';

const N255 = 'n'.repeat(255);
const N256 = 'n'.repeat(256);
/** A chain of `depth` directories named with 250 bytes each: ~251 bytes of path per level. */
const level = (i: number) => String(i).padStart(3, '0') + 'd'.repeat(247);
export const chain = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => level(from + k)).join('/');
/** Makes the chain through relative mkdir/chdir steps, never a path over PATH_MAX. */
export const mkChain = (depth: number) => [...Array.from({ length: depth }, (_, i) => [`mkdir ${level(i)} 0755`, `chdir ${level(i)}`]).flat(), `chdir ${'../'.repeat(depth).slice(0, -1)}`];

export const cases: PosixCase[] = [
  // ---- rename
  { name: 'rename-file-over-file', setup: ['creat f 0644', 'open 0 f O_WRONLY', 'write 0 hello', 'close 0', 'creat g 0600'], watch: ['.', 'f', 'g'], times: true,
    steps: ['rename f g', 'cat g', 'stat g'] },
  { name: 'rename-dir-over-empty-dir', setup: ['mkdir d 0755', 'creat d/x 0644', 'mkdir e 0700'], watch: ['.', 'd', 'e'], times: true,
    steps: ['rename d e', 'ls e', 'stat e'] },
  { name: 'rename-dir-over-nonempty-dir', setup: ['mkdir d 0755', 'mkdir e 0755', 'creat e/x 0644'], watch: ['.', 'd', 'e'], steps: ['rename d e'] },
  { name: 'rename-file-over-dir', setup: ['creat f 0644', 'mkdir e 0755'], watch: ['.', 'f', 'e'], steps: ['rename f e', 'rename e f'] },
  { name: 'rename-dir-into-itself', setup: ['mkdir d 0755', 'mkdir d/s 0755'], watch: ['.', 'd'],
    steps: ['rename d d/s/x', 'rename d d/x', 'rename d/s d', 'rename . x', 'rename d/s/.. y'] },
  { name: 'rename-missing', setup: ['creat f 0644'], watch: ['.'], steps: ['rename nope x', 'rename f nodir/x', 'rename f f/x'] },
  { name: 'rename-hardlinks-same-inode', setup: ['creat f 0644', 'link f g'], watch: ['.', 'f', 'g'], times: true, steps: ['rename f g', 'rename f f'] },
  // documented: libfuse 2 has no RENAME2, so the kernel answers renameat2's flags EINVAL (after its own checks)
  { name: 'renameat2-flags', setup: ['creat f 0644', 'mkdir d 0755'], watch: [],
    steps: ['renamex f d noreplace', 'renamex f nope exchange', 'renamex f d exchange', 'renamex f g noreplace'], treeGives: { 2: 'R EINVAL', 3: 'R EINVAL' } },
  { name: 'rename-dir-dotdot-counts', setup: ['mkdir p1 0755', 'mkdir p2 0755', 'mkdir p1/d 0755', 'mkdir p1/d/s 0755'], watch: ['.', 'p1', 'p2', 'p1/d', 'p2/d'], times: true,
    steps: ['rename p1/d p2/d', 'rename p2/d p2/e', 'rename p2/e e'] },
  { name: 'rename-across-containers-exdev', setup: ['creat f 0644', 'mkdir d 0755'], watch: ['.', 'f'],
    steps: ['rename f {O}/f', 'rename d {O}/d', 'link f {O}/g'] },
  // ---- link / unlink / rmdir / mkdir
  { name: 'link-counts', setup: ['creat f 0644'], watch: ['.', 'f', 'g', 'h'], times: true,
    steps: ['link f g', 'link f h', 'unlink g', 'unlink f', 'stat h'] },
  { name: 'link-errors', setup: ['creat f 0644', 'mkdir d 0755', 'symlink f s'], watch: ['.', 'f', 's'],
    steps: ['link f d', 'link d d2', 'link nope x', 'link f nodir/x', 'link f f/x', 'link s s2', 'lstat s2', 'link f f'] },
  { name: 'unlink-errors', setup: ['creat f 0644', 'mkdir d 0755', 'symlink d sd'], watch: ['.', 'd', 'sd'],
    steps: ['unlink d', 'unlink nope', 'unlink f/x', 'unlink sd', 'stat d', 'unlink d/'] },
  { name: 'rmdir-errors', setup: ['mkdir d 0755', 'creat d/x 0644', 'creat f 0644', 'mkdir e 0755', 'symlink e se'], watch: ['.', 'd', 'e'], times: true,
    steps: ['rmdir d', 'rmdir f', 'rmdir nope', 'rmdir .', 'rmdir e/.', 'rmdir se', 'rmdir e', 'rmdir f/x'] },
  { name: 'mkdir-modes-and-errors', setup: ['creat f 0644'], watch: ['.', 'd', 'e', 'g'], times: true,
    steps: ['mkdir d 0755', 'mkdir d 0755', 'mkdir f 0755', 'mkdir nope/x 0755', 'mkdir f/x 0755', 'umask 0', 'mkdir e 0777', 'mkdir g 01777', 'umask 027', 'mkdir h 0777', 'stat h'] },
  // ---- open
  { name: 'open-creat-excl', setup: ['creat f 0644', 'symlink dangling dl', 'symlink f fl'], watch: ['.', 'f', 'n', 'dangling'], times: true,
    steps: ['open 0 f O_CREAT|O_EXCL|O_WRONLY 0600', 'open 0 fl O_CREAT|O_EXCL|O_WRONLY 0600', 'open 0 dl O_CREAT|O_EXCL|O_WRONLY 0600',
      'open 0 n O_CREAT|O_EXCL|O_WRONLY 0640', 'close 0', 'stat n', 'open 1 dl O_CREAT|O_WRONLY 0600', 'close 1', 'lstat dangling'] },
  { name: 'open-trunc-append', setup: ['creat f 0644', 'open 0 f O_WRONLY', 'write 0 0123456789', 'close 0'], watch: ['f'], times: true,
    steps: ['open 0 f O_WRONLY|O_APPEND', 'write 0 abc', 'close 0', 'cat f', 'open 1 f O_RDWR|O_TRUNC', 'write 1 xy', 'close 1', 'cat f',
      'open 2 f O_RDONLY|O_TRUNC', 'close 2', 'stat f', 'open 3 f O_RDONLY', 'write 3 no', 'close 3'] },
  { name: 'open-directory-nofollow', setup: ['creat f 0644', 'mkdir d 0755', 'symlink d sd', 'symlink f sf'], watch: ['.'],
    steps: ['open 0 f O_RDONLY|O_DIRECTORY', 'open 0 sd O_RDONLY|O_DIRECTORY', 'close 0', 'open 0 sf O_RDONLY|O_NOFOLLOW', 'open 0 sd O_RDONLY|O_NOFOLLOW|O_DIRECTORY',
      'open 0 sd O_RDONLY|O_NOFOLLOW', 'open 0 d O_WRONLY', 'open 0 d O_RDWR', 'open 0 d O_RDONLY|O_CREAT 0644', 'open 0 f/x O_RDONLY', 'open 0 sf O_RDONLY', 'read 0 10', 'close 0'] },
  { name: 'open-read-dir-as-file', setup: ['mkdir d 0755'], steps: ['open 0 d O_RDONLY', 'read 0 10', 'close 0'] },
  { name: 'symlink-loops', setup: ['symlink b a', 'symlink a b', 'symlink self self', 'creat f 0644'], watch: ['a', 'self'],
    steps: ['open 0 a O_RDONLY', 'stat a', 'lstat a', 'stat self', 'open 0 self O_CREAT|O_WRONLY 0644', 'mkdir self/x 0755', 'chmod a 0600', 'readlink self', 'symlink x f', 'readlink f'] },
  { name: 'trailing-slashes', setup: ['creat f 0644', 'mkdir d 0755', 'symlink d sd', 'symlink f sf', 'symlink nope dl'], watch: ['.', 'd', 'n'],
    steps: ['stat f/', 'stat d/', 'lstat sd/', 'lstat sf/', 'open 0 f/ O_RDONLY', 'open 0 g/ O_CREAT|O_WRONLY 0644', 'mkdir n/ 0755', 'rmdir n/', 'rename d/ e/', 'rename e/ d',
      'rename f g/', 'unlink sd/', 'rmdir sd/', 'mkdir dl/ 0755', 'lstat nope', 'link f h/', 'symlink f h/', 'rename sd/ x'] },
  // ---- names and paths
  { name: 'name-255-256', watch: ['.'],
    steps: [`creat ${N255} 0644`, `creat ${N256} 0644`, `mkdir ${N256} 0755`, `symlink x ${N256}`, `stat ${N256}`, `rename ${N255} ${N256}`, `link ${N255} ${N256}`,
      `mkfifo ${N256} 0644`, `stat ${N255}`, `unlink ${N255}`, `symlink ${'t'.repeat(4095)} long`, `readlink long`, `symlink ${'t'.repeat(4096)} long2`] },
  // ~4,000 bytes from the caller's cwd (which is itself ~3,750 bytes deep in rootfs/)
  { name: 'long-paths', setup: mkChain(32), watch: ['.'],
    steps: [`chdir ${chain(0, 15)}`, `stat ${chain(15, 31)}`, `mkdir ${chain(15, 31)}/x 0755`, `creat ${chain(15, 31)}/x/f 0644`,
      `open 0 ${chain(15, 31)}/x/f O_WRONLY|O_APPEND`, 'write 0 deep', 'close 0', `cat ${chain(15, 31)}/x/f`, `stat ${chain(15, 31)}/x/f`,
      `rename ${chain(15, 31)}/x/f ${chain(15, 31)}/x/g`, `link ${chain(15, 31)}/x/g ${chain(15, 31)}/x/h`, `symlink g ${chain(15, 31)}/x/s`, `readlink ${chain(15, 31)}/x/s`,
      `chmod ${chain(15, 31)}/x/g 0600`, `setxattr ${chain(15, 31)}/x/g user.k v 0`, `getxattr ${chain(15, 31)}/x/g user.k`, `truncate ${chain(15, 31)}/x/g 2`, `utimens ${chain(15, 31)}/x/g 1000.5 2000.25`,
      `ls ${chain(15, 31)}/x`, `unlink ${chain(15, 31)}/x/h`, `unlink ${chain(15, 31)}/x/s`, `unlink ${chain(15, 31)}/x/g`, `rmdir ${chain(15, 31)}/x`,
      `stat ${chain(15, 31)}/${'z'.repeat(4096 - chain(15, 31).length - 2)}`, `stat ${chain(15, 31)}/${'z'.repeat(4096 - chain(15, 31).length - 1)}`] },
  // ---- attributes
  { name: 'chmod-chown-suid', setup: ['creat f 04755', 'creat g 02755', 'creat h 02745', 'mkdir d 02755'], watch: ['f', 'g', 'h', 'd'], times: true,
    steps: ['chown f 1 1', 'chmod f 04755', 'chown f -1 -1', 'chown g 2 2', 'chown h 2 2', 'chown d 3 3', 'chmod d 07777', 'chown d -1 4'] },
  // documented: a chown that changes nothing reaches libfuse 2 as a SETATTR with nothing to set: no ctime
  { name: 'chown-nothing', setup: ['creat f 0644', 'mkdir d 0755'], watch: ['f', 'd'], times: true, treeTimes: { 0: { f: '-' }, 1: { d: '-' } },
    steps: ['chown f -1 -1', 'chown d -1 -1', 'stat f'] },
  { name: 'write-truncate-suid-as-root', setup: ['creat f 06777'], watch: ['f'], times: true, notInside: 'the host writes as host root, which keeps the bits',
    steps: ['open 0 f O_WRONLY', 'write 0 x', 'close 0', 'truncate f 0', 'open 0 f O_WRONLY|O_TRUNC', 'close 0'] },
  // documented: reading an empty file (or at its end) is answered by the kernel without the daemon: no atime
  { name: 'times-of-ops', setup: ['mkdir d 0755', 'creat d/f 0644', 'creat g 0644'], watch: ['.', 'd', 'd/f', 'g'], times: true, treeTimes: { 10: { g: '-' } },
    steps: ['creat d/n 0644', 'unlink d/n', 'open 0 d/f O_WRONLY', 'write 0 abc', 'close 0', 'truncate d/f 1', 'truncate d/f 1', 'chmod d/f 0600', 'chown d/f 5 5', 'link g d/g2',
      'cat g', 'cat d/f', 'cat d/f', 'ls d', 'rename g d/g3', 'setxattr d/f user.t v 0', 'removexattr d/f user.t', 'open 1 d/f O_RDWR', 'ftruncate 1 10', 'fchmod 1 0640', 'fchown 1 6 6', 'close 1', 'mkfifo d/p 0600', 'mksock d/s 0600'] },
  { name: 'utimens', setup: ['creat f 0644', 'symlink f s'], watch: ['f', 's'], times: true, noAtime: ['s'],
    steps: ['utimens f 1000.000000001 2000.999999999', 'stat f', 'utimens f now omit', 'utimens f omit now', 'utimens f omit omit', 'utimens f now now', 'utimens f 5.5 omit',
      'lutimens s 7.25 8.5', 'utimens s 9 9', 'utimens nope now now', 'utimens f -1.5 -100'] },
  { name: 'truncate-errors', setup: ['creat f 0644', 'mkdir d 0755'], watch: ['f'], steps: ['truncate d 0', 'truncate f -1', 'truncate nope 0', 'truncate f 3', 'stat f'] },
  { name: 'access-as-root', setup: ['creat f 0644', 'creat x 0100', 'creat n 0000', 'mkdir d 0000'], watch: [],
    steps: ['access f f', 'access f r', 'access f w', 'access f x', 'access x x', 'access n rw', 'access n x', 'access d rwx', 'access nope f'] },
  { name: 'special-files', watch: ['p', 'sk'], times: true,
    steps: ['mkfifo p 0640', 'mkfifo p 0640', 'mksock sk 0600', 'stat p', 'lstat sk', 'chmod p 0600', 'unlink p', 'unlink sk'] },
  { name: 'xattrs', setup: ['creat f 0644', 'mkdir d 0755', 'symlink f s'], watch: ['f'], times: true,
    steps: ['setxattr f user.a 1 create', 'setxattr f user.a 2 create', 'setxattr f user.b 3 replace', 'setxattr f user.a 4 replace', 'getxattr f user.a', 'getxattr f user.nope',
      'listxattr f', 'removexattr f user.a', 'removexattr f user.a', 'setxattr d user.d x 0', 'listxattr d', 'setxattr s user.l x 0', 'listxattr s', 'getxattr s user.a', 'setxattr f bogus.x 1 0'] },
  // documented: a link whose text has '..' after a name is shown resolved, as the climb to rootfs/ (docs/security.md §1)
  { name: 'rename-symlinks', setup: ['creat f 0644', 'mkdir d 0755', 'mkdir e 0755', 'symlink d sd', 'symlink f sf'], watch: ['.', 'sd', 'sf', 'd'], times: true, noAtime: ['sd', 'sf'],
    steps: ['rename e sd', 'rename sf f', 'rename d sd', 'lstat sd', 'rename f sd', 'link sd sd2', 'lstat sd2'] },
  { name: 'setgid-dir-inheritance', setup: ['mkdir s 02775', 'chown s 0 5'], watch: ['s'], times: true,
    steps: ['mkdir s/d 0755', 'stat s/d', 'creat s/f 0644', 'stat s/f', 'mkfifo s/p 0644', 'stat s/p', 'symlink x s/l', 'lstat s/l'] },
  // documented: an unlinked file still open is libfuse's .fuse_hiddenN until its close (its
  // directory is not empty meanwhile); O_TMPFILE is EOPNOTSUPP (libfuse 2)
  { name: 'open-unlinked-and-fd-errors', setup: ['creat f 0644', 'open 0 f O_WRONLY', 'write 0 abc', 'close 0', 'creat g 0444', 'mkdir d 0755', 'creat d/h 0644'], watch: [],
    steps: ['open 0 f O_RDWR', 'unlink f', 'fstat 0', 'write 0 xyz', 'ftruncate 0 1', 'fchmod 0 0600', 'fstat 0', 'close 0', 'open 1 g O_RDONLY', 'write 1 x', 'ftruncate 1 0', 'close 1',
      'open 2 g O_WRONLY', 'write 2 root', 'close 2', 'cat g', 'open 3 g O_EXCL|O_RDONLY', 'close 3', 'open 5 d/h O_RDWR', 'unlink d/h', 'rmdir d', 'close 5',
      'open 4 . O_TMPFILE|O_RDWR 0600', 'close 4'],
    treeGives: { 20: 'R ENOTEMPTY', 22: 'R EOPNOTSUPP', 23: 'R EBADF' } },
  // documented: a device node is never opened through the tree (nodev, docs/security.md §4)
  { name: 'device-nodes-as-root', watch: ['.', 'c'], times: true, notInside: 'host root may make device nodes, the container\'s root may not', steps: ['mkchr c 0600', 'stat c', 'open 0 c O_RDONLY', 'close 0', 'unlink c'],
    treeGives: { 2: 'R EACCES', 3: 'R EBADF' } },
  { name: 'readlink-symlink', setup: ['creat f 0644', 'mkdir d 0755'], watch: ['.', 'l'], times: true, noAtime: ['l'],
    treeGives: { 6: 'R ok ../../../../../tmp/posixdiff/b/readlink-symlink/f' },
    steps: ['symlink f l', 'readlink l', 'lstat l', 'readlink f', 'symlink f l', 'symlink ../d/../f d/up', 'readlink d/up', 'stat d/up', 'chmod l 0600', 'lchown l 7 7', 'lstat l'] },
];
