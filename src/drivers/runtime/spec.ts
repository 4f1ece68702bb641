/**
 * The OCI runtime spec (config.json) of a container's bundle. Pure: builds an object.
 *
 * The container's pid 1 is an idle init that reaps zombies (Debian's static catatonit
 * in pause mode), bind-mounted read-only from the host into the container's /dev tmpfs
 * so that nothing is written into the container's own layer. Processes are added later
 * with the runtime's exec, so they join exactly these namespaces and this cgroup.
 */
import { randomBytes } from 'node:crypto';
import type { Limits } from '../../model/limits.js';
import type { Rlimits, RlimitValue } from '../../model/rlimits.js';
import { seccompSpec } from './seccomp.js';
import type { IdRange } from '../rootfs/idrange.js';

export type { IdRange };

export const INIT_IN_CONTAINER = '/dev/.init';

/**
 * Docker's default capability set less CAP_NET_RAW: enough for ordinary programs, not
 * enough to touch limits or the network config. Raw sockets would bypass the egress
 * filter and the rate limit that live in the container's network namespace (packet
 * sockets). ICMP datagram sockets work without it (net.ipv4.ping_group_range below), so a
 * ping that uses them does; busybox's ping opens raw sockets only (docs/network.md, Ping).
 */
const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SpecInput {
  hostname: string;
  rootfs: string;
  initBinary: string;
  cgroupsPath: string;
  env: string[];
  /** The cgroup limits (a container's Settings carry them). */
  settings: Limits;
  /**
   * A network namespace made beforehand (network issue); a new one with loopback alone when
   * absent. A container in a user namespace always gets a new one, owned by its user
   * namespace (runc 1.1 exec joins the user namespace first, and then may not join a netns
   * the host owns); the daemon attaches and configures it after the start.
   */
  netnsPath?: string;
  /** The default seccomp profile (true) or none (`seccomp=unconfined`). */
  seccomp: boolean;
  /** The host ids of the container's ids 0…size-1 (a user namespace); absent: privileged, no user namespace. */
  idmap?: IdRange;
  /**
   * The init pid of a container whose user (when `idmap`: the same range), network, IPC and
   * UTS namespaces this one joins (a CRI container in its pod, docs/cri.md). Then no hostname
   * (the UTS namespace is the pod's: runc would set the pod's) and no network sysctls (the
   * pod's netns has them already).
   */
  joinPid?: number;
}

/**
 * cgroup v2 cpu.weight ⇄ v1 cpu.shares. runc converts shares to weight as
 * 1 + ⌊(shares − 2) · 9999 / 262142⌋; the inverse rounds up, so that a weight written
 * reads back unchanged.
 */
export function weightToShares(weight: number): number {
  return 2 + Math.ceil(((weight - 1) * 262142) / 9999);
}

export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

export function resourcesOf(s: Limits): Record<string, unknown> {
  const r: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  if (s['memory.max'] !== undefined) r.memory = { limit: s['memory.max'] === 'max' ? -1 : s['memory.max'] };
  const cpu: Record<string, number> = {};
  if (s['cpu.max'] !== undefined) {
    cpu.quota = s['cpu.max'].quota === 'max' ? -1 : s['cpu.max'].quota;
    cpu.period = s['cpu.max'].period;
  }
  // cpu.weight defaults to 100 (docs/interface.md §5.6); v1's default of 1024 shares would read back as 39.
  cpu.shares = weightToShares(s['cpu.weight'] ?? 100);
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (s['pids.max'] !== undefined) r.pids = { limit: s['pids.max'] === 'max' ? -1 : s['pids.max'] };
  return r;
}

/** Merge env lists: later entries win, keyed by the name before '='. */
export function mergeEnv(...lists: string[][]): string[] {
  const byKey = new Map<string, string>();
  for (const list of lists) for (const e of list) byKey.set(e.slice(0, e.indexOf('=')), e);
  return [...byKey.values()];
}

/**
 * Sysctls of the container's network namespace: ping without CAP_NET_RAW (ICMP datagram
 * sockets for every group), and ports below 1024 for any user (as Docker sets by default:
 * in a user namespace, CAP_NET_BIND_SERVICE does not count in a netns the host owns).
 */
export const NETNS_SYSCTLS: Record<string, string> = {
  'net.ipv4.ping_group_range': '0 2147483647',
  'net.ipv4.ip_unprivileged_port_start': '0',
};

