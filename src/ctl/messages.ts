/**
 * ctl messages: the verb tables of the global, container and process `ctl` files
 * (./cmdtab.ts: one row per verb), from which one message (one line) is parsed into a
 * typed Command. Pure: no I/O, imports
 * nothing of the project outside ctl/ but the typed errors (a parse error is BadRequest).
 * Carrying a Command out is core/'s job.
 */
import { BadRequest } from '../errors.js';
import { row, parseMessage, usageText, renderGrammar, type Cmdtab, type CommandOf } from './cmdtab.js';
import {
  parseName, parseLimit, parseSignal,
  parseUser, parseEnv, parseSeconds, parseBool, parseRlimitName, parseRlimit, parseSize, parseIntIn, TERM_MAX, DEFAULT_TERM,
} from './values.js';
import { RLIMIT_NAMES, type Rlimits } from '../model/rlimits.js';
import type { Settings, SettingKey, CreateOptions } from '../model/settings.js';
import type { RunOptions } from '../model/records.js';
import { putLimit } from '../model/limits.js';
import { parsePortForward, parseEgressRule, parseRate } from './net-values.js';
import { parsePropertyKey, parsePropertyValue, parseGrace, propertiesFrom } from './props.js';
import { parseBindMount, checkBindMounts } from './mount-values.js';

// What create takes is the model's (src/model/settings.ts).
export type { Settings, SettingKey, NetMode, SeccompMode, CreateOptions } from '../model/settings.js';

export type { RunOptions };

/** How a message is written, for every usage text: the grammar is Plan 9's tokenize(2). */
export const QUOTING_USAGE = [
  "one message per line (up to 1 MiB); words are split at blanks; 'single quotes' group, '' inside them is one quote;",
  'double quotes are ordinary characters: run echo "a b" passes "a and b"',
].join('\n') + '\n';

/** Setting keys: the writable files under cgroup/ and net/ (docs/interface.md, cgroup/ and net/). */
export const SETTING_KEYS: readonly SettingKey[] = [
  'memory.max', 'cpu.max', 'cpu.weight', 'pids.max', 'ports', 'rules', 'rate', 'disk.max',
];

function isSettingKey(k: string): k is SettingKey {
  return (SETTING_KEYS as readonly string[]).includes(k);
}

/** Parse one setting value into `settings` (pure; throws BadRequest). */
export function applySetting(settings: Settings, key: SettingKey, value: string): void {
  switch (key) {
    case 'memory.max': case 'cpu.max': case 'cpu.weight': case 'pids.max': putLimit(settings, parseLimit(key, value)); break;
    case 'ports': (settings.ports ??= []).push(parsePortForward(value)); break;
    case 'rules': (settings.rules ??= []).push(parseEgressRule(value)); break;
    // An empty `rate=` has always meant none given.
    case 'rate': if (value !== '') settings.rate = parseRate(value); else delete settings.rate; break;
    case 'mounts': (settings.mounts ??= []).push(parseBindMount(value)); break;
    case 'disk.max': settings['disk.max'] = parseDiskMax(value); break;
  }
}

/** `rlimit.NAME=VALUE` of create and run: put into `into` (created on first use); false for another key. */
const RLIMIT_PREFIX = 'rlimit.';
function takeRlimit(key: string, value: string, into: { rlimits?: Rlimits }): boolean {
  if (!key.startsWith(RLIMIT_PREFIX)) return false;
  const name = parseRlimitName(key.slice(RLIMIT_PREFIX.length));
  (into.rlimits ??= {})[name] = parseRlimit(name, value);
  return true;
}

function splitKeyValue(token: string): [string, string] | undefined {
  const eq = token.indexOf('=');
  if (eq <= 0) return undefined;
  return [token.slice(0, eq), token.slice(eq + 1)];
}

/** How `cat ctl` explains rlimit.NAME= (create and run). */
const RLIMIT_USAGE = `    rlimit.NAME=N|unlimited|SOFT:HARD   NAME: ${RLIMIT_NAMES.join(' ')}`;

/** The keys `create` takes besides the settings. */
const CREATE_KEYS = ['image', 'net', 'env', 'seccomp', 'privileged', 'grace', 'prop.KEY', 'mount'] as const;

/** `prop.KEY=VALUE` in a create: the prefix of a property's key. */
const PROP_PREFIX = 'prop.';

/** `disk.max`: a size (K, M, G) of at least 300M, or max (docs/interface.md). */
export function parseDiskMax(value: string): number | 'max' {
  const v = parseSize(value);
  if (v !== 'max' && v < DISK_MIN) throw new BadRequest(`bad disk.max ${JSON.stringify(value)}: at least 300M (the smallest XFS)`);
  return v;
}

/** The smallest disk.max: the smallest XFS mkfs.xfs makes (the layer's own file system). */
export const DISK_MIN = 300 * 1024 * 1024;

interface CreateArgs { name?: string; options: CreateOptions }

