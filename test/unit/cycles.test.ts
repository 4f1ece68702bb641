/** No import circles among src/ (scripts/check-cycles.mjs, type imports included), and the layers' rules. */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// This file runs as dist/test/unit/cycles.test.js; the script and src/ are in the checkout.
const script = fileURLToPath(new URL('../../../scripts/check-cycles.mjs', import.meta.url));
const src = fileURLToPath(new URL('../../../src/', import.meta.url));

test('src/ has no import circles', (t) => {
  // Throws (exit status 1, the circles on stdout) when there is one.
  const out = execFileSync(process.execPath, [script], { encoding: 'utf8' });
  t.regex(out, /^no import circles in src /);
});

/** The relative imports of every .ts file under src/DIR, as paths from src/. */
function importsOf(dir: string): string[] {
  const files = readdirSync(path.join(src, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  return files.flatMap((f) => {
    const file = path.join(src, dir, f);
    return [...readFileSync(file, 'utf8').matchAll(/\bfrom\s*'(\.{1,2}\/[^']+)'/g)]
      .map((m) => `${path.relative(src, file)} -> ${path.relative(src, path.resolve(path.dirname(file), m[1]!))}`);
  });
}

test('drivers/ import nothing of ctl/; fs/ nothing of drivers/; model/ imports nothing of the project outside model/', (t) => {
  t.deepEqual(importsOf('drivers').filter((i) => / -> ctl\//.test(i)), []);
  t.deepEqual(importsOf('fs').filter((i) => / -> drivers\//.test(i)), []);
  t.deepEqual(importsOf('model').filter((i) => !/ -> model\//.test(i)), []);
});

test('cri/ is a face beside fs/: it imports nothing of fs/ or drivers/, and nothing but the daemon imports it', (t) => {
  t.deepEqual(importsOf('cri').filter((i) => / -> (fs|drivers|daemon)\//.test(i)), []);
  for (const dir of ['core', 'drivers', 'fs', 'ctl', 'model', 'util']) t.deepEqual(importsOf(dir).filter((i) => / -> cri\//.test(i)), [], dir);
});
