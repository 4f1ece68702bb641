/**
 * The verb tables (src/ctl/cmdtab.ts, src/ctl/messages.ts): the usage texts `cat ctl` shows,
 * the arity errors, multi-word verbs.
 */
import test from 'ava';
import {
  GLOBAL_USAGE, CONTAINER_USAGE, PROCESS_USAGE, QUOTING_USAGE, GLOBAL_CTL, CONTAINER_CTL, PROCESS_CTL,
  parseGlobal, parseContainer, parseProcess,
} from '../../src/ctl/messages.js';
import { BadRequest } from '../../src/errors.js';

test('the usage texts are the ones cat ctl has always shown', (t) => {
  t.is(GLOBAL_USAGE, [
    'create [NAME] [KEY=VALUE ...]   keys: image net env seccomp privileged grace prop.KEY mount memory.max cpu.max cpu.weight pids.max ports rules rate disk.max rlimit.NAME',
    '    ports=[HOSTIP:]HOSTPORT:PORT[/tcp|/udp]   rules=allow PROTO DEST[/PREFIX] [PORT[-PORT]] (PROTO tcp udp icmp all) or allow all',
    '    prop.KEY=VALUE (repeatable; looked up in by-property/)   grace=DURATION|none (90s 5m 1h30m: destroyed after that long with no process and no use)',
    '    mount=HOSTPATH:PATH[:ro|:rw] (repeatable; read-only unless :rw)   disk.max=SIZE (K M G, at least 300M) or max',
    '    rlimit.NAME=N|unlimited|SOFT:HARD   NAME: as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack',
    'destroy NAME',
    'image import NAME PATH',
    'image commit NEWNAME CONTAINER',
    'image remove NAME',
  ].join('\n') + '\n' + QUOTING_USAGE);
  t.is(CONTAINER_USAGE, [
    'run [id=ID] [dir=DIR] [user=USER[:GROUP]] [env=K=V ...] [rlimit.NAME=VALUE ...] [entrypoint=PROG] [tty=1 [rows=R] [cols=C]] [--] [PROGRAM [ARG ...]]',
    '    rlimit.NAME=N|unlimited|SOFT:HARD   NAME: as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack',
    'kill ID [SIGNAL]',
    'stop [SECONDS]',
    'destroy',
  ].join('\n') + '\n' + QUOTING_USAGE);
  t.is(PROCESS_USAGE, 'kill [SIGNAL]\nclosein\n');
});

test('every row: too few or too many words is its usage error', (t) => {
  const cases = [
    [GLOBAL_CTL, parseGlobal], [CONTAINER_CTL, parseContainer], [PROCESS_CTL, parseProcess],
  ] as const;
  for (const [tab, parse] of cases) {
    for (const r of tab.rows) {
      const usage = `usage: ${r.args === '' ? r.verb : `${r.verb} ${r.args}`}`;
      if (r.min > 0) t.throws(() => parse(`${r.verb} ${Array(r.min - 1).fill('x').join(' ')}`), { instanceOf: BadRequest, message: usage }, `${tab.file} ${r.verb}`);
      if (r.max !== Infinity) t.throws(() => parse(`${r.verb} ${Array(r.max + 1).fill('x').join(' ')}`), { instanceOf: BadRequest, message: usage }, `${tab.file} ${r.verb}`);
    }
  }
});

test('the exact arity and usage errors of before', (t) => {
  t.throws(() => parseContainer('kill'), { instanceOf: BadRequest, message: 'usage: kill ID [SIGNAL]' });
  t.throws(() => parseContainer('kill 1 TERM x'), { instanceOf: BadRequest, message: 'usage: kill ID [SIGNAL]' });
  t.throws(() => parseContainer('stop 1 2'), { instanceOf: BadRequest, message: 'usage: stop [SECONDS]' });
  t.throws(() => parseProcess('kill 1 2'), { instanceOf: BadRequest, message: 'usage: kill [SIGNAL]' });
  t.throws(() => parseProcess('closein now'), { instanceOf: BadRequest, message: 'usage: closein' });
  t.throws(() => parseGlobal("image import x ''"), { instanceOf: BadRequest, message: 'usage: image import NAME PATH' });
  t.throws(() => parseGlobal('image remove'), { instanceOf: BadRequest, message: 'usage: image remove NAME' });
  t.throws(() => parseGlobal('image'), { instanceOf: BadRequest, message: 'unknown message "image"' });
  t.throws(() => parseGlobal('imagex import a b'), { instanceOf: BadRequest, message: 'unknown message "imagex import a b"' });
  t.throws(() => parseContainer("run ''"), { instanceOf: BadRequest, message: /^usage: run \[id=ID\]/ });
  t.throws(() => parseContainer('create web'), { instanceOf: BadRequest, message: 'unknown message "create web"' });
});
