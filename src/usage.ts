/**
 * The command line's own documentation, in one place: `wardenfs --help`, `wardenfs COMMAND
 * --help` and the man page wardenfs(8) (scripts/manpage.ts, built into the Debian package) are
 * all made from these tables, so they cannot disagree.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_PIDS_MAX, DEFAULT_OUTPUT_CAP, DEFAULT_MAX_BLOCKED_READERS } from './core/warden.js';

export const DEFAULTS = {
  mountpoint: '/mnt/wardenfs',
  stateDir: '/var/lib/wardenfs',
  runtime: 'runc',
  subnet: '10.88.0.0/16',
};

export interface OptionHelp {
  /** The option as written, with its value: `--state-dir DIR`. */
  flag: string;
  text: string;
  /** A switch takes no value (`--allow-other`). */
  switch?: boolean;
}

export interface CommandHelp {
  name: string;
  /** Other names the command answers to. */
  aliases: string[];
  /** Usage lines after `wardenfs `; the first is the command's synopsis. */
  synopsis: string;
  summary: string;
  /** Paragraphs of `wardenfs COMMAND --help` and of the man page. */
  description: string[];
  options: OptionHelp[];
}

const STATE_DIR: OptionHelp = {
  flag: '--state-dir DIR',
  text: `the daemon's state: images, containers, runtime state (default ${DEFAULTS.stateDir}); it must be root's and not writable by group or others, all the way up`,
};

export const COMMANDS: CommandHelp[] = [
  {
    name: 'mount',
    aliases: [],
    synopsis: 'mount [MOUNTPOINT] [--state-dir DIR] [--runtime runc|crun|PATH] [--subnet CIDR]\n' +
      '      [--output-cap SIZE] [--max-blocked-readers N] [--default-pids-max N|max]\n' +
      '      [--allow-other] [--cri-socket PATH [--image-mirror DIR]]',
    summary: 'run the daemon in the foreground and serve the tree on MOUNTPOINT',
    description: [
      `Mounts the tree on MOUNTPOINT (default ${DEFAULTS.mountpoint}), taking up the images and containers recorded in the state dir, ` +
      'and prints "ready MOUNTPOINT" on stdout once the tree is usable (under systemd it also tells the service manager, Type=notify). ' +
      'Long steps (building the default image on first start) print progress on stderr.',
      'On SIGINT or SIGTERM it unmounts and exits 0; containers and their processes keep running, and a later mount with the same ' +
      'state dir takes them up again. When the tree is unmounted from outside, the daemon exits 0 within a second.',
    ],
    options: [
      STATE_DIR,
      { flag: '--runtime runc|crun|PATH', text: `the OCI runtime (default ${DEFAULTS.runtime})` },
      { flag: '--subnet CIDR', text: `the containers' addresses (default ${DEFAULTS.subnet})` },
      { flag: '--output-cap SIZE', text: `the most a process's stdout or stderr file keeps, like 64M (default ${DEFAULT_OUTPUT_CAP / 1024 / 1024}M)` },
      { flag: '--max-blocked-readers N', text: `how many reads may wait at once in the tree (default ${DEFAULT_MAX_BLOCKED_READERS})` },
      { flag: '--default-pids-max N|max', text: `pids.max of a container created without one (default ${DEFAULT_PIDS_MAX})` },
      { flag: '--cri-socket PATH', text: 'also serve the Kubernetes Container Runtime Interface (gRPC runtime.v1) on the unix socket PATH, from the same daemon: pods and containers kubelet makes are containers of the tree (docs/cri.md)' },
      { flag: '--image-mirror DIR', text: 'where CRI PullImage finds images: one OCI image layout per reference, DIR/docker.io/library/busybox:latest/ (with --cri-socket)' },
      { flag: '--allow-other', switch: true, text: 'let other host users enter the tree: the kernel checks permissions, the control side stays root\'s, rootfs/ shows host ids and acts with each caller\'s credentials (default: root only)' },
    ],
  },
  {
    name: 'unmount',
    aliases: ['umount'],
    synopsis: 'unmount MOUNTPOINT',
    summary: 'unmount a tree; its daemon then exits 0 and its containers keep running',
    description: ['Also clears a stale mount left by a daemon that was killed.'],
    options: [],
  },
  {
    name: 'reset',
    aliases: [],
    synopsis: 'reset [--state-dir DIR] [--runtime runc|crun|PATH]',
    summary: 'destroy every container of a state dir and empty it',
    description: [
      'Kills every container recorded in the state dir and removes everything that belongs to them (processes, overlay mounts, ' +
      'cgroups, network namespaces, interfaces, firewall rules), then empties the state dir. Refused while a daemon uses it.',
    ],
    options: [STATE_DIR, { flag: '--runtime runc|crun|PATH', text: `the runtime the daemon ran with (default ${DEFAULTS.runtime})` }],
  },
  {
    name: 'attach',
    aliases: [],
    synopsis: 'attach MOUNTPOINT/containers/NAME [ID]',
    summary: 'a terminal session on a process of a container, built on the tree\'s files',
    description: [
      'Follows process ID (without ID: the last running process with a terminal, run tty=1) from the current end of its ' +
      'output: its stdout goes to this terminal, what is typed goes to its stdin, and this terminal\'s size to its winsize ' +
      'at the start and at each resize. This terminal is in raw mode: every key, Ctrl-C included, goes to the process.',
      'Ctrl-] detaches: the process runs on, and the session exits 0 saying how to come back. Otherwise the session ends ' +
      'when the process does, with its exit status (128+N for a signal N). A process without a terminal can be attached ' +
      'too: its stdout and stderr from now on, this input to its stdin (closein at its end), no raw mode.',
    ],
    options: [],
  },
  {
    name: 'exec',
    aliases: [],
    synopsis: 'exec [-i] [-t] [-e K=V]... [-u USER[:GROUP]] [-w DIR] MOUNTPOINT/containers/NAME [--] PROGRAM [ARG ...]',
    summary: 'run a program in a container and stay with it, as attach does, from its start',
    description: [
      'Writes one run message to the container\'s ctl and follows the new process from its start; its exit status is the ' +
      'program\'s (128+N for a signal N), 0 after a detach (Ctrl-]), 1 when the run is refused (the error of the container\'s ' +
      'events on stderr).',
    ],
    options: [
      { flag: '-t', switch: true, text: 'a terminal (run tty=1 with the size of this terminal, 24x80 without one); implies -i' },
      { flag: '-i', switch: true, text: 'this input to the process\'s stdin; its end is closein (without -t)' },
      { flag: '-e K=V', text: 'an environment variable (env=); may repeat' },
      { flag: '-u USER[:GROUP]', text: 'the user, names looked up in the container (user=)' },
      { flag: '-w DIR', text: 'the working directory in the container (dir=)' },
    ],
  },
  {
    name: 'help',
    aliases: [],
    synopsis: 'help [COMMAND]',
    summary: 'print this usage, or the help of COMMAND (as COMMAND --help does)',
    description: [],
    options: [],
  },
];

