/**
 * Port forwards and the host's own ports (issue 20 item 3), egress refused at once and
 * `allow all` (item 10). Traffic stays between this host and its own containers: host
 * servers listen on 127.0.0.1 or on the tree's bridge address and are closed after.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';
import { netHelpers } from '../helpers/net.js';

const tree = new Tree('ports');
const { C, run, finish, get, webServer } = netHelpers(tree);
test.before(async () => {
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create pa');
  await tree.ctl(tree.p('ctl'), 'create pb');
  await webServer('pa');
  await webServer('pb');
});
test.after.always(async () => {
  await tree.cleanup();
});

const gateway = `${tree.net}.1`;
const ports = (name: string) => fs.readFile(C(name, 'net', 'ports'), 'utf8');
const events = (name: string) => fs.readFile(C(name, 'events'), 'utf8');


/** A TCP server of the host on HOST:PORT (PORT 0: any free one); rejects with the listen error (EADDRINUSE). */
async function listen(port: number, host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer((s) => s.end('host service\n'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
const close = (s: net.Server) => new Promise<void>((r) => s.close(() => r()));
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

/** A port free on the host right now (the kernel's pick). */
async function freePort(): Promise<number> {
  const s = await listen(0);
  const p = portOf(s);
  await close(s);
  return p;
}

test.serial('a port a host service listens on: EADDRINUSE, the table unchanged, an events line; free again after', async (t) => {
  const host = await listen(0);
  const port = portOf(host);
  try {
    await fs.writeFile(C('pa', 'net', 'ports'), '');
    await t.throwsAsync(fs.writeFile(C('pa', 'net', 'ports'), `${port}:80\n`), { code: 'EADDRINUSE' });
    t.is(await ports('pa'), '');
    t.regex(await events('pa'), new RegExp(`^error: host port 0\\.0\\.0\\.0:${port}/tcp is in use on the host`, 'm'));
    // the host service still gets its traffic
    t.is(await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      let text = '';
      s.on('data', (d: Buffer) => { text += d.toString(); });
      s.on('end', () => resolve(text));
      s.on('error', reject);
    }), 'host service\n');
    // >> refuses it too, and the forwards already there stay
    const other = await freePort();
    await fs.writeFile(C('pa', 'net', 'ports'), `${other}:80\n`);
    await t.throwsAsync(fs.appendFile(C('pa', 'net', 'ports'), `127.0.0.1:${port}:80\n`), { code: 'EADDRINUSE' });
    t.is(await ports('pa'), `${other}:80/tcp\n`);
    t.is(await get(`http://127.0.0.1:${other}/`), 'hello from pa\n');
  } finally {
    await close(host);
  }
  // once the host service is gone, the port can be forwarded
  await fs.writeFile(C('pa', 'net', 'ports'), `${port}:80\n`);
  t.is(await get(`http://127.0.0.1:${port}/`), 'hello from pa\n');
  await fs.writeFile(C('pa', 'net', 'ports'), '');
});

test.serial('a forward holds its host port: a host listen is EADDRINUSE while it exists and works after `: >`', async (t) => {
  const port = await freePort();
  const udp = await freePort();
  await fs.writeFile(C('pa', 'net', 'ports'), `${port}:80\n${udp}:53/udp\n`);
  t.is(await ports('pa'), `${port}:80/tcp\n${udp}:53/udp\n`);
  for (const host of ['127.0.0.1', '0.0.0.0', gateway]) {
    await t.throwsAsync(listen(port, host), { code: 'EADDRINUSE' }, host);
  }
  // a dual-stack IPv6 listener (what `listen(PORT)` makes) collides too
  await t.throwsAsync(new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, () => { s.close(); resolve(undefined); });
  }), { code: 'EADDRINUSE' });
  const bindUdp = () => new Promise<void>((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (e) => { s.close(); reject(e); });
    s.bind(udp, '127.0.0.1', () => s.close(() => resolve()));
  });
  await t.throwsAsync(bindUdp(), { code: 'EADDRINUSE' });
  const r = await tree.sh(`: > "${C('pa', 'net', 'ports')}"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await ports('pa'), '');
  await close(await listen(port));
  await bindUdp();
});

test.serial('writes at once to one table leave no port held that the table does not list', async (t) => {
  const wanted = await Promise.all([freePort(), freePort(), freePort()]);
  await Promise.all(wanted.map((p) => fs.writeFile(C('pa', 'net', 'ports'), `${p}:80\n`)));
  const listed = await ports('pa');
  t.regex(listed, /^\d+:80\/tcp\n$/);
  for (const p of wanted) {
    if (listed.startsWith(`${p}:`)) await t.throwsAsync(listen(p), { code: 'EADDRINUSE' });
    else await close(await listen(p));
  }
  await fs.writeFile(C('pa', 'net', 'ports'), '');
  for (const p of wanted) await close(await listen(p));
});

test.serial('HOSTIP:HOSTPORT:PORT answers on that address only; another container may take the port on another address', async (t) => {
  const port = await freePort();
  await fs.writeFile(C('pa', 'net', 'ports'), `127.0.0.1:${port}:80\n`);
  t.is(await ports('pa'), `127.0.0.1:${port}:80/tcp\n`);
  t.is(await get(`http://127.0.0.1:${port}/`), 'hello from pa\n');
  await t.throwsAsync(get(`http://${gateway}:${port}/`, 1000));
  // only 127.0.0.1 is held: the gateway's port is free for the host ...
  await close(await listen(port, gateway));
  // ... and for another container; every address, or 127.0.0.1 again, is taken
  await t.throwsAsync(fs.writeFile(C('pb', 'net', 'ports'), `${port}:80\n`), { code: 'EADDRINUSE' });
  await t.throwsAsync(fs.writeFile(C('pb', 'net', 'ports'), `127.0.0.1:${port}:80\n`), { code: 'EADDRINUSE' });
  t.regex(await events('pb'), /forwarded to container "pa"/);
  await fs.writeFile(C('pb', 'net', 'ports'), `${gateway}:${port}:80\n`);
  t.is(await get(`http://127.0.0.1:${port}/`), 'hello from pa\n');
  t.is(await get(`http://${gateway}:${port}/`), 'hello from pb\n');
  // written back as read, it is the same table; 0.0.0.0 is every address
  await fs.writeFile(C('pa', 'net', 'ports'), await ports('pa'));
  t.is(await ports('pa'), `127.0.0.1:${port}:80/tcp\n`);
  await fs.writeFile(C('pb', 'net', 'ports'), '');
  await fs.writeFile(C('pa', 'net', 'ports'), `0.0.0.0:${port}:80\n`);
  t.is(await ports('pa'), `${port}:80/tcp\n`);
  t.is(await get(`http://${gateway}:${port}/`), 'hello from pa\n');
  // from every address to one: the port moves, nothing else may take it meanwhile
  await fs.writeFile(C('pa', 'net', 'ports'), `127.0.0.1:${port}:80\n`);
  await t.throwsAsync(get(`http://${gateway}:${port}/`, 1000));
  await t.throwsAsync(listen(port, '127.0.0.1'), { code: 'EADDRINUSE' });
  // bad host addresses
  await t.throwsAsync(fs.writeFile(C('pa', 'net', 'ports'), `[::1]:${port}:80\n`), { code: 'EINVAL' });
  await t.throwsAsync(fs.writeFile(C('pa', 'net', 'ports'), `192.0.2.1:${port}:80\n`), { code: 'EADDRNOTAVAIL' });
  t.is(await ports('pa'), `127.0.0.1:${port}:80/tcp\n`);
  await fs.writeFile(C('pa', 'net', 'ports'), '');
  await close(await listen(port));
});

