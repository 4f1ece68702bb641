/**
 * ctl messages: the verb tables of the global and the container `ctl` files, and the
 * parser that turns one message (one line) into a typed Command. Pure: no I/O, imports
 * nothing of the project outside ctl/ but the typed errors (a parse error is BadRequest).
 * Carrying a Command out is core/'s job.
 */
import { BadRequest } from '../errors.js';
import { tokenize, quoteAll } from './tokenize.js';
import {
  parseName, parseSize, parseCount, parseIntIn, parseCpuMax, parseSignal,
  parseUser, parseEnv, parseSeconds, parseBool, type CpuMax, type Max, type Signal, type User,
} from './values.js';

/** Limits and network settings a container takes at create time or through its files. */
export interface Settings {
  'memory.max'?: number | Max;
  'cpu.max'?: CpuMax;
  'cpu.weight'?: number;
  'pids.max'?: number | Max;
  ports?: string[];
  rules?: string[];
  rate?: string;
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
}

export type GlobalCommand =
  | { verb: 'create'; name?: string; options: CreateOptions }
  | { verb: 'destroy'; name: string }
  | { verb: 'image import'; name: string; path: string }
  | { verb: 'image remove'; name: string };

export interface RunOptions {
  id?: string;
  dir?: string;
  user?: User;
  env: string[];
  argv: string[];
}

export type ContainerCommand =
  | ({ verb: 'run' } & RunOptions)
  | { verb: 'kill'; id: string; signal: Signal }
  | { verb: 'stop'; seconds: number }
  | { verb: 'destroy' };

export type ProcessCommand =
  | { verb: 'kill'; signal: Signal }
  | { verb: 'closein' };

/** How a message is written, for every usage text: the grammar is Plan 9's tokenize(2). */
export const QUOTING_USAGE = [
  "one message per line (up to 1 MiB); words are split at blanks; 'single quotes' group, '' inside them is one quote;",
  'double quotes are ordinary characters: run echo "a b" passes "a and b"',
].join('\n') + '\n';

export const GLOBAL_USAGE = [
  'create [NAME] [KEY=VALUE ...]   keys: image net env seccomp privileged memory.max cpu.max cpu.weight pids.max ports rules rate',
  '    ports=[HOSTIP:]HOSTPORT:PORT[/tcp|/udp]   rules=allow PROTO DEST[/PREFIX] [PORT[-PORT]] (PROTO tcp udp icmp all) or allow all',
  'destroy NAME',
  'image import NAME PATH',
  'image remove NAME',
].join('\n') + '\n' + QUOTING_USAGE;

export const CONTAINER_USAGE = [
  'run [id=ID] [dir=DIR] [user=USER[:GROUP]] [env=K=V ...] [--] PROGRAM [ARG ...]',
  'kill ID [SIGNAL]',
  'stop [SECONDS]',
  'destroy',
].join('\n') + '\n' + QUOTING_USAGE;

export const PROCESS_USAGE = 'kill [SIGNAL]\nclosein\n';

/** Setting keys: the writable files under cgroup/ and net/ (SPEC §3.5, §3.6). */
export const SETTING_KEYS: readonly SettingKey[] = [
  'memory.max', 'cpu.max', 'cpu.weight', 'pids.max', 'ports', 'rules', 'rate',
];

function isSettingKey(k: string): k is SettingKey {
  return (SETTING_KEYS as readonly string[]).includes(k);
}

/** Parse one setting value into `settings` (pure; throws BadRequest). */
export function applySetting(settings: Settings, key: SettingKey, value: string): void {
  switch (key) {
    case 'memory.max': settings['memory.max'] = parseSize(value); break;
    case 'cpu.max': settings['cpu.max'] = parseCpuMax(value); break;
    case 'cpu.weight': settings['cpu.weight'] = parseIntIn(value, 1, 10000, 'cpu.weight'); break;
    case 'pids.max': settings['pids.max'] = parseCount(value, 'pids.max'); break;
    case 'ports': (settings.ports ??= []).push(value); break;
    case 'rules': (settings.rules ??= []).push(value); break;
    case 'rate': settings.rate = value; break;
  }
}

