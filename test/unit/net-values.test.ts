import test from 'ava';
import { parsePortForward, parseEgressRule, parseRate, formatEgressRule, formatPortForward, tableLines } from '../../src/ctl/net-values.js';
import { ValueError } from '../../src/ctl/values.js';

test('port forwards', (t) => {
  t.deepEqual(parsePortForward('8080:80'), { hostPort: 8080, containerPort: 80, proto: 'tcp' });
  t.deepEqual(parsePortForward(' 5353:53/udp '), { hostPort: 5353, containerPort: 53, proto: 'udp' });
  t.is(formatPortForward(parsePortForward('1:2')), '1:2/tcp');
  for (const bad of ['', '80', '0:80', '80:70000', '80:80/sctp', 'a:b', '80:80/']) t.throws(() => parsePortForward(bad), { instanceOf: ValueError }, bad);
});

test('egress rules', (t) => {
  t.deepEqual(parseEgressRule('allow tcp 10.0.0.3/32 80'), { proto: 'tcp', dest: '10.0.0.3', prefix: 32, ports: [80, 80] });
  t.deepEqual(parseEgressRule('allow udp 10.0.0.0/24 53-54'), { proto: 'udp', dest: '10.0.0.0', prefix: 24, ports: [53, 54] });
  t.deepEqual(parseEgressRule('allow icmp 10.1.2.3'), { proto: 'icmp', dest: '10.1.2.3', prefix: 32 });
  t.is(formatEgressRule(parseEgressRule('allow all 0.0.0.0/0')), 'allow all 0.0.0.0/0');
  for (const bad of ['deny tcp 1.2.3.4', 'allow sctp 1.2.3.4', 'allow tcp 1.2.3', 'allow tcp 1.2.3.4/33', 'allow icmp 1.2.3.4 80', 'allow tcp 1.2.3.4 90-80', 'allow tcp', 'allow tcp 1.2.3.4 1 2']) {
    t.throws(() => parseEgressRule(bad), { instanceOf: ValueError }, bad);
  }
});

test('rates', (t) => {
  t.deepEqual(parseRate('1mbit 64k'), { rate: '1mbit', burst: '64k' });
  t.is(parseRate('max'), 'max');
  for (const bad of ['', 'fast', '1mbit', '0mbit 64k', '1 mile', '1mbit 64k extra']) t.throws(() => parseRate(bad), { instanceOf: ValueError }, bad);
  t.deepEqual(tableLines('a\n\n  b  \n# c\n'), ['a', 'b']);
});
