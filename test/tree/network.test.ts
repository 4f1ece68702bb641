/** The container network (docs/interface.md §5.7): addresses, forwards, egress rules, rate, stats, cleanup. Traffic stays between this host and its own containers. */
import test from 'ava';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { execa } from 'execa';
import path from 'node:path';
import { Tree, PROJECT } from '../helpers/tree.js';
import { sleep } from '../helpers/host.js';
import { netHelpers } from '../helpers/net.js';

const tree = new Tree('net');
const { C, run, finish, get, webServer } = netHelpers(tree);
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

const address = async (name: string) => (await fs.readFile(C(name, 'net', 'address'), 'utf8')).trim().split('/')[0]!;

test.serial('addresses: distinct in the subnet; net=none has loopback alone; the host reaches a server by address', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create web1');
  await tree.ctl(tree.p('ctl'), 'create web2');
  await tree.ctl(tree.p('ctl'), 'create lonely net=none');
  const a1 = await address('web1');
  const a2 = await address('web2');
  t.not(a1, a2);
  for (const a of [a1, a2]) t.true(a.startsWith(`${tree.net}.`), a);
  t.regex((await tree.status('web1')).address!, new RegExp(`^${a1.replace(/\./g, '\\.')}/24$`));
  t.is((await fs.readFile(C('lonely', 'net', 'address'), 'utf8')).trim(), 'none');
  t.is((await tree.status('lonely')).address, 'none');
  const ifaces = await finish('lonely', await run('lonely', 'ls /sys/class/net'));
  t.is(ifaces.out, 'lo\n');
  const inside = await finish('web1', await run('web1', 'ip addr show eth0'));
  t.regex(inside.out, new RegExp(`inet ${a1.replace(/\./g, '\\.')}/24`));
  await webServer('web1');
  t.is(await get(`http://${a1}/`), 'hello from web1\n');
});

