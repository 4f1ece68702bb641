/**
 * `wardenfs mount --allow-other` (issue 13, items 1, 2 and 5): other host users enter the
 * tree; the control side stays root's; what they do in rootfs/ is done with their own
 * credentials, so owners, permissions, the sticky bit, set-id clearing and setgid
 * directories are the kernel's own. Each check does the same operations, as the same user,
 * through the tree and directly on the container's overlay mount (STATE/containers/NAME/rootfs,
 * reached through a descriptor passed to the user's shell: the state dir is root's alone),
 * and compares what each gave. Without the option another user cannot enter at all.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { Tree } from '../helpers/tree.js';

const tree = new Tree('allowoth', { args: ['--allow-other'] });
const NAME = 'shared';
// Host users unlikely to exist here (no passwd entry is needed)
const ALICE = { uid: 4242, gid: 4343, groups: [5000] };
const BOB = { uid: 4444, gid: 4444, groups: [] as number[] };
type User = typeof ALICE;

test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), `create ${NAME}`);
});
test.after.always(async () => {
  await tree.cleanup();
});

const overlay = (...p: string[]) => path.join(tree.state, 'containers', NAME, 'rootfs', ...p);
const inTree = (...p: string[]) => tree.p('rootfs', NAME, ...p);

/**
 * Runs `script` as `user` (setpriv: its uid, gid and exactly its supplementary groups) in
 * directory `dir`, given as an open descriptor (fd 3): the user needs no access to the
 * directories above it. Returns stdout; stderr is kept for the failure message.
 */
async function as(user: User, dir: string, script: string): Promise<string> {
  const fh = await fs.open(dir, 'r');
  try {
    const groups = user.groups.length ? [`--groups=${user.groups.join(',')}`] : ['--clear-groups'];
    const child = spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, ...groups, 'sh', '-c', `umask 022; cd /proc/self/fd/3 && { ${script}; }`], {
      stdio: ['ignore', 'pipe', 'pipe', fh.fd], env: { M: tree.mnt, PATH: process.env.PATH }, timeout: 30_000,
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    if (code !== 0) throw new Error(`as ${user.uid}: exit ${code}: ${err}`);
    return out;
  } finally {
    await fh.close();
  }
}

/** A pair of fresh sticky, world-writable directories in the container's /tmp: one seen through the tree, one on the overlay. */
async function pair(tag: string): Promise<{ tree: string; ovl: string; names: [string, string] }> {
  const names: [string, string] = [`${tag}-tree`, `${tag}-ovl`];
  for (const n of names) {
    await fs.mkdir(overlay('tmp', n));
    await fs.chmod(overlay('tmp', n), 0o1777);
  }
  return { tree: inTree('tmp', names[0]), ovl: overlay('tmp', names[1]), names };
}

/** Owner, group, mode and type of each name, as the host sees it (lstat on the overlay). */
async function owners(dir: string, names: string[]): Promise<string[]> {
  return Promise.all(names.map(async (n) => {
    const st = await fs.lstat(path.join(dir, n)).catch(() => undefined);
    return st ? `${n} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : 'f'}` : `${n} missing`;
  }));
}

/** Runs the same steps as `user` in both directories of a pair; every step prints its name and exit status. */
async function both(user: User, p: { tree: string; ovl: string }, steps: string): Promise<[string, string]> {
  return [await as(user, p.tree, steps), await as(user, p.ovl, steps)];
}

/** `st NAME CMD…`: run CMD, print "NAME=STATUS" (errors not printed: their text differs by tool). */
const ST = 'st() { n=$1; shift; "$@" >/dev/null 2>&1; echo "$n=$?"; };';

