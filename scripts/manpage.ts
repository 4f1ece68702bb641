/**
 * wardenfs(8) in roff, on stdout, from the tables that also make `wardenfs --help` and
 * `wardenfs COMMAND --help` (src/usage.ts): the Debian package (scripts/package.sh) ships it.
 *   node dist/scripts/manpage.js > wardenfs.8
 */
import { COMMANDS, EXIT_CODES, DEFAULTS, version, type CommandHelp } from '../src/usage.js';

/** Text safe in roff: backslashes escaped, hyphens as \-, no line starting with a control character. */
export function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    // roff input is ASCII: anything else by its code point
    .replace(/[^\x00-\x7f]/g, (ch) => `\\[u${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`)
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

/** A synopsis with its words in bold and its placeholders (upper case words) in italics. */
function synopsis(line: string): string {
  return roff(line).replace(/\b([A-Z][A-Z]*)\b/g, '\\fI$1\\fR');
}

function command(c: CommandHelp): string[] {
  const out = ['.SS ' + roff(c.name) + (c.aliases.length ? ` (also ${c.aliases.map(roff).join(', ')})` : '')];
  out.push('.B wardenfs', ...c.synopsis.split('\n').map((l) => synopsis(l.trim())), '.br', '.PP', roff(c.summary + '.'));
  for (const p of c.description) out.push('.PP', roff(p));
  for (const o of c.options) out.push('.TP', `.B ${roff(o.flag.split(' ')[0]!)}${o.flag.includes(' ') ? ` \\fI${roff(o.flag.slice(o.flag.indexOf(' ') + 1))}\\fR` : ''}`, roff(o.text));
  return out;
}

export function manpage(): string {
  const v = version();
  const lines = [
    `.TH WARDENFS 8 "" "wardenfs ${roff(v)}" "System Administration"`,
    '.SH NAME',
    'wardenfs \\- a container control plane whose API is a filesystem',
    '.SH SYNOPSIS',
    ...COMMANDS.flatMap((c) => ['.B wardenfs', synopsis(c.synopsis.split('\n').map((l) => l.trim()).join(' ')), '.br']),
    '.B wardenfs',
    '\\-\\-version | \\-\\-help | \\fICOMMAND\\fR \\-\\-help',
    '.SH DESCRIPTION',
    roff('wardenfs mount serves a FUSE filesystem whose files are the control plane of containers run with runc or crun: ' +
      'writing to ctl files creates, runs and destroys containers, and reading the tree shows their state, output and limits. ' +
      'The tree, its files and their messages are described in /usr/share/doc/wardenfs/interface.md.gz.'),
    '.PP',
    roff(`The Debian package runs it as the service wardenfs.service, on ${DEFAULTS.mountpoint} with its state in ${DEFAULTS.stateDir}; ` +
      'its options come from /etc/default/wardenfs. See /usr/share/doc/wardenfs/operating.md.gz.'),
    '.SH COMMANDS',
    ...COMMANDS.flatMap(command),
    '.SH EXIT STATUS',
    ...EXIT_CODES.flatMap(([n, t]) => ['.TP', `.B ${n}`, roff(t)]),
    '.SH SIGNALS',
    '.TP', '.B SIGTERM, SIGINT',
    roff('mount unmounts the tree and exits 0; containers and their processes keep running, and the next mount with the same state dir takes them up.'),
    '.SH ENVIRONMENT',
    '.TP', '.B DEBUG',
    roff('wardenfs:* logs everything on stderr; wardenfs:exec every host program run, wardenfs:lifecycle, wardenfs:images, wardenfs:fuse, wardenfs:ctl parts of it.'),
    '.TP', '.B NOTIFY_SOCKET',
    roff('set by systemd for a Type=notify service: mount sends READY=1 once the tree is mounted, STATUS= with its progress and STOPPING=1 when it stops.'),
    '.SH FILES',
    '.TP', '.I /etc/default/wardenfs', roff('the options of wardenfs.service (mountpoint, state dir, extra mount options, DEBUG)'),
    '.TP', '.I /lib/systemd/system/wardenfs.service', roff('the service'),
    '.TP', `.I ${roff(DEFAULTS.stateDir)}`, roff('the default state dir'),
    '.TP', `.I ${roff(DEFAULTS.mountpoint)}`, roff('the default mountpoint'),
    '.SH SEE ALSO',
    '.BR systemctl (1),',
    '.BR journalctl (1),',
    '.BR runc (8),',
    '.BR conmon (8)',
    '',
  ];
  return lines.join('\n');
}

process.stdout.write(manpage());
