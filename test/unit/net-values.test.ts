import test from 'ava';
import { parsePortForward, forwardsOverlap, parseEgressRule, parseRate, formatEgressRule, formatPortForward, tableLines } from '../../src/ctl/net-values.js';
import { BadRequest } from '../../src/errors.js';

test('port forwards', (t) => {
  t.deepEqual(parsePortForward('8080:80'), { hostPort: 8080, containerPort: 80, proto: 'tcp' });
  t.deepEqual(parsePortForward(' 5353:53/udp '), { hostPort: 5353, containerPort: 53, proto: 'udp' });
  t.is(formatPortForward(parsePortForward('1:2')), '1:2/tcp');
  for (const bad of ['', '80', '0:80', '80:70000', '80:80/sctp', 'a:b', '80:80/']) t.throws(() => parsePortForward(bad), { instanceOf: BadRequest }, bad);
});

test('port forwards limited to one host address', (t) => {
  t.deepEqual(parsePortForward('127.0.0.1:8080:80'), { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, proto: 'tcp' });
  t.deepEqual(parsePortForward('10.0.0.5:53:53/udp'), { hostIp: '10.0.0.5', hostPort: 53, containerPort: 53, proto: 'udp' });
  // 0.0.0.0 is every address: the same as no address
  t.deepEqual(parsePortForward('0.0.0.0:8080:80'), parsePortForward('8080:80'));
  // the canonical form reads back as it parses
  for (const line of ['127.0.0.1:8080:80/tcp', '8080:80/tcp', '192.168.1.2:1:2/udp']) t.is(formatPortForward(parsePortForward(line)), line);
  t.is(formatPortForward(parsePortForward('127.000.0.1:8080:80')), '127.0.0.1:8080:80/tcp');
  t.is(formatPortForward(parsePortForward('0.0.0.0:8080:80')), '8080:80/tcp');
  for (const bad of ['localhost:8080:80', '1.2.3:8080:80', '1.2.3.256:8080:80', ':8080:80', '1.2.3.4:8080', '1.2.3.4::80', '[::1]:8080:80', '::1:8080:80', '1.2.3.4:8080:80:90']) {
    t.throws(() => parsePortForward(bad), { instanceOf: BadRequest }, bad);
  }
  t.regex(t.throws(() => parsePortForward('[::1]:8080:80'))!.message, /IPv4/);
});

test('overlapping forwards: same protocol and port, and every address or the same one', (t) => {
  const f = parsePortForward;
  t.true(forwardsOverlap(f('8080:80'), f('8080:81')));
  t.true(forwardsOverlap(f('8080:80'), f('127.0.0.1:8080:81')));
  t.true(forwardsOverlap(f('127.0.0.1:8080:80'), f('127.0.0.1:8080:81')));
  t.false(forwardsOverlap(f('127.0.0.1:8080:80'), f('10.0.0.1:8080:80')));
  t.false(forwardsOverlap(f('8080:80'), f('8080:80/udp')));
  t.false(forwardsOverlap(f('8080:80'), f('8081:80')));
});

test('egress rules', (t) => {
  t.deepEqual(parseEgressRule('allow tcp 10.0.0.3/32 80'), { proto: 'tcp', dest: '10.0.0.3', prefix: 32, ports: [80, 80] });
  t.deepEqual(parseEgressRule('allow udp 10.0.0.0/24 53-54'), { proto: 'udp', dest: '10.0.0.0', prefix: 24, ports: [53, 54] });
  t.deepEqual(parseEgressRule('allow icmp 10.1.2.3'), { proto: 'icmp', dest: '10.1.2.3', prefix: 32 });
  t.is(formatEgressRule(parseEgressRule('allow all 0.0.0.0/0')), 'allow all 0.0.0.0/0');
  // `allow all` alone allows everything, and reads back in the long form
  t.deepEqual(parseEgressRule(' allow  all '), { proto: 'all', dest: '0.0.0.0', prefix: 0 });
  t.is(formatEgressRule(parseEgressRule('allow all')), 'allow all 0.0.0.0/0');
  t.deepEqual(parseEgressRule('allow all 10.0.0.0/8'), { proto: 'all', dest: '10.0.0.0', prefix: 8 });
  t.regex(t.throws(() => parseEgressRule('allow'))!.message, /allow all/);
  for (const bad of ['deny tcp 1.2.3.4', 'allow sctp 1.2.3.4', 'allow tcp 1.2.3', 'allow tcp 1.2.3.4/33', 'allow icmp 1.2.3.4 80', 'allow tcp 1.2.3.4 90-80', 'allow tcp', 'allow tcp 1.2.3.4 1 2', 'allow', 'allow tcp all', 'allow all 1.2.3.4 80']) {
    t.throws(() => parseEgressRule(bad), { instanceOf: BadRequest }, bad);
  }
});

test('rates', (t) => {
  t.deepEqual(parseRate('1mbit 64k'), { rate: '1mbit', burst: '64k' });
  t.is(parseRate('max'), 'max');
  for (const bad of ['', 'fast', '1mbit', '0mbit 64k', '1 mile', '1mbit 64k extra']) t.throws(() => parseRate(bad), { instanceOf: BadRequest }, bad);
  t.deepEqual(tableLines('a\n\n  b  \n# c\n'), ['a', 'b']);
});
