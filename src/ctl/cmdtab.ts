/**
 * Verb tables, in the manner of Plan 9's Cmdtab (`lookupcmd(cb, proccmd, nelem(proccmd))`):
 * each ctl file has one table whose rows give a verb, its usage, how many words it takes
 * and the parser of those words. The dispatch, the arity errors (`usage: …`), the text a
 * read of an unwritten ctl returns and the grammar section of docs/interface.md all come
 * from the table. A row names its command kind (the `verb` of the Command it returns);
 * core/commands.ts maps each kind to its handler with a record typed so that a missing
 * handler does not compile. Pure: imports only the typed errors and the tokenizer.
 */
import { BadRequest } from '../errors.js';
import { tokenize, quoteAll } from './tokenize.js';

/** One row: a verb of a ctl file. K is the command kind (the Command's `verb`), A what the row's parser returns besides. */
export interface VerbRow<K extends string, A extends object> {
  /** The verb: one word, or several (`image import`). */
  readonly verb: K;
  /** The words after the verb, as shown in `usage: …` and `cat ctl` (empty: none). */
  readonly args: string;
  /** How many words after the verb it takes (max Infinity: no bound). */
  readonly min: number;
  readonly max: number;
  /** Said after the usage on the same line of `cat ctl`. */
  readonly note?: string;
  /** Further lines of `cat ctl` after the usage line (indented by the row). */
  readonly more?: readonly string[];
  /** What a read of the same open file returns after the message succeeded (docs). */
  readonly reply: string;
  /** What it does, one sentence (docs). */
  readonly summary: string;
  /** The words after the verb (their count already checked) → the Command's fields; `usage()` is this row's usage error. */
  readonly parse: (args: string[], usage: () => BadRequest) => A;
}

/** Any row (for the generic code below). */
export type AnyRow = VerbRow<string, object>;

/** A ctl file's table: its rows, and the text `cat ctl` adds after them. */
export interface Cmdtab<R extends AnyRow = AnyRow> {
  /** The file, for the docs: `ctl`, `containers/NAME/ctl` … */
  readonly file: string;
  readonly rows: readonly R[];
  readonly footer: string;
}

type Simplify<T> = { [P in keyof T]: T[P] };
type CommandOfRow<R> = R extends VerbRow<infer K, infer A> ? Simplify<{ verb: K } & A> : never;

/** The Commands of a table, as a union discriminated by `verb`: a row's verb and what its parser returns. */
export type CommandOf<T extends Cmdtab> = CommandOfRow<T['rows'][number]>;

/** Declare a row (keeps its verb's literal type, the command kind). */
export function row<const K extends string, A extends object>(r: VerbRow<K, A>): VerbRow<K, A> {
  return r;
}

/** `verb args`, as the usage error and `cat ctl` show it. */
export function usageLine(r: AnyRow): string {
  return r.args === '' ? r.verb : `${r.verb} ${r.args}`;
}

export function usageError(r: AnyRow): BadRequest {
  return new BadRequest(`usage: ${usageLine(r)}`);
}

function words(line: string): string[] {
  try {
    return tokenize(line);
  } catch (e) {
    if (e instanceof BadRequest) throw new BadRequest(`${e.message} in ${JSON.stringify(line)}`, { cause: e });
    throw e;
  }
}

/** The row whose verb words begin `tokens`, the longest first. */
function lookup<R extends AnyRow>(tab: Cmdtab<R>, tokens: readonly string[]): R | undefined {
  let best: R | undefined;
  let bestLength = 0;
  for (const r of tab.rows) {
    const v = r.verb.split(' ');
    if (v.length > bestLength && v.every((w, i) => tokens[i] === w)) {
      best = r;
      bestLength = v.length;
    }
  }
  return best;
}

/** Parse one message (one line) of the file whose table is `tab`; throws BadRequest. */
export function parseMessage<T extends Cmdtab>(tab: T, line: string): CommandOf<T> {
  const tokens = words(line);
  const r = lookup(tab, tokens);
  if (!r) throw new BadRequest(`unknown message ${JSON.stringify(quoteAll(tokens))}`);
  const args = tokens.slice(r.verb.split(' ').length);
  if (args.length < r.min || args.length > r.max) throw usageError(r);
  return { verb: r.verb, ...r.parse(args, () => usageError(r)) } as CommandOf<T>;
}

/** What a read of a ctl file that was not written on that open file returns. */
export function usageText(tab: Cmdtab): string {
  const lines: string[] = [];
  for (const r of tab.rows) {
    lines.push(r.note === undefined ? usageLine(r) : `${usageLine(r)}   ${r.note}`);
    lines.push(...(r.more ?? []));
  }
  return lines.join('\n') + '\n' + tab.footer;
}

function arity(r: AnyRow): string {
  if (r.max === Infinity) return `${r.min} or more`;
  return r.min === r.max ? String(r.min) : `${r.min}–${r.max}`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** The grammar section of docs/interface.md, rendered from the tables (test/unit/grammar.test.ts keeps the doc current). */
export function renderGrammar(tabs: readonly Cmdtab[]): string {
  const out: string[] = [];
  for (const tab of tabs) {
    out.push(`#### \`${tab.file}\``, '', '```', usageText(tab).trimEnd(), '```', '');
    out.push('| message | words after the verb | does | a read after it returns |', '|---|---|---|---|');
    for (const r of tab.rows) out.push(`| \`${cell(usageLine(r))}\` | ${arity(r)} | ${cell(r.summary)} | ${cell(r.reply)} |`);
    out.push('');
  }
  return out.join('\n');
}
