/**
 * What a container is created with (docs/interface.md §4, `create`): its limits
 * (./limits.ts) plus its network settings, the network mode and the seccomp mode. Parsed by
 * ctl/messages.ts, taken by core/. Types only: no I/O.
 */
import type { Limits } from './limits.js';
import type { PortForward, EgressRule, Rate } from './net.js';
import type { Rlimits } from './rlimits.js';
import type { BindMount } from './mounts.js';

/** Limits and network settings a container takes at create time or through its files, parsed (ctl/). */
export interface Settings extends Limits {
  ports?: PortForward[];
  rules?: EgressRule[];
  rate?: Rate | 'max';
  /** Bind mounts from the host (`mount=`, containers/NAME/mounts). */
  mounts?: BindMount[];
  /** The size of the container's own layer, in bytes (`disk.max`; absent or 'max': none). */
  'disk.max'?: number | 'max';
}
export type SettingKey = keyof Settings;

export type NetMode = 'bridge' | 'none';

/** `seccomp=`: the default profile (src/drivers/runtime/seccomp.ts) or none. */
export type SeccompMode = 'default' | 'unconfined';

export interface CreateOptions {
  image?: string;
  net?: NetMode;
  seccomp?: SeccompMode;
  /** `privileged=true`: no user namespace, the container's root is the host's root. */
  privileged?: boolean;
  env: string[];
  settings: Settings;
  /** `prop.KEY=VALUE` (a later one for a key wins). */
  properties?: Record<string, string>;
  /** `grace=`: seconds, or none. */
  grace?: number;
  /** `rlimit.NAME=`: the default rlimits of every process run in it (absent: none given). */
  rlimits?: Rlimits;
  /**
   * Join the network, IPC and UTS namespaces of this container (and its user namespace, so
   * its id range and its privilege) instead of having its own: a CRI container in its pod
   * (docs/cri.md). `net`, `ports`, `rules`, `rate` and `privileged` are then the pod's.
   */
  joins?: string;
  /** The hostname when not the container's name (a CRI pod's); checked by the caller (isValidHostname). */
  hostname?: string;
}
