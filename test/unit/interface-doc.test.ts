/**
 * docs/interface.md carries the contract; its grammar section is rendered from the verb
 * tables (src/ctl/messages.ts). Rewrite it with `node dist/scripts/grammar.js`.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { grammar } from '../../src/ctl/messages.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const interfaceDoc = path.join(here, '..', '..', '..', 'docs', 'interface.md');

test('docs/interface.md: the grammar section is what the tables render', (t) => {
  const doc = readFileSync(interfaceDoc, 'utf8');
  const m = /<!-- grammar:begin -->\n([\s\S]*?)<!-- grammar:end -->/.exec(doc);
  t.truthy(m, 'docs/interface.md has no <!-- grammar:begin --> … <!-- grammar:end --> section');
  t.is(m?.[1], grammar(), 'docs/interface.md is out of date: run node dist/scripts/grammar.js');
});