export function buildSpec(input: SpecInput): Record<string, unknown> {
  const caps = CAPABILITIES;
  const m = input.idmap;
  const mapping = m && [{ containerID: 0, hostID: m.base, size: m.size }];
  // In a user namespace the gids of ping_group_range are the container's (written by the
  // runtime from inside); the netns is the container's own (see lifecycle.ts).
  const sysctl = input.joinPid !== undefined ? {} : m ? { ...NETNS_SYSCTLS, 'net.ipv4.ping_group_range': `0 ${m.size - 1}` } : NETNS_SYSCTLS;
  const joined = (type: string, ns: string): Record<string, string> =>
    (input.joinPid !== undefined ? { type, path: `/proc/${input.joinPid}/ns/${ns}` } : { type });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [INIT_IN_CONTAINER, '-P'],
      env: mergeEnv([DEFAULT_PATH, 'TERM=xterm'], input.env),
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: false },
    ...(input.joinPid === undefined ? { hostname: input.hostname } : {}),
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: INIT_IN_CONTAINER, type: 'bind', source: input.initBinary, options: ['bind', 'ro', 'nosuid', 'nodev'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      // Read-only: a container process cannot raise its own limits (docs/interface.md §9).
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      cgroupsPath: input.cgroupsPath,
      sysctl,
      resources: resourcesOf(input.settings),
      ...(mapping ? { uidMappings: mapping, gidMappings: mapping } : {}),
      ...(input.seccomp ? { seccomp: seccompSpec() } : {}),
      namespaces: [
        ...(m ? [joined('user', 'user')] : []),
        { type: 'pid' },
        input.netnsPath && input.joinPid === undefined ? { type: 'network', path: input.netnsPath } : joined('network', 'net'),
        joined('ipc', 'ipc'),
        joined('uts', 'uts'),
        { type: 'mount' },
      ],
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

export interface ProcessInput {
  argv: string[];
  env: string[];
  cwd?: string;
  /** additionalGids: supplementary groups (from the container's /etc/group). */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  /** HOME, from the container's /etc/passwd (default: /root for uid 0, else /). */
  home?: string;
  /** USER, when the container's /etc/passwd names the user. */
  userName?: string;
  /** A pseudo-terminal of this size (the runtime makes it in the container's devpts and hands its master to conmon). */
  terminal?: { rows: number; cols: number };
  /** setrlimit(2) limits, set by the runtime before the program starts (absent names: inherited). */
  rlimits?: Rlimits;
}

/** RLIM_INFINITY as the runtime reads it: a uint64 that a JavaScript number cannot hold exactly. */
const RLIM_INFINITY = 2n ** 64n - 1n;

const rlimitNumber = (v: RlimitValue): number | bigint => (v === 'unlimited' ? RLIM_INFINITY : v);

/** The OCI `rlimits` of a process: `{ type: 'RLIMIT_NOFILE', soft, hard }`, unlimited as RLIM_INFINITY (a bigint: see specJson). */
export function rlimitsSpec(r: Rlimits): Array<{ type: string; soft: number | bigint; hard: number | bigint }> {
  return Object.entries(r).map(([name, l]) => ({ type: `RLIMIT_${name.toUpperCase()}`, soft: rlimitNumber(l.soft), hard: rlimitNumber(l.hard) }));
}

/**
 * A spec as JSON text, bigints written as their exact digits (JSON.stringify refuses them,
 * and a number would round 2^64-1 to a value the runtime's uint64 cannot take). Each bigint
 * becomes a marker string with a random part no value in the spec can contain by chance,
 * which is then replaced, quotes and all, by the digits.
 */
export function specJson(spec: unknown): string {
  const marker = `@u64-${randomBytes(12).toString('hex')}:`;
  const text = JSON.stringify(spec, (_k, v: unknown) => (typeof v === 'bigint' ? marker + v.toString() : v));
  return text.replace(new RegExp(`"${marker}(\\d+)"`, 'g'), '$1');
}

/**
 * The OCI `process` of a process added with the runtime's exec: root gets the init's
 * capabilities; any other user gets none (runc would otherwise give the listed sets to any
 * uid), only the bounding set, which an unprivileged process has too and which cannot be
 * used with no_new_privs. The seccomp profile is the container's: runc exec applies the
 * container's own (config.json), whatever the process spec says.
 */
export function buildProcessSpec(p: ProcessInput): Record<string, unknown> {
  const root = !p.user || p.user.uid === 0;
  const caps = root ? CAPABILITIES : [];
  const home = p.home ?? (root ? '/root' : '/');
  const user = p.user ? { uid: p.user.uid, gid: p.user.gid, ...(p.user.additionalGids?.length ? { additionalGids: p.user.additionalGids } : {}) } : { uid: 0, gid: 0 };
  return {
    terminal: p.terminal !== undefined,
    ...(p.terminal ? { consoleSize: { height: p.terminal.rows, width: p.terminal.cols } } : {}),
    user,
    args: p.argv,
    env: mergeEnv([DEFAULT_PATH, 'TERM=xterm', `HOME=${home}`, ...(p.userName ? [`USER=${p.userName}`] : [])], p.env),
    cwd: p.cwd ?? '/',
    capabilities: { bounding: CAPABILITIES, effective: caps, permitted: caps, inheritable: [], ambient: [] },
    noNewPrivileges: true,
    ...(p.rlimits && Object.keys(p.rlimits).length ? { rlimits: rlimitsSpec(p.rlimits) } : {}),
  };
}
