/**
 * Rewrites the grammar section of docs/interface.md (between `<!-- grammar:begin -->` and
 * `<!-- grammar:end -->`) from the verb tables of src/ctl/messages.ts:
 * `npx tsc -p tsconfig.json && node dist/scripts/grammar.js`. test/unit/cmdtab.test.ts fails
 * while the doc and the tables differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { grammar } from '../src/ctl/messages.js';

const doc = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'interface.md');
const text = readFileSync(doc, 'utf8');
const re = /(<!-- grammar:begin -->\n)[\s\S]*?(<!-- grammar:end -->)/;
if (!re.test(text)) {
  process.stderr.write(`${doc}: no <!-- grammar:begin --> … <!-- grammar:end --> section\n`);
  process.exit(1);
}
writeFileSync(doc, text.replace(re, (_m, begin: string, end: string) => begin + grammar() + end));
process.stdout.write(`${doc}: grammar section rewritten\n`);
