/**
 * Plan 9 `tokenize(2)` rules: tokens are separated by blanks (space, tab, CR, LF);
 * single quotes group, and `''` inside quotes is one literal quote. Quotes may start or
 * end in the middle of a token (`a'b c'd` is one token `ab cd`). Pure: imports only the typed errors.
 */
import { BadRequest } from '../errors.js';

const BLANKS = ' \t\r\n';

export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && BLANKS.includes(line[i]!)) i++;
    if (i >= n) break;
    let token = '';
    let quoting = false;
    for (; i < n; i++) {
      const c = line[i]!;
      if (c === "'") {
        if (quoting && line[i + 1] === "'") {
          token += "'";
          i++;
        } else {
          quoting = !quoting;
        }
      } else if (!quoting && BLANKS.includes(c)) {
        break;
      } else {
        token += c;
      }
    }
    if (quoting) throw new BadRequest('unterminated quote');
    tokens.push(token);
  }
  return tokens;
}

/** Plan 9 `quote(2)`: quote a token only when it needs it, so printed state reads back. */
export function quote(token: string): string {
  if (token !== '' && !/[\s']/.test(token)) return token;
  return "'" + token.replace(/'/g, "''") + "'";
}

export function quoteAll(tokens: readonly string[]): string {
  return tokens.map(quote).join(' ');
}

/**
 * Several lines are several messages (a ctl file gathers whole lines first: ctl/lines.ts).
 * Blank lines are skipped, so `echo` with its trailing newline makes one message.
 */
export function splitMessages(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}