test.serial('another user cannot reach anything of the control side; root still can', async (t) => {
  const out = await as(ALICE, tree.mnt, `${ST}
    st ls-root ls . ; st ls-rootfs ls rootfs ; st ctl-read cat ctl ; st ctl-write sh -c 'echo "create intruder" > ctl' ;
    st events cat events ; st containers ls containers ; st mkdir mkdir containers/intruder ;
    st status cat containers/${NAME}/status ; st cctl sh -c 'echo "destroy" > containers/${NAME}/ctl' ;
    st images ls images ; st procs ls procs/${NAME} ; st ls-rootfs-name ls rootfs/${NAME}/tmp`);
  t.deepEqual(out.trim().split('\n'), [
    'ls-root=0', 'ls-rootfs=0', 'ctl-read=1', 'ctl-write=2', 'events=1', 'containers=2', 'mkdir=1',
    'status=1', 'cctl=2', 'images=2', 'procs=2', 'ls-rootfs-name=0',
  ]);
  // the refusals were EACCES, by the kernel (modes): nothing reached the daemon
  const r = await execa('setpriv', [`--reuid=${ALICE.uid}`, `--regid=${ALICE.gid}`, '--clear-groups', 'sh', '-c', `echo "create intruder" > ${tree.p('ctl')}`], { reject: false });
  t.regex(r.stderr, /Permission denied/);
  t.false(await fs.access(tree.p('containers', 'intruder')).then(() => true, () => false));
  t.notRegex(await fs.readFile(tree.p('events'), 'utf8'), /intruder/);
  // modes: / and rootfs/ others may enter; all else root's alone
  const mode = async (...p: string[]) => ((await fs.stat(tree.p(...p))).mode & 0o777).toString(8);
  t.deepEqual(await Promise.all([mode(), mode('rootfs'), mode('ctl'), mode('events'), mode('containers'), mode('images'), mode('procs'), mode('containers', NAME, 'status'), mode('containers', NAME, 'ctl')]),
    ['755', '755', '600', '400', '700', '700', '700', '400', '600']);
  // root works as before
  t.is(await tree.ctl(tree.p('ctl'), 'create byroot'), 'byroot');
  t.is(await tree.ctl(tree.p('ctl'), 'destroy byroot'), 'ok');
});

test.serial('what another user makes is its own, on the host as on the overlay, and so inside the container', async (t) => {
  const p = await pair('own');
  const steps = `${ST} st touch touch f ; st mkdir mkdir d ; st ln ln -s f l ; st fifo mkfifo p ; st write sh -c 'echo hello > w'`;
  const [a, b] = await both(ALICE, p, steps);
  t.is(a, b);
  t.is(a.trim(), 'touch=0\nmkdir=0\nln=0\nfifo=0\nwrite=0');
  const names = ['f', 'd', 'l', 'p', 'w'];
  const viaTree = await owners(overlay('tmp', p.names[0]), names);
  t.deepEqual(viaTree, await owners(p.ovl, names));
  t.deepEqual(viaTree, ['f 4242:4343 644 f', 'd 4242:4343 755 d', 'l 4242:4343 777 l', 'p 4242:4343 644 p', 'w 4242:4343 644 f']);
  // the tree shows host ids (--allow-other), the same as the overlay
  const st = await fs.lstat(path.join(p.tree, 'f'));
  t.deepEqual([st.uid, st.gid], [4242, 4343]);
  // inside the container (its own user namespace) both are the same unmapped owner
  const id = await tree.ctl(tree.p('containers', NAME, 'ctl'), `run sh -c 'for d in ${p.names.join(' ')}; do cd /tmp/$d && ls -lnd f d w | awk "{print \\$3, \\$4}"; done'`);
  const seen = (await fs.readFile(tree.p('procs', NAME, id, 'stdout'))).toString().trim().split('\n');
  t.deepEqual(seen, Array(6).fill('65534 65534'));
});

