import test from 'ava';
import { containedLinkTarget, splitRel } from '../../src/fs/nodes/confine.js';

test('relative links that stay inside are shown as stored', (t) => {
  t.is(containedLinkTarget('bin/sh', 'busybox'), 'busybox');
  t.is(containedLinkTarget('usr/bin/wget', '../../bin/busybox'), '../../bin/busybox');
  t.is(containedLinkTarget('a/b/c', './d'), './d');
});

test('absolute links are taken from the container root', (t) => {
  t.is(containedLinkTarget('bin', '/usr/bin'), 'usr/bin');
  t.is(containedLinkTarget('a/b/link', '/etc/passwd'), '../../etc/passwd');
  t.is(containedLinkTarget('link', '/'), '.');
  t.is(containedLinkTarget('a/link', '/'), '..');
  t.is(containedLinkTarget('a/link', '/etc/'), '../etc/');
});

test('.. stops at the container root', (t) => {
  t.is(containedLinkTarget('tmp/evil', '../../../../etc/shadow'), '../etc/shadow');
  t.is(containedLinkTarget('evil', '..'), '.');
  t.is(containedLinkTarget('a/b/evil', '/../../x'), '../../x');
});

test('splitRel drops empty and dot components', (t) => {
  t.deepEqual(splitRel(''), []);
  t.deepEqual(splitRel('a//b/./c'), ['a', 'b', 'c']);
});
