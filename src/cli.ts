/**
 * The command line (docs/interface.md §2):
 *   wardenfs mount MOUNTPOINT [--state-dir DIR] [--runtime runc|crun|PATH] [--subnet CIDR]
 *                             [--output-cap SIZE] [--max-blocked-readers N] [--default-pids-max N|max]
 *   wardenfs unmount MOUNTPOINT
 *   wardenfs reset --state-dir DIR
 */
import { runMount } from './daemon/mount.js';
import { runUnmount, runReset } from './daemon/admin.js';
import { parseSize, parseIntIn, parseCount } from './ctl/values.js';
import { BadRequest } from './errors.js';
import { DEFAULT_PIDS_MAX } from './core/warden.js';
import { runAttach, runExec, SessionUsage, ATTACH_USAGE, EXEC_USAGE } from './cli/attach.js';

export const DEFAULTS = {
  mountpoint: '/mnt/wardenfs',
  stateDir: '/var/lib/wardenfs',
  runtime: 'runc',
  subnet: '10.88.0.0/16',
};

const USAGE = `usage:
  wardenfs mount [MOUNTPOINT] [--state-dir DIR] [--runtime runc|crun|PATH] [--subnet CIDR]
                 [--output-cap SIZE] [--max-blocked-readers N] [--default-pids-max N|max]
  wardenfs unmount MOUNTPOINT
  wardenfs reset [--state-dir DIR]
  ${ATTACH_USAGE}
  ${EXEC_USAGE}
      (a terminal session on a process: Ctrl-] detaches; the exit status is the process's)
defaults: mountpoint ${DEFAULTS.mountpoint}, state dir ${DEFAULTS.stateDir}, runtime ${DEFAULTS.runtime}, subnet ${DEFAULTS.subnet},
          pids.max of a container created without one ${DEFAULT_PIDS_MAX}
`;

/** A bad command line: printed with the usage text, exit status 2. */
class UsageError extends BadRequest {}

interface Parsed { positional: string[]; flags: Map<string, string> }

const FLAGS = new Set(['--state-dir', '--runtime', '--subnet', '--output-cap', '--max-blocked-readers', '--default-pids-max']);

function parse(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const [k, inline] = a.split('=', 2) as [string, string | undefined];
      if (!FLAGS.has(k)) throw new UsageError(`unknown option ${k}`);
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${k} needs a value`);
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

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // Sessions (src/cli/attach.ts) have their own options and end with the process's status.
  if (command === 'attach' || command === 'exec') {
    const status = await (command === 'attach' ? runAttach(rest) : runExec(rest));
    // Exit now: after a detach, a read of the process's stdout still waits in the thread pool.
    process.stdout.write('', () => process.exit(status));
    return;
  }
  const { positional, flags } = parse(rest);
  const common = {
    stateDir: flags.get('--state-dir') ?? DEFAULTS.stateDir,
    runtime: flags.get('--runtime') ?? DEFAULTS.runtime,
    subnet: flags.get('--subnet') ?? DEFAULTS.subnet,
  };
  switch (command) {
    case 'mount':
      if (positional.length > 1) throw new UsageError('mount takes one MOUNTPOINT');
      if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(common.subnet)) throw new UsageError(`bad --subnet ${common.subnet}: want a CIDR like 10.88.0.0/16`);
      return runMount({
        ...common,
        mountpoint: positional[0] ?? DEFAULTS.mountpoint,
        outputCap: numberFlag(flags, '--output-cap', (v) => parseSize(v)),
        maxBlockedReaders: numberFlag(flags, '--max-blocked-readers', (v) => parseIntIn(v, 1, 100000, '--max-blocked-readers')),
        defaultPidsMax: pidsFlag(flags.get('--default-pids-max')),
      });
    case 'unmount':
    case 'umount':
      if (positional.length !== 1) throw new UsageError('unmount takes one MOUNTPOINT');
      return runUnmount(positional[0]!);
    case 'reset':
      if (positional.length !== 0) throw new UsageError('reset takes no MOUNTPOINT; use --state-dir');
      return runReset(common);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      throw new UsageError(command ? `unknown command ${command}` : 'no command');
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof SessionUsage) {
    process.stderr.write(`wardenfs: ${e.message}\n`);
    process.exit(2);
  }
  if (e instanceof UsageError) {
    process.stderr.write(`wardenfs: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(`wardenfs: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