test.serial('create with a port in use fails and leaves nothing; with a free one it forwards, destroy releases it', async (t) => {
  const host = await listen(0);
  const port = portOf(host);
  try {
    await t.throwsAsync(fs.writeFile(tree.p('ctl'), `create busy ports=${port}:80\n`), { code: 'EADDRINUSE' });
  } finally {
    await close(host);
  }
  t.false((await fs.readdir(tree.p('containers'))).includes('busy'));
  t.regex(await fs.readFile(tree.p('events'), 'utf8'), new RegExp(`^error: host port 0\\.0\\.0\\.0:${port}/tcp is in use on the host`, 'm'));
  t.false((await fs.readdir(`${tree.state}/containers`)).includes('busy'), 'no state dir');
  t.false((await execa('/usr/sbin/nft', ['list', 'ruleset'])).stdout.includes('c_busy'), 'no nft chain');
  t.false((await execa('/usr/sbin/ip', ['netns', 'list'])).stdout.includes('-busy'), 'no namespace');
  // a port another container of this tree forwards, as create option
  const taken = await freePort();
  await fs.writeFile(C('pa', 'net', 'ports'), `${taken}:80\n`);
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), `create busy ports=${taken}:80\n`), { code: 'EADDRINUSE' });
  await fs.writeFile(C('pa', 'net', 'ports'), '');
  // free now: the create takes it, destroy gives it back
  await tree.ctl(tree.p('ctl'), `create busy ports=127.0.0.1:${port}:80`);
  t.is(await ports('busy'), `127.0.0.1:${port}:80/tcp\n`);
  await t.throwsAsync(listen(port), { code: 'EADDRINUSE' });
  await fs.writeFile(tree.p('ctl'), 'destroy busy\n');
  await close(await listen(port));
});

