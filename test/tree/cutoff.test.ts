/**
 * A settings change cut off by a daemon kill between the kernel's write and the record's
 * (core/changes.ts): the next daemon applies the record again, so that net/ports, cgroup/
 * and what the kernel does agree (docs/reliability.md). The cut is made exactly: the change
 * is made through the tree, the daemon SIGKILLed, and the state dir put back as it is between
 * the two writes (the old record, the marker of a change under way).
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { Tree } from '../helpers/tree.js';
import { netHelpers } from '../helpers/net.js';
import { instanceId } from '../../src/drivers/cgroups/hierarchy.js';
import { netNames } from '../../src/drivers/network/host.js';
import { pidAlive } from '../helpers/host.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test.serial('a port and limit change cut off between the kernel and the record: the record is applied again at the next start', async (t) => {
  const tree = new Tree('cutoff');
  t.teardown(() => tree.cleanup());
  const { C, get, webServer } = netHelpers(tree);
  const table = netNames(instanceId(tree.state)).table;
  await tree.start();
  const [a, b] = [await freePort(), await freePort()];
  await tree.ctl(tree.p('ctl'), `create cut memory.max=100M ports=127.0.0.1:${a}:80`);
  await webServer('cut');
  t.is(await get(`http://127.0.0.1:${a}/`), 'hello from cut\n');
  const record = path.join(tree.state, 'containers', 'cut', 'container.json');
  const before = await fs.readFile(record, 'utf8');

  // The change reaches the kernel …
  await fs.writeFile(C('cut', 'net', 'ports'), `127.0.0.1:${b}:80\n`);
  await fs.writeFile(C('cut', 'cgroup', 'memory.max'), '200M\n');
  t.is(await get(`http://127.0.0.1:${b}/`), 'hello from cut\n');
  // … and the daemon dies before the record has it.
  await tree.stop('SIGKILL');
  await fs.writeFile(record, before);
  await fs.writeFile(path.join(tree.state, 'containers', 'cut', 'changing'), '');

  await tree.start();
  t.is(await fs.readFile(C('cut', 'net', 'ports'), 'utf8'), `127.0.0.1:${a}:80/tcp\n`);
  const chain = (await execa('/usr/sbin/nft', ['list', 'chain', 'ip', table, 'c_cut'])).stdout;
  t.regex(chain, new RegExp(`dport ${a} dnat`), 'the kernel forwards the recorded port');
  t.notRegex(chain, new RegExp(`dport ${b} dnat`), 'and not the cut-off one');
  t.is(await get(`http://127.0.0.1:${a}/`), 'hello from cut\n');
  await t.throwsAsync(get(`http://127.0.0.1:${b}/`, 1000));
  t.is(await fs.readFile(C('cut', 'cgroup', 'memory.max'), 'utf8'), `${100 * 1024 * 1024}\n`, 'the tree and the kernel: the recorded limit');
  t.regex(await fs.readFile(C('cut', 'events'), 'utf8'), /^settings applied again from the record/m);
  await t.throwsAsync(fs.access(path.join(tree.state, 'containers', 'cut', 'changing')), undefined, 'the marker is gone');
  // A change after it is made and recorded as usual; no marker is left.
  await fs.writeFile(C('cut', 'net', 'ports'), `127.0.0.1:${b}:80\n`);
  t.regex(await fs.readFile(record, 'utf8'), new RegExp(`"127\\.0\\.0\\.1:${b}:80/tcp"`));
  await t.throwsAsync(fs.access(path.join(tree.state, 'containers', 'cut', 'changing')));
});

test.serial('a daemon killed while a run is up: after the restart, destroy ends its monitor (the stdin writer\'s holder) at once', async (t) => {
  // Runs without a terminal have wardenfs's own monitor, which holds the stdin FIFO's
  // second writer itself: no holder process, so no holder.pid to be cut off before it is
  // written (the conmon path's holders are found by command line, drivers/monitor/conmon.ts).
  const tree = new Tree('cutrun');
  t.teardown(() => tree.cleanup());
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'create cr');
  const id = await tree.ctl(tree.p('containers', 'cr', 'ctl'), 'run sleep 1000');
  const dir = path.join(tree.state, 'containers', 'cr', 'procs', id);
  const monitor = Number(await fs.readFile(path.join(dir, 'conmon.pid'), 'utf8'));
  const pid = Number(await fs.readFile(path.join(dir, 'pid'), 'utf8'));
  t.true(pidAlive(monitor) && pidAlive(pid));
  await t.throwsAsync(fs.access(path.join(dir, 'holder.pid')), { code: 'ENOENT' }, 'no holder process');
  await tree.stop('SIGKILL');
  await tree.start();
  await tree.ctl(tree.p('ctl'), 'destroy cr');
  t.false(pidAlive(monitor), 'the monitor is gone when the destroy returns');
  t.false(pidAlive(pid), 'the process is gone');
});
