/** rlimit.NAME=: parsing (ctl/), the record (core/record.ts), the OCI process spec and the host's ceiling (drivers/runtime). */
import test from 'ava';
import { parseRlimit, parseRlimitName } from '../../src/ctl/values.js';
import { parseContainer, parseGlobal } from '../../src/ctl/messages.js';
import { encodeRecord, decodeRecord, type RecordFile } from '../../src/core/record.js';
import { buildProcessSpec, specJson } from '../../src/drivers/runtime/spec.js';
import { checkRlimits, parseProcLimits, type RlimitCeiling } from '../../src/drivers/runtime/rlimits.js';
import { formatRlimit, mergeRlimits } from '../../src/model/rlimits.js';
import { BadRequest } from '../../src/errors.js';

test('values: N is soft and hard, SOFT:HARD, unlimited on either side', (t) => {
  t.deepEqual(parseRlimit('nofile', '1024'), { soft: 1024, hard: 1024 });
  t.deepEqual(parseRlimit('nofile', '512:4096'), { soft: 512, hard: 4096 });
  t.deepEqual(parseRlimit('core', 'unlimited'), { soft: 'unlimited', hard: 'unlimited' });
  t.deepEqual(parseRlimit('fsize', '0:unlimited'), { soft: 0, hard: 'unlimited' });
  t.deepEqual(parseRlimit('as', String(Number.MAX_SAFE_INTEGER)), { soft: Number.MAX_SAFE_INTEGER, hard: Number.MAX_SAFE_INTEGER });
});

test('refused values say why', (t) => {
  const why = (name: 'nofile' | 'as', v: string) => t.throws(() => parseRlimit(name, v), { instanceOf: BadRequest })!.message;
  t.is(why('nofile', '4096:1024'), 'bad rlimit.nofile "4096:1024": the soft limit 4096 is above the hard limit 1024');
  t.is(why('nofile', 'unlimited:1024'), 'bad rlimit.nofile "unlimited:1024": the soft limit unlimited is above the hard limit 1024');
  t.is(why('nofile', 'lots'), 'bad rlimit.nofile "lots": want a number (at most 9007199254740991), unlimited or SOFT:HARD');
  t.is(why('nofile', ''), 'bad rlimit.nofile "": want a number (at most 9007199254740991), unlimited or SOFT:HARD');
  t.is(why('nofile', '-1'), 'bad rlimit.nofile "-1": want a number (at most 9007199254740991), unlimited or SOFT:HARD');
  t.is(why('nofile', '1:2:3'), 'bad rlimit.nofile "1:2:3": want a number, unlimited or SOFT:HARD');
  t.is(why('as', '18446744073709551615'), 'bad rlimit.as "18446744073709551615": want a number (at most 9007199254740991), unlimited or SOFT:HARD');
  t.is(t.throws(() => parseRlimitName('NOFILE'))!.message, 'unknown rlimit "NOFILE": want one of as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack');
});

test('run and create take rlimit.NAME=; a later one of a name wins', (t) => {
  t.deepEqual(parseContainer('run rlimit.nofile=64 rlimit.nproc=10:20 rlimit.nofile=128 -- ulimit -n'), {
    verb: 'run', env: [], rlimits: { nofile: { soft: 128, hard: 128 }, nproc: { soft: 10, hard: 20 } }, argv: ['ulimit', '-n'],
  });
  t.deepEqual(parseGlobal('create web rlimit.core=0'), {
    verb: 'create', name: 'web', options: { env: [], settings: {}, rlimits: { core: { soft: 0, hard: 0 } } },
  });
  // After the program, rlimit.X= is an argument.
  t.deepEqual(parseContainer('run echo rlimit.nofile=1'), { verb: 'run', env: [], argv: ['echo', 'rlimit.nofile=1'] });
  t.throws(() => parseContainer('run rlimit.files=1 true'), { instanceOf: BadRequest, message: /^unknown rlimit "files"/ });
  t.throws(() => parseGlobal('create rlimit.nofile=2:1'), { instanceOf: BadRequest, message: /soft limit 2 is above the hard limit 1/ });
});

test("a run's limit replaces the container's, both halves; canonical text reads back", (t) => {
  t.deepEqual(mergeRlimits({ nofile: { soft: 1, hard: 2 }, core: { soft: 0, hard: 0 } }, { nofile: { soft: 5, hard: 5 } }),
    { nofile: { soft: 5, hard: 5 }, core: { soft: 0, hard: 0 } });
  t.deepEqual(mergeRlimits(undefined, undefined), {});
  for (const text of ['1024', '512:4096', 'unlimited', '0:unlimited']) t.is(formatRlimit(parseRlimit('nofile', text)), text);
});

