/**
 * The command line (docs/interface.md §2; the texts and the man page come from src/usage.ts):
 *   wardenfs mount [MOUNTPOINT] [--state-dir DIR] [--runtime runc|crun|PATH] [--subnet CIDR]
 *                  [--output-cap SIZE] [--max-blocked-readers N] [--default-pids-max N|max]
 *                  [--allow-other] [--cri-socket PATH [--image-mirror DIR]]
 *   wardenfs unmount MOUNTPOINT
 *   wardenfs reset [--state-dir DIR] [--runtime runc|crun|PATH]
 *   wardenfs help [COMMAND] | COMMAND --help | --help | --version
 */
import { runMount } from './daemon/mount.js';
import { runUnmount, runReset } from './daemon/admin.js';
import { parseSize, parseIntIn, parseCount } from './ctl/values.js';
import { BadRequest } from './errors.js';
import { DEFAULTS, findCommand, usage, commandHelp, version, shortUsage, type CommandHelp } from './usage.js';
import { runAttach, runExec, SessionUsage } from './cli/attach.js';

export { DEFAULTS };

/** A bad command line: printed with the usage text (the command's, when known), exit status 2. */
class UsageError extends BadRequest {
  constructor(message: string, readonly command?: CommandHelp) {
    super(message);
  }
}

/** The word that asks for help, anywhere after the command (`mount --help`, `reset -h`). */
const HELP = new Set(['--help', '-h']);

interface Parsed { positional: string[]; flags: Map<string, string> }

/** The options a command takes: the flags of its help text. */
function flagsOf(c: CommandHelp): Set<string> {
  return new Set(c.options.map((o) => o.flag.split(' ')[0]!));
}
/** Its options without a value. */
function switchesOf(c: CommandHelp): Set<string> {
  return new Set(c.options.filter((o) => o.switch).map((o) => o.flag));
}

function parse(argv: string[], c: CommandHelp): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  const known = flagsOf(c);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const [k, inline] = a.split('=', 2) as [string, string | undefined];
      if (switchesOf(c).has(k)) {
        if (inline !== undefined) throw new UsageError(`${k} takes no value`, c);
        flags.set(k, '');
        continue;
      }
      if (!known.has(k)) throw new UsageError(`unknown option ${k}`, c);
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${k} needs a value`, c);
      flags.set(k, v);
    } else {
      positional.push(a);
    }
  }
  return { positional, flags };
}

function numberFlag(flags: Map<string, string>, name: string, parse: (v: string) => number | 'max'): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  try {
    const n = parse(v);
    if (n === 'max') throw new BadRequest('max is not allowed here');
    return n;
  } catch (e) {
    throw new UsageError(`bad ${name} ${v}: ${(e as Error).message}`);
  }
}

/** --default-pids-max: a positive number or max. */
function pidsFlag(v: string | undefined): number | 'max' | undefined {
  if (v === undefined) return undefined;
  try {
    const n = parseCount(v, '--default-pids-max');
    if (n === 0) throw new BadRequest('0 would forbid every process');
    return n;
  } catch (e) {
    throw new UsageError(`bad --default-pids-max ${v}: ${(e as Error).message}`);
  }
}

/** --cri-socket PATH and --image-mirror DIR: absolute paths; a mirror only with a socket. */
function criFlags(flags: Map<string, string>, c: CommandHelp): { criSocket?: string; imageMirror?: string } {
  const socket = flags.get('--cri-socket');
  const mirror = flags.get('--image-mirror');
  if (mirror !== undefined && socket === undefined) throw new UsageError('--image-mirror needs --cri-socket', c);
  for (const [flag, v] of [['--cri-socket', socket], ['--image-mirror', mirror]] as const) {
    if (v !== undefined && !v.startsWith('/')) throw new UsageError(`bad ${flag} ${v}: want an absolute path`, c);
  }
  return { ...(socket !== undefined ? { criSocket: socket } : {}), ...(mirror !== undefined ? { imageMirror: mirror } : {}) };
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('no command');
  if (HELP.has(command)) return print(usage());
  if (command === '--version' || command === '-V') return print(`wardenfs ${version()}\n`);
  const c = findCommand(command);
  if (!c) throw new UsageError(`unknown command ${command}`);
  // Sessions (src/cli/attach.ts) have their own options, and words after the container are
  // the program's (`exec C ls --help`); they end with the process's status.
  if (c.name === 'attach' || c.name === 'exec') {
    if (HELP.has(rest[0] ?? '')) return print(commandHelp(c));
    const status = await (c.name === 'attach' ? runAttach(rest) : runExec(rest));
    // Exit now: after a detach, a read of the process's stdout still waits in the thread pool.
    process.stdout.write('', () => process.exit(status));
    return;
  }
  if (rest.some((a) => HELP.has(a))) return print(commandHelp(c));
  const { positional, flags } = parse(rest, c);
  const common = {
    stateDir: flags.get('--state-dir') ?? DEFAULTS.stateDir,
    runtime: flags.get('--runtime') ?? DEFAULTS.runtime,
    subnet: flags.get('--subnet') ?? DEFAULTS.subnet,
  };
  switch (c.name) {
    case 'mount':
      if (positional.length > 1) throw new UsageError('mount takes one MOUNTPOINT', c);
      if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(common.subnet)) throw new UsageError(`bad --subnet ${common.subnet}: want a CIDR like 10.88.0.0/16`, c);
      return runMount({
        ...common,
        mountpoint: positional[0] ?? DEFAULTS.mountpoint,
        outputCap: numberFlag(flags, '--output-cap', (v) => parseSize(v)),
        maxBlockedReaders: numberFlag(flags, '--max-blocked-readers', (v) => parseIntIn(v, 1, 100000, '--max-blocked-readers')),
        defaultPidsMax: pidsFlag(flags.get('--default-pids-max')),
        allowOther: flags.has('--allow-other'),
        ...criFlags(flags, c),
      });
    case 'unmount':
      if (positional.length !== 1) throw new UsageError('unmount takes one MOUNTPOINT', c);
      return runUnmount(positional[0]!);
    case 'reset':
      if (positional.length !== 0) throw new UsageError('reset takes no MOUNTPOINT; use --state-dir', c);
      return runReset(common);
    case 'help': {
      if (positional.length > 1) throw new UsageError('help takes one COMMAND', c);
      if (positional.length === 0) return print(usage());
      const about = findCommand(positional[0]!);
      if (!about) throw new UsageError(`unknown command ${positional[0]}`);
      return print(commandHelp(about));
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

function print(text: string): void {
  process.stdout.write(text);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof SessionUsage) {
    process.stderr.write(`wardenfs: ${e.message}\n${shortUsage(findCommand(e.command))}`);
    process.exit(2);
  }
  if (e instanceof UsageError) {
    process.stderr.write(`wardenfs: ${e.message}\n${shortUsage(e.command)}`);
    process.exit(2);
  }
  process.stderr.write(`wardenfs: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