test.serial('a port forwarded by another tree on this host is EADDRINUSE', async (t) => {
  const other = new Tree('ports2');
  try {
    await other.start();
    await other.ctl(other.p('ctl'), 'create elsewhere');
    const port = await freePort();
    await fs.writeFile(other.p('containers', 'elsewhere', 'net', 'ports'), `${port}:80\n`);
    await t.throwsAsync(fs.writeFile(C('pa', 'net', 'ports'), `127.0.0.1:${port}:80\n`), { code: 'EADDRINUSE' });
    t.is(await ports('pa'), '');
  } finally {
    await other.cleanup();
  }
});

test.serial('a restarted daemon holds the forwards\' ports again; one taken meanwhile is an events line', async (t) => {
  const port = await freePort();
  const lost = await freePort();
  await fs.writeFile(C('pa', 'net', 'ports'), `${port}:80\n${lost}:81\n`);
  await tree.stop();
  const intruder = await listen(lost);
  try {
    await tree.start();
    await t.throwsAsync(listen(port), { code: 'EADDRINUSE' });
    t.is(await get(`http://127.0.0.1:${port}/`), 'hello from pa\n');
    t.is(await ports('pa'), `${port}:80/tcp\n${lost}:81/tcp\n`);
    t.regex(await events('pa'), new RegExp(`^error: host port 0\\.0\\.0\\.0:${lost}/tcp is in use on the host.*not held`, 'm'));
  } finally {
    await close(intruder);
  }
  await fs.writeFile(C('pa', 'net', 'ports'), '');
  await close(await listen(port));
});

test.serial('denied egress is refused at once (TCP reset), not dropped; `allow all` allows everything', async (t) => {
  const server = await listen(0, gateway);
  t.teardown(() => close(server));
  const port = portOf(server);
  await fs.writeFile(C('pa', 'net', 'rules'), '');
  const connect = async () => finish('pa', await run('pa', `sh -c 'time nc -w 5 ${gateway} ${port} </dev/null'`));
  let r = await connect();
  t.not(r.status, 'exited 0\n');
  t.regex(r.err, /refused/i);
  const real = /real\s+(\d+)m\s*([\d.]+)s/.exec(r.err);
  t.truthy(real, r.err);
  t.true(Number(real![1]) * 60 + Number(real![2]) < 0.5, `denied connect took ${real![0]}`);
  await fs.writeFile(C('pa', 'net', 'rules'), 'allow all\n');
  t.is(await fs.readFile(C('pa', 'net', 'rules'), 'utf8'), 'allow all 0.0.0.0/0\n');
  r = await connect();
  t.is(r.status, 'exited 0\n', r.err);
  t.is(r.out, 'host service\n');
  await fs.writeFile(C('pa', 'net', 'rules'), '');
  await t.throwsAsync(fs.writeFile(C('pa', 'net', 'rules'), 'allow everything\n'), { code: 'EINVAL' });
  t.regex(await events('pa'), /^error: bad rule "allow everything": want .*allow all/m);
  // the usage text of `cat ctl` says both
  const usage = await fs.readFile(tree.p('ctl'), 'utf8');
  t.regex(usage, /ports=\[HOSTIP:\]HOSTPORT:PORT/);
  t.regex(usage, /rules=allow PROTO .* or allow all/);
});