test.serial('port forwards: added live, answer on 127.0.0.1, replaced with >, removed by emptying; a taken host port is EADDRINUSE', async (t) => {
  await webServer('web2');
  const port = 20000 + Math.floor(Math.random() * 20000);
  await fs.writeFile(C('web1', 'net', 'ports'), `${port}:80\n`);
  t.is(await fs.readFile(C('web1', 'net', 'ports'), 'utf8'), `${port}:80/tcp\n`);
  t.is(await get(`http://127.0.0.1:${port}/`), 'hello from web1\n');
  // the same host port for another container
  await t.throwsAsync(fs.writeFile(C('web2', 'net', 'ports'), `${port}:80\n`), { code: 'EADDRINUSE' });
  t.is(await fs.readFile(C('web2', 'net', 'ports'), 'utf8'), '');
  // replaced with >
  let r = await tree.sh(`echo "${port + 1}:80" > "${C('web1', 'net', 'ports')}"`);
  t.is(r.exitCode, 0, r.stderr);
  await t.throwsAsync(get(`http://127.0.0.1:${port}/`, 1000));
  t.is(await get(`http://127.0.0.1:${port + 1}/`), 'hello from web1\n');
  // now the first port is free for web2; >> adds
  r = await tree.sh(`echo "${port}:80" >> "${C('web2', 'net', 'ports')}"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await get(`http://127.0.0.1:${port}/`), 'hello from web2\n');
  // removed by emptying the file
  r = await tree.sh(`: > "${C('web1', 'net', 'ports')}"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await fs.readFile(C('web1', 'net', 'ports'), 'utf8'), '');
  await t.throwsAsync(get(`http://127.0.0.1:${port + 1}/`, 1000));
  // bad lines change nothing
  await t.throwsAsync(fs.writeFile(C('web2', 'net', 'ports'), 'nonsense\n'), { code: 'EINVAL' });
  t.is(await fs.readFile(C('web2', 'net', 'ports'), 'utf8'), `${port}:80/tcp\n`);
  await fs.writeFile(C('web2', 'net', 'ports'), '');
});

test.serial('egress: refused with no rule, allowed after a rule, refused again after emptying', async (t) => {
  const target = await address('web2');
  const fetch = async () => finish('web1', await run('web1', `timeout 3 wget -q -O - http://${target}/`));
  let r = await fetch();
  t.not(r.status, 'exited 0\n', 'no rule: refused');
  await tree.sh(`echo "allow tcp ${target}/32 80" > "${C('web1', 'net', 'rules')}"`);
  t.is(await fs.readFile(C('web1', 'net', 'rules'), 'utf8'), `allow tcp ${target}/32 80\n`);
  r = await fetch();
  t.is(r.status, 'exited 0\n', r.err);
  t.is(r.out, 'hello from web2\n');
  await tree.sh(`: > "${C('web1', 'net', 'rules')}"`);
  r = await fetch();
  t.not(r.status, 'exited 0\n', 'emptied: refused again');
  await t.throwsAsync(fs.writeFile(C('web1', 'net', 'rules'), 'allow sctp 1.2.3.4\n'), { code: 'EINVAL' });
});

test.serial('rate: 1 MiB out at 2mbit takes about 4 s, well under 1 s after max; stats count bytes', async (t) => {
  const gateway = `${tree.net}.1`;
  const received: number[] = [];
  const server = net.createServer((sock) => {
    const t0 = Date.now();
    let n = 0;
    sock.on('data', (d: Buffer) => { n += d.length; });
    sock.on('end', () => received.push(n === 1024 * 1024 ? Date.now() - t0 : -n));
  });
  await new Promise<void>((r) => server.listen(0, gateway, r));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  await fs.writeFile(C('web1', 'net', 'rules'), `allow tcp ${gateway}/32 ${port}\n`);
  const before = Object.fromEntries((await fs.readFile(C('web1', 'net', 'stats'), 'utf8')).trim().split('\n').map((l) => l.split(' ') as [string, string]));
  const send = async () => finish('web1', await run('web1', `sh -c 'dd if=/dev/zero bs=1024 count=1024 2>/dev/null | nc ${gateway} ${port}'`));
  await fs.writeFile(C('web1', 'net', 'rate'), '2mbit 64k\n');
  t.is(await fs.readFile(C('web1', 'net', 'rate'), 'utf8'), '2mbit 64k\n');
  let r = await send();
  t.is(r.status, 'exited 0\n', r.err);
  await fs.writeFile(C('web1', 'net', 'rate'), 'max\n');
  r = await send();
  t.is(r.status, 'exited 0\n', r.err);
  for (let i = 0; i < 20 && received.length < 2; i++) await sleep(100);
  t.is(received.length, 2);
  const [capped, free] = received as [number, number];
  t.true(capped > 3000 && capped < 7000, `capped took ${capped} ms`);
  t.true(free >= 0 && free < 1000, `uncapped took ${free} ms`);
  const after = Object.fromEntries((await fs.readFile(C('web1', 'net', 'stats'), 'utf8')).trim().split('\n').map((l) => l.split(' ') as [string, string]));
  t.true(Number(after.tx_bytes) - Number(before.tx_bytes!) > 2 * 1024 * 1024, 'tx_bytes counts what was sent');
  await t.throwsAsync(fs.writeFile(C('web1', 'net', 'rate'), 'fast\n'), { code: 'EINVAL' });
  t.is(await fs.readFile(C('web1', 'net', 'rate'), 'utf8'), 'max\n');
});

test.serial('create with ports=, and after destroy no rule, interface, namespace or qdisc mentions the container', async (t) => {
  const port = 40000 + Math.floor(Math.random() * 20000);
  await tree.ctl(tree.p('ctl'), `create gone ports=${port}:80 'rules=allow icmp ${tree.net}.1' 'rate=1mbit 32k'`);
  await webServer('gone');
  t.is(await get(`http://127.0.0.1:${port}/`), 'hello from gone\n');
  await fs.writeFile(C('gone', 'ctl'), 'destroy\n');
  const nft = await execa('/usr/sbin/nft', ['list', 'ruleset']);
  t.false(nft.stdout.includes(`c_gone`), 'no nft chain');
  t.false(nft.stdout.includes(`${port}`), 'no forward');
  const links = await execa('/usr/sbin/ip', ['-o', 'link']);
  const netns = await execa('/usr/sbin/ip', ['netns', 'list']);
  t.false(netns.stdout.includes('-gone'), 'no namespace');
  t.false(/wfs-[0-9a-f]+-gone/.test(links.stdout));
  await t.throwsAsync(get(`http://127.0.0.1:${port}/`, 1000));
});

/**
 * ping without CAP_NET_RAW (dropped in every container, privileged ones included): ICMP
 * datagram sockets, allowed for every group of the container by ping_group_range, pass the
 * egress rules like any packet. The default image's ping (Debian's busybox 1.35) opens a raw
 * socket only and fails; a ping that uses datagram sockets works (docs/network.md, Ping).
 */
test.serial('ping: an ICMP datagram socket reaches the gateway with `allow icmp`, in every mode and as any user; busybox ping cannot', async (t) => {
  const gateway = `${tree.net}.1`;
  const probe = path.join(tree.base, 'icmp-echo');
  await execa('gcc', ['-static', '-O1', '-o', probe, path.join(PROJECT, 'test/fixtures/icmp-echo.c')]);
  for (const [name, options] of [['ping1', ''], ['ping2', ' privileged=true seccomp=unconfined']] as const) {
    await tree.ctl(tree.p('ctl'), `create ${name}${options}`);
    await fs.copyFile(probe, C(name, 'rootfs', 'icmp-echo'));
    await fs.chmod(C(name, 'rootfs', 'icmp-echo'), 0o755);
    // no rule: refused at once
    let r = await finish(name, await run(name, `/icmp-echo ${gateway}`));
    t.is(r.out, 'sendto: Operation not permitted\n', name);
    await fs.writeFile(C(name, 'net', 'rules'), `allow icmp ${gateway}\n`);
    for (const user of ['', 'user=1000 ']) {
      r = await finish(name, await run(name, `${user}/icmp-echo ${gateway}`));
      t.is(r.status, 'exited 0\n', `${name} ${user}${r.out}${r.err}`);
      t.is(r.out, `reply from ${gateway}\n`);
    }
    r = await finish(name, await run(name, `ping -c 1 -W 2 ${gateway}`));
    t.not(r.status, 'exited 0\n');
    t.regex(r.err, /permission denied \(are you root\?\)/, `${name}: busybox ping uses raw sockets only`);
    await fs.writeFile(C(name, 'ctl'), 'destroy\n');
  }
});