function parseCreate(args: string[]): CreateArgs {
  const options: CreateOptions = { env: [], settings: {} };
  let name: string | undefined;
  let rest = args;
  const props: Array<[string, string]> = [];
  if (rest[0] !== undefined && splitKeyValue(rest[0]) === undefined) {
    name = parseName(rest[0]!, 'container name');
    rest = rest.slice(1);
  }
  for (const token of rest) {
    const kv = splitKeyValue(token);
    if (!kv) throw new BadRequest(`bad option ${JSON.stringify(token)}: want KEY=VALUE`);
    const [key, val] = kv;
    if (key === 'image') options.image = parseName(val, 'image name');
    else if (key === 'net') {
      if (val !== 'bridge' && val !== 'none') throw new BadRequest(`bad net ${JSON.stringify(val)}: want bridge or none`);
      options.net = val;
    } else if (key === 'seccomp') {
      if (val !== 'default' && val !== 'unconfined') throw new BadRequest(`bad seccomp ${JSON.stringify(val)}: want default or unconfined`);
      options.seccomp = val;
    } else if (key === 'privileged') options.privileged = parseBool(val, 'privileged');
    else if (key === 'env') options.env.push(parseEnv(val));
    else if (key === 'grace') {
      const g = parseGrace(val);
      if (g === 'none') delete options.grace;
      else options.grace = g;
    } else if (key.startsWith(PROP_PREFIX)) {
      const k = parsePropertyKey(key.slice(PROP_PREFIX.length));
      props.push([k, parsePropertyValue(k, val)]);
    } else if (key === 'mount') applySetting(options.settings, 'mounts', val);
    else if (isSettingKey(key)) applySetting(options.settings, key, val);
    else if (takeRlimit(key, val, options)) continue;
    else throw new BadRequest(`unknown option ${JSON.stringify(key)}`);
  }
  if (props.length > 0) options.properties = propertiesFrom(props);
  if (options.settings.mounts) checkBindMounts(options.settings.mounts);
  return name === undefined ? { options } : { name, options };
}

function parseRun(args: string[], usage: () => BadRequest): RunOptions {
  const opts: RunOptions = { env: [], argv: [] };
  let tty: boolean | undefined;
  let rows: number | undefined;
  let cols: number | undefined;
  let i = 0;
  for (; i < args.length; i++) {
    const token = args[i]!;
    if (token === '--') { i++; break; }
    const kv = splitKeyValue(token);
    if (!kv) break;
    const [key, val] = kv;
    if (key === 'id') opts.id = parseName(val, 'process id');
    else if (key === 'dir') {
      if (!val.startsWith('/')) throw new BadRequest(`bad dir ${JSON.stringify(val)}: want an absolute path`);
      opts.dir = val;
    } else if (key === 'user') opts.user = parseUser(val);
    else if (key === 'env') opts.env.push(parseEnv(val));
    else if (key === 'entrypoint') {
      if (val.includes('\0')) throw new BadRequest('bad entrypoint: a NUL character');
      opts.entrypoint = val;
    } else if (key === 'tty') {
      if (val !== '0' && val !== '1') throw new BadRequest(`bad tty ${JSON.stringify(val)}: want 1 or 0`);
      tty = val === '1';
    } else if (key === 'rows') rows = parseIntIn(val, 1, TERM_MAX, 'rows');
    else if (key === 'cols') cols = parseIntIn(val, 1, TERM_MAX, 'cols');
    else if (takeRlimit(key, val, opts)) continue;
    else break; // the first token that is not a known option starts the program (docs/interface.md)
  }
  opts.argv = args.slice(i);
  if (tty) opts.tty = { rows: rows ?? DEFAULT_TERM.rows, cols: cols ?? DEFAULT_TERM.cols };
  else if (rows !== undefined || cols !== undefined) throw new BadRequest('rows= and cols= need tty=1');
  // No program: the image's Entrypoint and Cmd (core/program.ts).
  if (opts.argv[0] === '') throw usage();
  return opts;
}

/*
 * The tables. Adding a verb: one row here (its parser returns a Command whose `verb` is
 * the row's), then its handler in core/commands.ts (the compiler asks for it), then a test
 * (CONTRIBUTING.md). The order of the rows is the order of `cat ctl`.
 */