test.serial('chmod and chgrp by the owner work, by another user EPERM; as on the overlay', async (t) => {
  const p = await pair('mode');
  await both(ALICE, p, 'touch f && mkdir d');
  const [a1, b1] = await both(ALICE, p, `${ST} st chmod chmod 640 f ; st chgrp chgrp 5000 f ; st chmod-d chmod 2770 d ; st chown chown ${BOB.uid} f ; st chgrp-other chgrp 6000 f`);
  t.is(a1, b1);
  t.is(a1.trim(), 'chmod=0\nchgrp=0\nchmod-d=0\nchown=1\nchgrp-other=1');
  const [a2, b2] = await both(BOB, p, `${ST} st chmod chmod 666 f ; st chgrp chgrp 4444 f ; st touch-t touch -d 2001-01-01 f`);
  t.is(a2, b2);
  t.is(a2.trim(), 'chmod=1\nchgrp=1\ntouch-t=1');
  const viaTree = await owners(overlay('tmp', p.names[0]), ['f', 'd']);
  t.deepEqual(viaTree, await owners(p.ovl, ['f', 'd']));
  t.deepEqual(viaTree, ['f 4242:5000 640 f', 'd 4242:4343 2770 d']);
});

test.serial('sticky /tmp: another user can neither remove nor rename a file it does not own', async (t) => {
  const p = await pair('sticky');
  await both(ALICE, p, 'echo x > mine && chmod 666 mine');
  const steps = `${ST} st rm rm -f mine ; st mv mv mine stolen ; st write sh -c 'echo y >> mine' ; st own sh -c 'echo z > bobs' ; st rm-own rm bobs`;
  const [a, b] = await both(BOB, p, steps);
  t.is(a, b);
  t.is(a.trim(), 'rm=1\nmv=1\nwrite=0\nown=0\nrm-own=0');
  t.is(await fs.readFile(path.join(p.tree, 'mine'), 'utf8'), 'x\ny\n');
  t.deepEqual(await owners(overlay('tmp', p.names[0]), ['mine', 'stolen', 'bobs']), ['mine 4242:4343 666 f', 'stolen missing', 'bobs missing']);
});

test.serial('a write by another user to a mode-4777 file succeeds and clears the set-user-ID bit, as on the overlay', async (t) => {
  const p = await pair('setid');
  await both(ALICE, p, 'touch su sg && chmod 4777 su && chmod 2777 sg');
  const [a, b] = await both(BOB, p, `${ST} st su sh -c 'echo data >> su' ; st sg sh -c 'echo data >> sg' ; st chmod chmod 4777 su`);
  t.is(a, b);
  t.is(a.trim(), 'su=0\nsg=0\nchmod=1');
  const viaTree = await owners(overlay('tmp', p.names[0]), ['su', 'sg']);
  t.deepEqual(viaTree, await owners(p.ovl, ['su', 'sg']));
  t.deepEqual(viaTree, ['su 4242:4343 777 f', 'sg 4242:4343 777 f']);
  t.is(await fs.readFile(path.join(p.tree, 'su'), 'utf8'), 'data\n');
  // the owner's chgrp of a set-id executable drops both bits too (one request: mode and group)
  const [c, d] = await both(ALICE, p, `${ST} touch x && chmod 6755 x && st chgrp chgrp 5000 x`);
  t.is(c, d);
  t.deepEqual(await owners(overlay('tmp', p.names[0]), ['x']), await owners(p.ovl, ['x']));
  t.deepEqual(await owners(p.ovl, ['x']), ['x 4242:5000 755 f']);
});

test.serial('a setgid directory passes its group (and the bit, to directories) to what is made in it', async (t) => {
  const p = await pair('sgid');
  const [a, b] = await both(ALICE, p, `${ST} mkdir g && chgrp 5000 g && chmod 2775 g && st file touch g/f && st dir mkdir g/d`);
  t.is(a, b);
  t.is(a.trim(), 'file=0\ndir=0');
  const names = ['g', 'g/f', 'g/d'];
  const viaTree = await owners(overlay('tmp', p.names[0]), names);
  t.deepEqual(viaTree, await owners(p.ovl, names));
  t.deepEqual(viaTree, ['g 4242:5000 2775 d', 'g/f 4242:5000 644 f', 'g/d 4242:5000 2755 d']);
  // a user of another group cannot write there at all
  const [c, d] = await both(BOB, p, `${ST} st in touch g/bob`);
  t.is(c, d);
  t.is(c.trim(), 'in=1');
});

