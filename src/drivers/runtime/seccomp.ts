/**
 * The default seccomp profile of every container (issue 11 item 7), as data: the
 * system calls that Docker's, Podman's and containerd's default profile refuses to a
 * container without the matching capability, grouped with the reason they are refused.
 * Written by us from the kernel's documentation of each call; no runtime's file is copied.
 *
 * Shape: a deny-list. Everything not named here is allowed (defaultAction ALLOW) and
 * each named call fails with EPERM, as Docker answers (errnoRet 1); clone3 answers
 * ENOSYS so that the C library falls back to clone, whose flags a filter can see.
 * Why not the field's allow-list: its effect on the calls that matter is the same (the
 * calls below are exactly those it leaves out for a container without CAP_SYS_ADMIN,
 * CAP_SYS_MODULE, CAP_SYS_TIME …), each refusal here is named with its reason and can be
 * reviewed in one screen, and a program using a call newer than the list keeps working.
 * The price: a call added to a future kernel is allowed until it is listed here; the
 * kernel still checks capabilities, and the container has neither CAP_SYS_ADMIN nor a
 * host root (user namespace) unless created privileged.
 *
 * Pure: builds the OCI `linux.seccomp` object.
 */

/** Seccomp comparisons in the OCI spec; MASKED_EQ holds when (arg & value) == valueTwo. */
interface Arg { index: number; value: number; valueTwo?: number; op: 'SCMP_CMP_MASKED_EQ' | 'SCMP_CMP_NE' | 'SCMP_CMP_EQ' }

export interface SeccompGroup {
  /** Why these calls are refused. */
  reason: string;
  names: string[];
  /** When present: the call is refused only when every comparison holds (AND). */
  args?: Arg[];
  /** The errno returned; EPERM (1) unless said. */
  errno?: number;
}

const EPERM = 1;
const ENOSYS = 38;

/** Namespace flags of clone(2)/unshare(2): NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET. */
const CLONE_NS_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];

/** personality(2) flags that weaken the process's own protections (no ASLR, executable data, page 0). */
const UNSAFE_PERSONALITY = [
  0x0040000, // ADDR_NO_RANDOMIZE
  0x0100000, // MMAP_PAGE_ZERO
  0x0200000, // ADDR_COMPAT_LAYOUT
  0x0400000, // READ_IMPLIES_EXEC
];

export const DEFAULT_PROFILE: SeccompGroup[] = [
  {
    reason: 'kernel keyrings are not namespaced: a container could read or plant keys of the host\'s users',
    names: ['keyctl', 'add_key', 'request_key'],
  },
  {
    reason: 'eBPF, perf and userfaultfd: large kernel attack surface, and perf observes the whole host',
    names: ['bpf', 'perf_event_open', 'userfaultfd'],
  },
  {
    reason: 'io_uring: a second way into most of the kernel whose calls this filter never sees (each ring op bypasses seccomp), and a frequent source of kernel bugs; Docker\'s default refuses it too',
    names: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'],
  },
  {
    reason: 'loading or replacing kernel code (CAP_SYS_MODULE, CAP_SYS_BOOT)',
    names: ['kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'create_module', 'get_kernel_syms', 'query_module'],
  },
  {
    reason: 'new namespaces: a user namespace gives the caller every capability inside it, the way to the kernel\'s CAP_SYS_ADMIN-only code (CAP_SYS_ADMIN); setns joins namespaces the container was not given',
    names: ['unshare', 'setns'],
  },
  ...CLONE_NS_FLAGS.map((flag) => ({
    reason: 'clone(2) of a new namespace (the same reason as unshare); clone without these flags (threads, fork) is allowed',
    names: ['clone'],
    args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' as const }],
  })),
  {
    reason: 'clone3 passes its flags in memory, where a filter cannot see them: ENOSYS makes the C library fall back to clone',
    names: ['clone3'],
    errno: ENOSYS,
  },
  {
    reason: 'mounts and the root of the file system (CAP_SYS_ADMIN), the old and the new mount API alike',
    names: ['mount', 'umount', 'umount2', 'pivot_root', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr'],
  },
  {
    reason: 'the host itself: reboot, swap, process accounting, quotas, the kernel log (CAP_SYS_BOOT, CAP_SYS_ADMIN, CAP_SYS_PACCT, CAP_SYSLOG)',
    names: ['reboot', 'swapon', 'swapoff', 'acct', 'quotactl', 'quotactl_fd', 'syslog', 'vhangup'],
  },
  {
    reason: 'the host\'s clock is shared by every container (CAP_SYS_TIME)',
    names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  },
  {
    reason: 'file handles open any inode of a file system by number, around the container\'s root (the "shocker" escape; CAP_DAC_READ_SEARCH)',
    names: ['open_by_handle_at', 'name_to_handle_at'],
  },
  {
    reason: 'direct hardware and port access (CAP_SYS_RAWIO)',
    names: ['iopl', 'ioperm'],
  },
  {
    reason: 'NUMA memory policy of the host\'s memory (CAP_SYS_NICE)',
    names: ['mbind', 'set_mempolicy', 'get_mempolicy', 'move_pages', 'set_mempolicy_home_node'],
  },
  {
    reason: 'obsolete calls with a history of bugs and no use in a container',
    names: ['lookup_dcookie', 'nfsservctl', 'vm86', 'vm86old', 'uselib', 'ustat', 'sysfs', '_sysctl', 'fanotify_init'],
  },
  ...UNSAFE_PERSONALITY.map((flag) => ({
    reason: 'personality(2) that switches off ASLR or makes data executable; querying (0xffffffff) and the ordinary personalities stay allowed',
    names: ['personality'],
    // One comparison per rule (runc ORs several on one argument): the flag set and bit 31
    // clear, which no personality has and the query 0xffffffff has.
    args: [{ index: 0, value: flag + 0x80000000, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' as const }],
  })),
];

/** libseccomp's names of the architectures a container of this host may run code for. */
export function seccompArchitectures(arch: string = process.arch): string[] {
  switch (arch) {
    case 'x64': return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64': return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    default: return [];
  }
}

/** The OCI `linux.seccomp` object of the default profile. */
export function seccompSpec(profile: SeccompGroup[] = DEFAULT_PROFILE, arch: string = process.arch): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: seccompArchitectures(arch),
    syscalls: profile.map((g) => ({
      names: g.names,
      action: 'SCMP_ACT_ERRNO',
      errnoRet: g.errno ?? EPERM,
      ...(g.args ? { args: g.args } : {}),
    })),
  };
}
