/** create's confinement options (seccomp=, privileged=) and the seccomp profile's shape (issue 11 item 7). */
import test from 'ava';
import { parseGlobal, GLOBAL_USAGE } from '../../src/ctl/messages.js';
import { parseBool } from '../../src/ctl/values.js';
import { BadRequest } from '../../src/errors.js';
import { DEFAULT_PROFILE, seccompSpec } from '../../src/drivers/runtime/seccomp.js';

test('create takes seccomp=default|unconfined and privileged=true|false', (t) => {
  t.deepEqual(parseGlobal('create web seccomp=unconfined privileged=true'), {
    verb: 'create', name: 'web', options: { env: [], settings: {}, seccomp: 'unconfined', privileged: true },
  });
  t.deepEqual(parseGlobal('create seccomp=default privileged=false'), {
    verb: 'create', options: { env: [], settings: {}, seccomp: 'default', privileged: false },
  });
  t.throws(() => parseGlobal('create web seccomp=off'), { instanceOf: BadRequest, message: 'bad seccomp "off": want default or unconfined' });
  t.throws(() => parseGlobal('create web privileged=yes'), { instanceOf: BadRequest, message: 'bad privileged "yes": want true or false' });
  t.regex(GLOBAL_USAGE, /seccomp privileged/);
});

test('parseBool', (t) => {
  t.true(parseBool('true', 'x'));
  t.false(parseBool('false', 'x'));
  t.throws(() => parseBool('1', 'x'), { instanceOf: BadRequest });
});

test('the default profile refuses the field\'s standard calls with EPERM, clone3 with ENOSYS', (t) => {
  const spec = seccompSpec(DEFAULT_PROFILE, 'x64') as { defaultAction: string; architectures: string[]; syscalls: { names: string[]; errnoRet: number; args?: unknown[] }[] };
  t.is(spec.defaultAction, 'SCMP_ACT_ALLOW');
  t.deepEqual(spec.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  const unconditional = new Map<string, number>();
  for (const r of spec.syscalls) if (!r.args) for (const n of r.names) unconditional.set(n, r.errnoRet);
  for (const n of ['keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'userfaultfd', 'kexec_load', 'kexec_file_load',
    'init_module', 'finit_module', 'delete_module', 'unshare', 'setns', 'mount', 'umount2', 'pivot_root', 'reboot', 'swapon', 'swapoff',
    'settimeofday', 'clock_settime', 'acct', 'quotactl', 'lookup_dcookie', 'open_by_handle_at', 'iopl', 'ioperm', 'syslog', 'vm86', 'nfsservctl']) {
    t.is(unconditional.get(n), 1, n);
  }
  t.is(unconditional.get('clone3'), 38);
  const clone = spec.syscalls.filter((r) => r.names.includes('clone'));
  t.true(clone.some((r) => JSON.stringify(r.args).includes(String(0x10000000))), 'clone with CLONE_NEWUSER');
  t.false(unconditional.has('clone'));
  t.false(unconditional.has('personality'));
  t.false(unconditional.has('ptrace'));
});

test('id ranges: one per container, 65536 ids in [2^30, 2^31), the tree\'s start first, never twice', async (t) => {
  const { allocateRange, FIRST_ID, RANGE_SIZE } = await import('../../src/drivers/rootfs/idrange.js');
  const a = allocateRange('00000000abcd', new Set());
  t.deepEqual(a, { base: FIRST_ID, size: RANGE_SIZE });
  const b = allocateRange('00000000abcd', new Set([a.base]));
  t.is(b.base, FIRST_ID + RANGE_SIZE);
  const other = allocateRange('7fffffffabcd', new Set());
  t.not(other.base, a.base);
  t.true(other.base + RANGE_SIZE <= 2 ** 31);
  const last = allocateRange('00003fffabcd', new Set()); // slot 16383, the last: the next wraps to the first
  t.is(last.base, 2 ** 31 - RANGE_SIZE);
  t.is(allocateRange('00003fffabcd', new Set([last.base])).base, FIRST_ID);
});

test('id range claims: one owner per range host-wide; stale claims are taken over, fresh ones never', async (t) => {
  const { IdClaims } = await import('../../src/drivers/rootfs/idclaims.js');
  const { mkdtemp, rm, utimes, mkdir } = await import('node:fs/promises');
  const os = await import('node:os');
  const dir = await mkdtemp(`${os.tmpdir()}/wfs-claims-`);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const claims = new IdClaims(`${dir}/claims`);
  const a = `${dir}/a`;
  const b = `${dir}/b`;
  await mkdir(a);
  t.true(await claims.claim(1000, a));
  t.true(await claims.claim(1000, a)); // again: already a's
  t.false(await claims.claim(1000, b)); // a holds it and exists
  await rm(a, { recursive: true });
  t.false(await claims.claim(1000, b)); // a is gone, but the claim is fresh
  await utimes(`${dir}/claims/1000`, new Date(0), new Date(0));
  t.true(await claims.claim(1000, b)); // stale: taken over
  await claims.release(a, 1000);
  t.false(await claims.claim(1000, a)); // releasing someone else's claim does nothing
  await claims.release(b);
  t.true(await claims.claim(1000, a));
});

test('the OCI spec: user namespace and mappings with an id range, none when privileged; seccomp unless unconfined; no caps for run user=UID', async (t) => {
  const { buildSpec, buildProcessSpec } = await import('../../src/drivers/runtime/spec.js');
  const base = { hostname: 'h', rootfs: '/r', initBinary: '/i', cgroupsPath: '/c', env: [], settings: {} };
  type Spec = { linux: { namespaces: { type: string }[]; uidMappings?: unknown; gidMappings?: unknown; seccomp?: unknown; sysctl: Record<string, string> } };
  const userns = buildSpec({ ...base, seccomp: true, idmap: { base: 2 ** 30, size: 65536 } }) as unknown as Spec;
  t.true(userns.linux.namespaces.some((n) => n.type === 'user'));
  t.deepEqual(userns.linux.uidMappings, [{ containerID: 0, hostID: 2 ** 30, size: 65536 }]);
  t.deepEqual(userns.linux.gidMappings, userns.linux.uidMappings);
  t.is(userns.linux.sysctl['net.ipv4.ping_group_range'], '0 65535');
  t.is(userns.linux.sysctl['net.ipv4.ip_unprivileged_port_start'], '0');
  t.truthy(userns.linux.seccomp);
  const priv = buildSpec({ ...base, seccomp: false, netnsPath: '/run/netns/x' }) as unknown as Spec;
  t.false(priv.linux.namespaces.some((n) => n.type === 'user'));
  t.is(priv.linux.uidMappings, undefined);
  t.is(priv.linux.seccomp, undefined);
  type Proc = { capabilities: Record<string, string[]> };
  const user = buildProcessSpec({ argv: ['id'], env: [], user: { uid: 1000, gid: 1000 } }) as unknown as Proc;
  for (const set of ['effective', 'permitted', 'inheritable', 'ambient']) t.deepEqual(user.capabilities[set], [], set);
  t.true(user.capabilities.bounding!.length > 0);
  const root = buildProcessSpec({ argv: ['id'], env: [] }) as unknown as Proc;
  t.true(root.capabilities.effective!.includes('CAP_CHOWN'));
  t.deepEqual(root.capabilities.inheritable, []);
});