test('container.json keeps the defaults as canonical text, and reads them back', (t) => {
  const file: RecordFile = {
    name: 'web', image: 'busybox', net: 'none', env: [], settings: {}, created: '2026-11-30T03:00:00Z', cgroupsPath: '/w/x/web',
    rlimits: { nofile: '512:4096', stack: 'unlimited' },
  };
  const r = decodeRecord(file);
  t.deepEqual(r.rlimits, { nofile: { soft: 512, hard: 4096 }, stack: { soft: 'unlimited', hard: 'unlimited' } });
  t.deepEqual(JSON.parse(encodeRecord(r)), file);
  // A record without rlimits (an earlier daemon's) stays without.
  const { rlimits: _r, ...older } = file;
  t.false('rlimits' in decodeRecord(older));
  t.false('rlimits' in JSON.parse(encodeRecord(decodeRecord(older))));
  t.throws(() => decodeRecord({ ...file, rlimits: { nofile: '9:1' } }), { instanceOf: BadRequest });
});

test('the process spec carries RLIMIT_* with unlimited as the exact uint64 2^64-1', (t) => {
  const spec = buildProcessSpec({ argv: ['true'], env: [], rlimits: { nofile: { soft: 512, hard: 4096 }, core: { soft: 0, hard: 'unlimited' } } });
  const json = specJson(spec);
  t.regex(json, /"rlimits":\[\{"type":"RLIMIT_NOFILE","soft":512,"hard":4096\},\{"type":"RLIMIT_CORE","soft":0,"hard":18446744073709551615\}\]/);
  // Everything else is plain JSON; a string that looks like the marker stays a string.
  const odd = specJson({ args: ['@u64-00:1'], n: 5n });
  t.is(odd, '{"args":["@u64-00:1"],"n":5}');
  t.false('rlimits' in buildProcessSpec({ argv: ['true'], env: [] }));
  t.false('rlimits' in buildProcessSpec({ argv: ['true'], env: [], rlimits: {} }));
});

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max data size             unlimited            unlimited            bytes     
Max stack size            8388608              unlimited            bytes     
Max core file size        0                    unlimited            bytes     
Max resident set          unlimited            unlimited            bytes     
Max processes             96365                96365                processes 
Max open files            1024                 20000                files     
Max locked memory         8388608              8388608              bytes     
Max address space         unlimited            unlimited            bytes     
Max file locks            unlimited            unlimited            locks     
Max pending signals       96365                96365                signals   
Max msgqueue size         819200               819200               bytes     
Max nice priority         0                    0                    
Max realtime priority     0                    0                    
Max realtime timeout      unlimited            unlimited            us        
`;

test('/proc/self/limits: the hard limits by name', (t) => {
  const h = parseProcLimits(LIMITS);
  t.is(h.nofile, 20000);
  t.is(h.stack, 'unlimited');
  t.is(h.nproc, 96365);
  t.is(h.nice, 0);
  t.is(h.rttime, 'unlimited');
  t.is(Object.keys(h).length, 16);
});

test("the host's ceiling: fs.nr_open, a few descriptors at least, the daemon's own hard limits without CAP_SYS_RESOURCE", (t) => {
  const host: RlimitCeiling = { nrOpen: 1048576, hard: parseProcLimits(LIMITS), canRaise: false };
  const msg = (r: Parameters<typeof checkRlimits>[0], h = host) => t.throws(() => checkRlimits(r, h), { instanceOf: BadRequest })!.message;
  t.is(msg({ nofile: { soft: 10, hard: 'unlimited' } }), 'bad rlimit.nofile: the hard limit unlimited is above what the host allows (1048576, fs.nr_open)');
  t.is(msg({ nofile: { soft: 10, hard: 2000000 } }, { ...host, canRaise: true }), 'bad rlimit.nofile: the hard limit 2000000 is above what the host allows (1048576, fs.nr_open)');
  t.is(msg({ nofile: { soft: 4, hard: 100 } }), 'bad rlimit.nofile: a soft limit of 4 is too few to start a process (at least 16)');
  t.is(msg({ nofile: { soft: 100, hard: 20001 } }), "bad rlimit.nofile: the hard limit 20001 is above the daemon's own (20000), which it cannot raise without CAP_SYS_RESOURCE");
  t.is(msg({ nproc: { soft: 1, hard: 'unlimited' } }), "bad rlimit.nproc: the hard limit unlimited is above the daemon's own (96365), which it cannot raise without CAP_SYS_RESOURCE");
  t.notThrows(() => checkRlimits({ nofile: { soft: 100, hard: 20000 }, stack: { soft: 'unlimited', hard: 'unlimited' }, nproc: { soft: 1, hard: 1 } }, host));
  t.notThrows(() => checkRlimits({ nofile: { soft: 100, hard: 500000 }, nproc: { soft: 'unlimited', hard: 'unlimited' } }, { ...host, canRaise: true }));
  t.notThrows(() => checkRlimits({}, host));
});
