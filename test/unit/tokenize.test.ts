import test from 'ava';
import { tokenize, quote, quoteAll, splitMessages } from '../../src/ctl/tokenize.js';
import { BadRequest } from '../../src/errors.js';

const cases: Array<[string, string[]]> = [
  ['create web', ['create', 'web']],
  ['  create\tweb  \r\n', ['create', 'web']],
  ["run sh -c 'echo hi; sleep 1'", ['run', 'sh', '-c', 'echo hi; sleep 1']],
  ["echo 'it''s'", ['echo', "it's"]],
  ["a'b c'd", ['ab cd']],
  ["''", ['']],
  ["x '' y", ['x', '', 'y']],
  ["''''", ["'"]],
  ['', []],
  ['   ', []],
  ['a\tb\nc', ['a', 'b', 'c']],
  ['unicode é ✓', ['unicode', 'é', '✓']],
];

for (const [input, expected] of cases) {
  test(`tokenize ${JSON.stringify(input)}`, (t) => {
    t.deepEqual(tokenize(input), expected);
  });
}

test('an unterminated quote is an error', (t) => {
  t.throws(() => tokenize("run 'oops"), { instanceOf: BadRequest, message: 'unterminated quote' });
  t.throws(() => tokenize("'''"), { instanceOf: BadRequest });
});

test('quote leaves plain tokens alone and round-trips the rest', (t) => {
  t.is(quote('web'), 'web');
  t.is(quote(''), "''");
  t.is(quote('a b'), "'a b'");
  t.is(quote("it's"), "'it''s'");
  for (const tokens of [['sh', '-c', "echo 'hi there'; x"], ['', 'a\tb', "''"], ['plain']]) {
    t.deepEqual(tokenize(quoteAll(tokens)), tokens);
  }
});

test('splitMessages: one line one message, blank lines skipped', (t) => {
  t.deepEqual(splitMessages('create a\n\ncreate b\n'), ['create a', 'create b']);
  t.deepEqual(splitMessages('\n'), []);
});

test('a huge input tokenizes without trouble', (t) => {
  const big = 'x '.repeat(100000);
  t.is(tokenize(big).length, 100000);
});
