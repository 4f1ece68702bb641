/** No import circles among src/ (scripts/check-cycles.mjs, type imports included). */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// This file runs as dist/test/unit/cycles.test.js; the script and src/ are in the checkout.
const script = fileURLToPath(new URL('../../../scripts/check-cycles.mjs', import.meta.url));

test('src/ has no import circles', (t) => {
  // Throws (exit status 1, the circles on stdout) when there is one.
  const out = execFileSync(process.execPath, [script], { encoding: 'utf8' });
  t.regex(out, /^no import circles in src /);
});
