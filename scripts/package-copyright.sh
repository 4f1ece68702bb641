#!/usr/bin/env bash
# /usr/share/doc/wardenfs/copyright of the Debian package (machine-readable format): wardenfs
# itself (MIT, package.json) and each npm package bundled in NODE_MODULES with the license
# its package.json names and the copyright lines of its license file.
set -euo pipefail
node - "$1" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const dir = process.argv[2];
const out = [
  'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
  'Upstream-Name: wardenfs',
  '',
  'Files: *',
  'Copyright: the wardenfs authors',
  'License: MIT',
];
const licenses = new Set(['MIT']);
const names = [];
for (const e of fs.readdirSync(dir)) {
  if (e.startsWith('.')) continue;
  if (e.startsWith('@')) for (const s of fs.readdirSync(path.join(dir, e))) names.push(`${e}/${s}`);
  else names.push(e);
}
for (const name of names.sort()) {
  const p = path.join(dir, name);
  const pkg = JSON.parse(fs.readFileSync(path.join(p, 'package.json'), 'utf8'));
  const license = typeof pkg.license === 'string' ? pkg.license : (pkg.license?.type ?? 'unknown');
  const file = fs.readdirSync(p).find((f) => /^(licen[cs]e|copying)/i.test(f));
  const text = file ? fs.readFileSync(path.join(p, file), 'utf8') : '';
  const holders = [...new Set(text.split('\n').map((l) => l.trim()).filter((l) => /^copyright\b.*\d{4}/i.test(l)).map((l) => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, '')))];
  const author = typeof pkg.author === 'string' ? pkg.author : pkg.author?.name;
  out.push('', `Files: usr/lib/wardenfs/node_modules/${name}/*`,
    `Copyright: ${holders.length ? holders.join('\n ') : (author ?? `the authors of ${name}`)}`,
    `License: ${license}`, ` npm package ${name} ${pkg.version}`);
  licenses.add(license);
}
const texts = {
  MIT: `Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:
.
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.`,
  ISC: `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.
.
THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`,
};
for (const l of [...licenses].sort()) {
  out.push('', `License: ${l}`);
  const t = texts[l];
  if (t) out.push(...t.split('\n').map((x) => ` ${x}`));
  else out.push(` The text is in the license file of each package under this license, in /usr/lib/wardenfs/node_modules.`);
}
process.stdout.write(out.join('\n') + '\n');
JS