export const EXIT_CODES: Array<[number, string]> = [
  [0, 'success; mount: the tree was unmounted (SIGINT, SIGTERM, unmount); attach and exec exit with the status of the process instead'],
  [1, 'the command failed: the message on stderr says why (a state dir that is not root\'s, a busy state dir, a failed mount)'],
  [2, 'a bad command line: the message and the usage on stderr'],
];

/** The command named `name` (or one of its aliases). */
export function findCommand(name: string): CommandHelp | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases.includes(name));
}

/** The version in the package's package.json (dist/src/usage.js is two levels below it). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function synopsisLines(c: CommandHelp): string[] {
  return c.synopsis.split('\n').map((l, i) => (i === 0 ? `  wardenfs ${l}` : `${' '.repeat('  wardenfs '.length + c.name.length + 1)}${l.trimStart()}`));
}

/** `wardenfs --help`: every command's synopsis, the defaults and the exit codes. */
export function usage(): string {
  return [
    'usage:',
    ...COMMANDS.flatMap(synopsisLines),
    '  wardenfs --version',
    `defaults: mountpoint ${DEFAULTS.mountpoint}, state dir ${DEFAULTS.stateDir}, runtime ${DEFAULTS.runtime}, subnet ${DEFAULTS.subnet},`,
    `          pids.max of a container created without one ${DEFAULT_PIDS_MAX}`,
    `exit status: ${EXIT_CODES.map(([n, t]) => `${n} ${t.split(/[:;]/)[0]}`).join(', ')}`,
    "'wardenfs COMMAND --help' tells more of each command; man 8 wardenfs",
    '',
  ].join('\n');
}

/** Words of `text` in lines of at most `width` columns, each after `indent` (the first after `first`). */
export function wrap(text: string, width: number, indent = '', first = indent): string[] {
  const lines: string[] = [];
  let line = first;
  let fresh = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!fresh && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent;
      fresh = true;
    }
    line += (fresh ? '' : ' ') + word;
    fresh = false;
  }
  lines.push(line);
  return lines;
}

/** A bad command line: the command's synopsis (or every command's) and where to read more. */
export function shortUsage(c?: CommandHelp): string {
  if (!c) return usage();
  return ['usage:', ...synopsisLines(c), `'wardenfs ${c.name} --help' tells more`, ''].join('\n');
}

/** `wardenfs COMMAND --help`. */
export function commandHelp(c: CommandHelp): string {
  const lines = ['usage:', ...synopsisLines(c), '', c.summary + '.'];
  for (const p of c.description) lines.push('', ...wrap(p, 100));
  if (c.options.length) {
    lines.push('', 'options:');
    const w = Math.max(...c.options.map((o) => o.flag.length));
    for (const o of c.options) lines.push(...wrap(o.text, 100, ' '.repeat(w + 4), `  ${o.flag.padEnd(w)}  `));
  }
  if (c.aliases.length) lines.push('', `also: ${c.aliases.map((a) => `wardenfs ${a}`).join(', ')}`);
  lines.push('', `exit status: ${EXIT_CODES.map(([n, t]) => `${n} ${t.split(/[:;]/)[0]}`).join(', ')}`, '');
  return lines.join('\n');
}
