import test from 'ava';
import { parseSubnet, allocate, numberToIp, ipToNumber } from '../../src/drivers/network/ipam.js';
import { BadRequest } from '../../src/errors.js';

test('subnets: network, gateway and host range', (t) => {
  const s = parseSubnet('10.88.0.0/16');
  t.is(numberToIp(s.network), '10.88.0.0');
  t.is(numberToIp(s.gateway), '10.88.0.1');
  t.is(numberToIp(s.first), '10.88.0.2');
  t.is(numberToIp(s.last), '10.88.255.254');
  t.is(numberToIp(parseSubnet('192.168.7.77/24').network), '192.168.7.0');
  t.is(ipToNumber('1.2.3.4'), 0x01020304);
});

test('bad subnets are refused', (t) => {
  for (const bad of ['', '10.0.0.0', '10.0.0.0/33', '10.0.0.0/30', '10.0.0/24', '300.1.1.1/24', 'x/24']) {
    t.throws(() => parseSubnet(bad), { instanceOf: BadRequest }, bad);
  }
});

test('allocation: lowest free, never one in use, none when full', (t) => {
  const s = parseSubnet('10.9.0.0/29'); // hosts .2 … .6
  t.is(allocate(s, new Set()), '10.9.0.2');
  t.is(allocate(s, new Set(['10.9.0.2', '10.9.0.3'])), '10.9.0.4');
  t.is(allocate(s, new Set(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6'])), undefined);
  t.is(allocate(s, new Set(['10.9.0.3'])), '10.9.0.2');
});

test('the bridge limit: the 1024th bridge container is ENOSPC with a clear message, before anything is made', async (t) => {
  const { Network, BRIDGE_MAX_PORTS } = await import('../../src/core/network.js');
  const { NoSpace } = await import('../../src/errors.js');
  const records = Array.from({ length: BRIDGE_MAX_PORTS - 1 }, (_, i) => ({ name: `c${i}`, record: { address: numberToIp(ipToNumber('10.88.0.2') + i), settings: {} } }));
  const registry = { all: () => records } as unknown as ConstructorParameters<typeof Network>[2];
  const net = new Network('unit', '10.88.0.0/16', registry);
  t.is(net.allocate('last'), numberToIp(ipToNumber('10.88.0.2') + BRIDGE_MAX_PORTS - 1)); // the 1023rd fits
  const e = t.throws(() => net.allocate('one-too-many'), { instanceOf: NoSpace });
  t.regex(e!.message, /at most 1023 containers with net=bridge/);
  net.release('last');
  t.notThrows(() => net.allocate('again'));
});