function words(line: string): string[] {
  try {
    return tokenize(line);
  } catch (e) {
    if (e instanceof BadRequest) throw new BadRequest(`${e.message} in ${JSON.stringify(line)}`, { cause: e });
    throw e;
  }
}

function unknown(tokens: string[]): BadRequest {
  return new BadRequest(`unknown message ${JSON.stringify(quoteAll(tokens))}`);
}

function usage(text: string): BadRequest {
  return new BadRequest(`usage: ${text}`);
}

function splitKeyValue(token: string): [string, string] | undefined {
  const eq = token.indexOf('=');
  if (eq <= 0) return undefined;
  return [token.slice(0, eq), token.slice(eq + 1)];
}

function parseCreate(args: string[]): GlobalCommand {
  const options: CreateOptions = { env: [], settings: {} };
  let name: string | undefined;
  let rest = args;
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
    else if (isSettingKey(key)) applySetting(options.settings, key, val);
    else throw new BadRequest(`unknown option ${JSON.stringify(key)}`);
  }
  return name === undefined ? { verb: 'create', options } : { verb: 'create', name, options };
}

/** Parse one message of the global ctl. */
export function parseGlobal(line: string): GlobalCommand {
  const t = words(line);
  const [verb, ...args] = t;
  switch (verb) {
    case 'create':
      return parseCreate(args);
    case 'destroy':
      if (args.length !== 1) throw usage('destroy NAME');
      return { verb: 'destroy', name: parseName(args[0]!, 'container name') };
    case 'image':
      if (args[0] === 'import') {
        if (args.length !== 3) throw usage('image import NAME PATH');
        if (args[2] === '') throw usage('image import NAME PATH');
        return { verb: 'image import', name: parseName(args[1]!, 'image name'), path: args[2]! };
      }
      if (args[0] === 'remove') {
        if (args.length !== 2) throw usage('image remove NAME');
        return { verb: 'image remove', name: parseName(args[1]!, 'image name') };
      }
      throw unknown(t);
    default:
      throw unknown(t);
  }
}

function parseRun(args: string[]): ContainerCommand {
  const opts: RunOptions = { env: [], argv: [] };
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
    else break; // the first token that is not a known option starts the program (SPEC §3.1)
  }
  opts.argv = args.slice(i);
  if (opts.argv.length === 0 || opts.argv[0] === '') throw usage('run [id=ID] [dir=DIR] [user=USER[:GROUP]] [env=K=V ...] [--] PROGRAM [ARG ...]');
  return { verb: 'run', ...opts };
}

/** Parse one message of a container's ctl. */
export function parseContainer(line: string): ContainerCommand {
  const t = words(line);
  const [verb, ...args] = t;
  switch (verb) {
    case 'run':
      return parseRun(args);
    case 'kill': {
      if (args.length < 1 || args.length > 2) throw usage('kill ID [SIGNAL]');
      const id = parseName(args[0]!, 'process id');
      const signal = parseSignal(args[1] ?? 'TERM');
      return { verb: 'kill', id, signal };
    }
    case 'stop':
      if (args.length > 1) throw usage('stop [SECONDS]');
      return { verb: 'stop', seconds: args[0] === undefined ? 10 : parseSeconds(args[0]!) };
    case 'destroy':
      if (args.length !== 0) throw usage('destroy');
      return { verb: 'destroy' };
    default:
      throw unknown(t);
  }
}

/** Parse one message of a process's ctl. */
export function parseProcess(line: string): ProcessCommand {
  const t = words(line);
  const [verb, ...args] = t;
  switch (verb) {
    case 'kill':
      if (args.length > 1) throw usage('kill [SIGNAL]');
      return { verb: 'kill', signal: parseSignal(args[0] ?? 'TERM') };
    case 'closein':
      if (args.length !== 0) throw usage('closein');
      return { verb: 'closein' };
    default:
      throw unknown(t);
  }
}