/**
 * A writer that forks between writes (docs/security.md §3): a child's close of its copy of
 * the descriptor (at exec: O_CLOEXEC; at exit: inherited) is a FLUSH too, which must not end
 * a line cut between two writes. Opens the table with O_TRUNC, then for each piece: forks a
 * child that execs /bin/true or exits, waits for it, prints the table as it is then (read
 * through another open) and a `--` line, writes the piece; closes at the end.
 */
const FORK_WRITER = `
import os, sys
path, mode = sys.argv[1:3]
fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
if mode == 'exit':
    os.set_inheritable(fd, True)
for piece in sys.argv[3:]:
    pid = os.fork()
    if pid == 0:
        if mode == 'exec':
            os.execv('/bin/true', ['/bin/true'])
        os._exit(0)
    os.waitpid(pid, 0)
    with open(path) as f:
        sys.stdout.write(f.read() + '--\\n')
    sys.stdout.flush()
    if piece:
        os.write(fd, piece.encode())
os.close(fd)
`;

for (const mode of ['exec', 'exit'] as const) {
  test.serial(`a child forked between writes (${mode}) never ends a table's line: the table ends with every line, whole`, async (t) => {
    const [p1, p2, p3, old] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    await fs.writeFile(C('pa', 'net', 'ports'), `${old}:80\n`);
    // a child closes before the first write, then between the halves of a line, twice
    const r = await execa('python3', ['-c', FORK_WRITER, C('pa', 'net', 'ports'), mode, `${p1}:80\n${p2}:8`, `1\n${p3}:8`, '2'], { reject: false });
    t.is(r.exitCode, 0, r.stderr);
    const seen = (r.stdout + '\n').split('--\n'); // execa drops the last newline
    // The truncate of the open carries no owner: a child's close before the first write
    // empties the table early (the only effect a child can have); every later one changes nothing.
    t.deepEqual(seen, ['', `${p1}:80/tcp\n`, `${p1}:80/tcp\n${p2}:81/tcp\n`, '']);
    t.is(await ports('pa'), `${p1}:80/tcp\n${p2}:81/tcp\n${p3}:82/tcp\n`, 'exactly the lines written, none cut, the old one gone');
    t.notRegex(await events('pa'), new RegExp(`^error: .*${p2}:8\\b`, 'm'));
    await t.throwsAsync(listen(p3), { code: 'EADDRINUSE' });
    await close(await listen(old));
    await fs.writeFile(C('pa', 'net', 'ports'), '');
  });
}

test.serial('a shell writing a line in two printfs around an external command: one entry, applied at the shell\'s close; `: >` at its close', async (t) => {
  const [p1, p2] = await Promise.all([freePort(), freePort()]);
  await fs.writeFile(C('pa', 'net', 'ports'), `${p1}:80\n`);
  // fd 1 is the table while the line is written (a redirection of a builtin would close a
  // dup of it in the shell itself: a writer's close); /bin/true and the subshell only inherit it
  const r = await tree.sh(`F="${C('pa', 'net', 'ports')}"; exec 3>"$F" 4>&1 1>&3; printf '${p2}:8'; /bin/true; (cat "$F"; echo --) >&4; printf 1; exec 1>&4 3>&-; cat "$F"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, `${p1}:80/tcp\n--\n${p2}:81/tcp`, 'the old table until the line ends, then exactly the new one');
  const e = await tree.sh(`: > "${C('pa', 'net', 'ports')}"; cat "${C('pa', 'net', 'ports')}"; echo end`);
  t.is(e.stdout, 'end');
  await close(await listen(p2));
});
