/** The test fixture that gives each tree its own subnet (test/helpers/subnets.ts): claims, collisions, stale claims. */
import test from 'ava';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { claimSubnet, releaseSubnet, preferred, FIRST, LAST, SUBNET_THIRD } from '../helpers/subnets.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'wfs-subnets-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test.serial('a tag gets its preferred octet, the same every time; a second claim of it gets another', (t) => {
  const n = claimSubnet('alpha', 'one', dir);
  t.is(n, preferred('alpha'));
  t.true(n >= FIRST && n <= LAST);
  const m = claimSubnet('alpha', 'two', dir);
  t.not(m, n);
  t.deepEqual(readdirSync(dir).sort(), [`${n}.${SUBNET_THIRD}`, `${m}.${SUBNET_THIRD}`].sort());
  releaseSubnet(n, 'one', dir);
  t.is(claimSubnet('alpha', 'three', dir), n, 'released: the tag gets it again');
  releaseSubnet(n, 'three', dir);
  releaseSubnet(m, 'two', dir);
  t.deepEqual(readdirSync(dir), []);
});

test.serial('another owner\'s claim is not released', (t) => {
  const n = claimSubnet('beta', 'mine', dir);
  releaseSubnet(n, 'someone else', dir);
  t.deepEqual(readdirSync(dir), [`${n}.${SUBNET_THIRD}`]);
  releaseSubnet(n, 'mine', dir);
  t.deepEqual(readdirSync(dir), []);
});

test.serial('a claim of a live process is skipped, one of a dead process is taken over', (t) => {
  const n = preferred('gamma');
  const f = path.join(dir, `${n}.${SUBNET_THIRD}`);
  writeFileSync(f, `${process.ppid} another run`); // alive: our parent
  const m = claimSubnet('gamma', 'live', dir);
  t.not(m, n);
  releaseSubnet(m, 'live', dir);
  writeFileSync(f, '2147483646 a run that was killed'); // no such pid
  t.is(claimSubnet('gamma', 'stale', dir), n);
  releaseSubnet(n, 'stale', dir);
  t.deepEqual(readdirSync(dir), []);
});

test.serial('every octet claimed: a clear error', (t) => {
  // (octets on a host interface, e.g. of a tree test running now, are skipped: fewer may be claimed)
  const owners: Array<[number, string]> = [];
  const err = t.throws(() => {
    for (let i = 0; i <= LAST - FIRST + 1; i++) owners.push([claimSubnet('delta', `o${i}`, dir), `o${i}`]);
  }, { message: /no free test subnet/ });
  t.truthy(err);
  t.true(owners.length <= LAST - FIRST + 1);
  t.is(new Set(owners.map(([n]) => n)).size, owners.length, 'no octet twice');
  for (const [n, o] of owners) releaseSubnet(n, o, dir);
  t.deepEqual(readdirSync(dir), []);
});