test.serial('group permissions: a member of the group reads and lists (opens done by the binding itself, as the caller with its groups); others EACCES', async (t) => {
  const p = await pair('grp');
  await both(ALICE, p, 'mkdir g && echo secret > g/f && chgrp -R 5000 g && chmod 750 g && chmod 640 g/f');
  const CAROL = { uid: 4545, gid: 4545, groups: [5000] };
  const steps = `${ST} st cat cat g/f ; st ls ls g ; st stat stat g/f ; st write sh -c 'echo x >> g/f'`;
  const [a, b] = await both(CAROL, p, steps);
  t.is(a, b);
  t.is(a.trim(), 'cat=0\nls=0\nstat=0\nwrite=2');
  t.is(await as(CAROL, p.tree, 'cat g/f; ls g'), 'secret\nf\n');
  const [c, d] = await both(BOB, p, steps);
  t.is(c, d);
  t.is(c.trim(), 'cat=1\nls=2\nstat=1\nwrite=2');
});

test.serial('events name the caller of each ctl message: uid, pid and command name', async (t) => {
  // a shell's own echo: the writer is the shell itself, whose pid it prints
  const r = await execa('sh', ['-c', 'echo $$; echo "create evc" > "$M/ctl"; echo "run true" > "$M/containers/evc/ctl"'], { env: { M: tree.mnt } });
  const pid = r.stdout.trim();
  const global = await fs.readFile(tree.p('events'), 'utf8');
  t.regex(global, new RegExp(`^ctl uid=0 pid=${pid} comm=sh: create evc\\ncreated evc$`, 'm'));
  t.regex(await fs.readFile(tree.p('containers', 'evc', 'events'), 'utf8'), new RegExp(`^ctl uid=0 pid=${pid} comm=sh: run true$`, 'm'));
  // a failed message is named too, before its error
  await t.throwsAsync(execa('sh', ['-c', 'echo "frob evc" > "$M/ctl"'], { env: { M: tree.mnt } }));
  t.regex(await fs.readFile(tree.p('events'), 'utf8'), /^ctl uid=0 pid=\d+ comm=sh: frob evc\nerror: unknown message "frob evc"$/m);
  // mkdir and rmdir of containers/ name theirs: the mkdir program
  await execa('mkdir', [tree.p('containers', 'evd')]);
  await execa('rmdir', [tree.p('containers', 'evd')]);
  const after = await fs.readFile(tree.p('events'), 'utf8');
  t.regex(after, /^mkdir uid=0 pid=\d+ comm=mkdir: containers\/evd\ncreated evd$/m);
  t.regex(after, /^rmdir uid=0 pid=\d+ comm=rmdir: containers\/evd$/m);
  t.is(await tree.ctl(tree.p('ctl'), 'destroy evc'), 'ok');
});

test.serial('without --allow-other no other user can enter the tree', async (t) => {
  const closed = new Tree('allowoth-no');
  t.teardown(() => closed.cleanup());
  await closed.start();
  const r = await execa('setpriv', [`--reuid=${ALICE.uid}`, `--regid=${ALICE.gid}`, '--clear-groups', 'ls', closed.mnt], { reject: false });
  t.not(r.exitCode, 0);
  t.regex(r.stderr, /Permission denied/);
  t.deepEqual((await fs.readdir(closed.mnt)).sort(), ['by-property', 'containers', 'ctl', 'events', 'images', 'metrics', 'procs', 'rootfs']);
  // root-only mode keeps the container's view of owners
  await closed.ctl(closed.p('ctl'), 'create view');
  t.is((await fs.stat(closed.p('rootfs', 'view', 'tmp'))).uid, 0);
});