/** The global `ctl`. */
export const GLOBAL_CTL = {
  file: 'ctl',
  footer: QUOTING_USAGE,
  rows: [
    row({
      verb: 'create', args: '[NAME] [KEY=VALUE ...]', min: 0, max: Infinity,
      note: `keys: ${[...CREATE_KEYS, ...SETTING_KEYS, 'rlimit.NAME'].join(' ')}`,
      more: [
        '    ports=[HOSTIP:]HOSTPORT:PORT[/tcp|/udp]   rules=allow PROTO DEST[/PREFIX] [PORT[-PORT]] (PROTO tcp udp icmp all) or allow all',
        '    prop.KEY=VALUE (repeatable; looked up in by-property/)   grace=DURATION|none (90s 5m 1h30m: destroyed after that long with no process and no use)',
        '    mount=HOSTPATH:PATH[:ro|:rw] (repeatable; read-only unless :rw)   disk.max=SIZE (K M G, at least 300M) or max',
        RLIMIT_USAGE,
      ],
      summary: 'make a container, without NAME a generated one (c-XXXXXX); returns once it can run processes',
      reply: 'the container name',
      parse: parseCreate,
    }),
    row({
      verb: 'destroy', args: 'NAME', min: 1, max: 1,
      summary: 'kill all its processes and release everything it holds',
      reply: '`ok`',
      parse: ([name]) => ({ name: parseName(name!, 'container name') }),
    }),
    row({
      verb: 'image import', args: 'NAME PATH', min: 2, max: 2,
      summary: 'import an image from an absolute PATH: a directory, a tar archive (plain, gzip, bzip2, xz, zstd) or an OCI image layout',
      reply: '`ok`',
      parse: ([name, path], usage) => {
        if (path === '') throw usage();
        return { name: parseName(name!, 'image name'), path: path! };
      },
    }),
    row({
      verb: 'image commit', args: 'NEWNAME CONTAINER', min: 2, max: 2,
      summary: "save the container's files (its image and what it changed) as a new image NEWNAME, with its image's config; the container is frozen meanwhile",
      reply: '`ok`',
      parse: ([name, container]) => ({ name: parseName(name!, 'image name'), container: parseName(container!, 'container name') }),
    }),
    row({
      verb: 'image remove', args: 'NAME', min: 1, max: 1,
      summary: 'remove an image; EBUSY while a container uses it',
      reply: '`ok`',
      parse: ([name]) => ({ name: parseName(name!, 'image name') }),
    }),
  ],
} as const satisfies Cmdtab;

/** A container's `ctl` (`containers/NAME/ctl`). */
export const CONTAINER_CTL = {
  file: 'containers/NAME/ctl',
  footer: QUOTING_USAGE,
  rows: [
    row({
      verb: 'run', args: '[id=ID] [dir=DIR] [user=USER[:GROUP]] [env=K=V ...] [rlimit.NAME=VALUE ...] [entrypoint=PROG] [tty=1 [rows=R] [cols=C]] [--] [PROGRAM [ARG ...]]', min: 0, max: Infinity,
      more: [RLIMIT_USAGE],
      summary: "start a process; options end at `--` or at the first word that is not a known KEY=VALUE option; without a program, the image's Entrypoint and Cmd; with an Entrypoint, the words are its arguments; without id= the ids are 1, 2, 3 …",
      reply: 'the process id',
      parse: parseRun,
    }),
    row({
      verb: 'kill', args: 'ID [SIGNAL]', min: 1, max: 2,
      summary: 'signal process ID (default TERM), as `kill` on procs/ID/ctl',
      reply: '`ok`',
      parse: ([id, signal]) => ({ id: parseName(id!, 'process id'), signal: parseSignal(signal ?? 'TERM') }),
    }),
    row({
      verb: 'stop', args: '[SECONDS]', min: 0, max: 1,
      summary: 'TERM every process, KILL what is left after SECONDS (default 10); the container stays',
      reply: '`ok`',
      parse: ([seconds]) => ({ seconds: seconds === undefined ? 10 : parseSeconds(seconds) }),
    }),
    row({
      verb: 'destroy', args: '', min: 0, max: 0,
      summary: 'as the global `destroy NAME`',
      reply: '`ok`',
      parse: () => ({}),
    }),
  ],
} as const satisfies Cmdtab;

/** A process's `ctl` (`procs/NAME/ID/ctl`). */
export const PROCESS_CTL = {
  file: 'procs/NAME/ID/ctl',
  footer: '',
  rows: [
    row({
      verb: 'kill', args: '[SIGNAL]', min: 0, max: 1,
      summary: 'signal the process (default TERM)',
      reply: '`ok`',
      parse: ([signal]) => ({ signal: parseSignal(signal ?? 'TERM') }),
    }),
    row({
      verb: 'closein', args: '', min: 0, max: 0,
      summary: "close the process's stdin (it reads EOF; a terminal gets Ctrl-D typed first)",
      reply: '`ok`',
      parse: () => ({}),
    }),
  ],
} as const satisfies Cmdtab;

export const CTL_TABLES: readonly Cmdtab[] = [GLOBAL_CTL, CONTAINER_CTL, PROCESS_CTL];

export type GlobalCommand = CommandOf<typeof GLOBAL_CTL>;
export type ContainerCommand = CommandOf<typeof CONTAINER_CTL>;
export type ProcessCommand = CommandOf<typeof PROCESS_CTL>;

export const GLOBAL_USAGE = usageText(GLOBAL_CTL);
export const CONTAINER_USAGE = usageText(CONTAINER_CTL);
export const PROCESS_USAGE = usageText(PROCESS_CTL);

/** Parse one message of the global ctl. */
export function parseGlobal(line: string): GlobalCommand {
  return parseMessage(GLOBAL_CTL, line);
}

/** Parse one message of a container's ctl. */
export function parseContainer(line: string): ContainerCommand {
  return parseMessage(CONTAINER_CTL, line);
}

/** Parse one message of a process's ctl. */
export function parseProcess(line: string): ProcessCommand {
  return parseMessage(PROCESS_CTL, line);
}

/** The grammar section of docs/interface.md. */
export function grammar(): string {
  return renderGrammar(CTL_TABLES);
}
