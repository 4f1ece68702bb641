#!/usr/bin/env node
// Import circles among src/**/*.ts, type imports included: follows every relative
// `import … from '…'` / `export … from '…'` / `import('…')`, prints each circle found
// and exits 1 if there is one. Usage: node scripts/check-cycles.mjs [DIR] (default: src).
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = resolve(root, process.argv[2] ?? 'src');

function files(d) {
  return readdirSync(d).flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

const SPEC = /(?:^|[\s;}])(?:import|export)\s[^'"]*?\sfrom\s*['"](\.{1,2}\/[^'"]+)['"]|(?:^|[\s;}])import\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function deps(file) {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out = new Set();
  for (const m of text.matchAll(SPEC)) {
    const spec = m[1] ?? m[2] ?? m[3];
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    if (existsSync(target)) out.add(target);
  }
  return [...out];
}

const graph = new Map(files(dir).map((f) => [f, deps(f)]));

// Depth-first search; a back edge to a file on the stack closes a circle.
const state = new Map(); // file -> 'open' | 'done'
const stack = [];
const cycles = [];
function visit(f) {
  state.set(f, 'open');
  stack.push(f);
  for (const g of graph.get(f) ?? []) {
    if (state.get(g) === 'open') cycles.push([...stack.slice(stack.indexOf(g)), g]);
    else if (!state.has(g)) visit(g);
  }
  stack.pop();
  state.set(f, 'done');
}
for (const f of graph.keys()) if (!state.has(f)) visit(f);

for (const c of cycles) console.log(c.map((f) => relative(root, f)).join(' -> '));
if (cycles.length) {
  console.error(`${cycles.length} import circle(s) in ${relative(root, dir) || '.'}`);
  process.exit(1);
}
console.log(`no import circles in ${relative(root, dir) || '.'} (${graph.size} files)`);
