/** The command line explains itself (docs/interface.md §2): --help, COMMAND --help, --version, exit codes, the man page. */
import test from 'ava';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { COMMANDS, EXIT_CODES } from '../../src/usage.js';

const CLI = fileURLToPath(new URL('../../../bin/wardenfs.js', import.meta.url));
const MANPAGE = fileURLToPath(new URL('../../scripts/manpage.js', import.meta.url));
const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false });

test('every command answers --help, -h and help COMMAND with its usage and options, exit 0', async (t) => {
  for (const c of COMMANDS) {
    for (const args of [[c.name, '--help'], [c.name, '-h'], ['help', c.name], ...c.aliases.map((a) => [a, '--help'])]) {
      const r = await cli(...args);
      t.is(r.exitCode, 0, args.join(' '));
      t.is(r.stderr, '');
      t.true(r.stdout.startsWith(`usage:\n  wardenfs ${c.synopsis.split('\n')[0]}\n`), args.join(' '));
      for (const o of c.options) t.true(r.stdout.includes(`  ${o.flag}`), `${args.join(' ')} names ${o.flag}`);
      t.regex(r.stdout, /exit status: 0 success, 1 the command failed, 2 a bad command line/);
    }
  }
  // --help after other words of the command line still helps, and runs nothing
  const r = await cli('mount', '/nonexistent/mnt', '--state-dir', '/nonexistent', '--help');
  t.is(r.exitCode, 0);
  t.regex(r.stdout, /^usage:\n  wardenfs mount /);
});

test('--help lists every command; --version prints the package version', async (t) => {
  const r = await cli('--help');
  t.is(r.exitCode, 0);
  for (const c of COMMANDS) t.true(r.stdout.includes(`  wardenfs ${c.synopsis.split('\n')[0]}`));
  t.true(r.stdout.includes('  wardenfs --version'));
  const v = await cli('--version');
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.is(v.exitCode, 0);
  t.is(v.stdout, `wardenfs ${pkg.version}`);
});

test('a bad command line exits 2 with the command\'s usage; an option of another command is refused', async (t) => {
  const r = await cli('unmount', '/x', '--state-dir', '/y');
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /^wardenfs: unknown option --state-dir\nusage:\n  wardenfs unmount MOUNTPOINT\n'wardenfs unmount --help' tells more$/);
  const n = await cli('frob');
  t.is(n.exitCode, 2);
  t.regex(n.stderr, /^wardenfs: unknown command frob\nusage:\n  wardenfs mount /);
  const h = await cli('help', 'frob');
  t.is(h.exitCode, 2);
  const none = await cli();
  t.is(none.exitCode, 2);
  t.regex(none.stderr, /^wardenfs: no command\n/);
  // The CRI options: absolute paths, the mirror only with a socket; refused before anything starts.
  const mirror = await cli('mount', '/mnt/x', '--image-mirror', '/srv/m');
  t.is(mirror.exitCode, 2);
  t.regex(mirror.stderr, /^wardenfs: --image-mirror needs --cri-socket\nusage:\n  wardenfs mount /);
  const rel = await cli('mount', '/mnt/x', '--cri-socket', 'cri.sock');
  t.is(rel.exitCode, 2);
  t.regex(rel.stderr, /^wardenfs: bad --cri-socket cri\.sock: want an absolute path\n/);
});

test('the man page is made from the same tables: every command, option and exit code', async (t) => {
  const r = await execa(process.execPath, [MANPAGE]);
  const page = r.stdout;
  t.regex(page, /^\.TH WARDENFS 8 /);
  t.regex(page, /^[\x00-\x7f]*$/, 'roff input is ASCII');
  const roff = (s: string) => s.replace(/-/g, '\\-');
  for (const c of COMMANDS) {
    t.true(page.includes(`.SS ${c.name}`), c.name);
    for (const o of c.options) t.true(page.includes(`.B ${roff(o.flag.split(' ')[0]!)}`), o.flag);
  }
  for (const [n] of EXIT_CODES) t.true(page.includes(`.TP\n.B ${n}\n`), `exit ${n}`);
  // no line that roff would take for a request by accident
  const requests = page.split('\n').filter((l) => /^['.]/.test(l));
  t.deepEqual(requests.filter((l) => !/^\.(TH|SH|SS|TP|PP|B|BR|I|br)( |$)/.test(l)), []);
});
