/**
 * The records the domain keeps: a container's (container.json), a process's (meta.json),
 * what a `run` asks for, and the host id range of a user namespace. Types only; how they
 * go to and from disk is core's (core/record.ts, core/processes.ts).
 */
import type { NetMode, SeccompMode, Settings } from './settings.js';
import type { ImageConfig } from './image.js';
import type { Rlimits } from './rlimits.js';

/** A container's properties (`prop.KEY=VALUE`, containers/NAME/properties): key → value, by key. */
export type Properties = Record<string, string>;

/** A container's user namespace: its ids 0…size-1 are the host's base…base+size-1. */
export interface IdRange { base: number; size: number }

export interface ContainerRecord {
  name: string;
  image: string;
  net: NetMode;
  env: string[];
  settings: Settings;
  created: string;
  cgroupsPath: string;
  /** The container's address on the bridge (net=bridge). */
  address?: string;
  /** The seccomp profile; a record without one (older) gets the default. */
  seccomp?: SeccompMode;
  /** The host ids of its user namespace; absent: privileged (its root is the host's root). */
  idmap?: IdRange;
  /** Its properties; a record without them (older) has none. */
  properties?: Properties;
  /** Its grace time in seconds (destroyed after that long unused); absent: none. */
  grace?: number;
  /**
   * The run configuration of its image as it was at create (Env, WorkingDir, User,
   * Entrypoint, Cmd …): kept here so that it holds even if the image is removed or
   * replaced by another of the same name. Absent: none (the image has none, or an older record).
   */
  imageConfig?: ImageConfig;
  /** `create rlimit.NAME=`: the default rlimits of its processes (absent: none, or an older record). */
  rlimits?: Rlimits;
  /**
   * The container whose network, IPC and UTS namespaces (and user namespace: its id range) it
   * joins, as a CRI container joins its pod sandbox (docs/cri.md); absent: its own.
   */
  joins?: string;
  /** Its hostname (UTS namespace) when not its name: a CRI pod's `hostname` (docs/cri.md). */
  hostname?: string;
}

/** What a process was started as (procs/ID/meta.json). */
export interface ProcMeta {
  id: string;
  argv: string[];
  uuid: string;
  started: string;
  /** The process has a terminal (`run tty=1`): its output is conmon's terminal log, its stdin the attach socket. */
  tty?: boolean;
}

/** `user=`: a name or number, and optionally a group (names are looked up in the container's files). */
export interface User { user: number | string; group?: number | string }

/** What a `run` asks for. */
export interface RunOptions {
  id?: string;
  dir?: string;
  user?: User;
  env: string[];
  /** `rlimit.NAME=`: over the container's defaults (absent: none given). */
  rlimits?: Rlimits;
  /** The program and arguments; empty: the image's Entrypoint and Cmd. */
  argv: string[];
  /** `entrypoint=`: replaces the image's Entrypoint ('' clears it); with it, the image's Cmd is not used either (Docker's rule). */
  entrypoint?: string;
  /** `tty=1 [rows=R] [cols=C]`: a pseudo-terminal of that size (docs/processes.md, Terminals). */
  tty?: TermSize;
}

/** A terminal's size (`procs/NAME/ID/winsize`, `ROWS COLS`). */
export interface TermSize { rows: number; cols: number }
