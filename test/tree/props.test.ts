/**
 * Properties and lookup through the mounted tree (docs/interface.md §5.9): set at create and
 * through containers/NAME/properties, read back; by-property/ after a change; bad lines
 * refused with EINVAL and nothing changed; kept across a daemon restart (with the grace time).
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import { Tree } from '../helpers/tree.js';

const tree = new Tree('props');
test.before(async () => {
  await tree.start();
});
test.after.always(async () => {
  await tree.cleanup();
});

const C = (name: string, ...p: string[]) => tree.p('containers', name, ...p);
const props = (name: string) => fs.readFile(C(name, 'properties'), 'utf8');
const ls = async (...p: string[]) => (await fs.readdir(tree.p('by-property', ...p))).sort();

test.serial('set at create, read back; looked up by KEY=VALUE and by KEY', async (t) => {
  t.is(await tree.ctl(tree.p('ctl'), "create pr1 net=none prop.app=web prop.tier=front 'prop.note=a b=c'"), 'pr1');
  t.is(await tree.ctl(tree.p('ctl'), 'create pr2 net=none prop.app=db'), 'pr2');
  t.is(await props('pr1'), 'app=web\nnote=a b=c\ntier=front\n');
  t.is(await props('pr2'), 'app=db\n');
  t.deepEqual(await ls(), ['app', 'note', 'tier']);
  t.deepEqual(await ls('app=web'), ['pr1']);
  t.deepEqual(await ls('app=db'), ['pr2']);
  t.deepEqual(await ls('app=nothing'), [], 'a pair no container has is an empty directory');
  t.deepEqual(await ls('note=a b=c'), ['pr1'], 'the key ends at the first =');
  t.deepEqual(await ls('app'), ['db', 'web']);
  t.deepEqual(await ls('app', 'web'), ['pr1']);
  t.is(await fs.readlink(tree.p('by-property', 'app=web', 'pr1')), '../../containers/pr1');
  t.is(await fs.readlink(tree.p('by-property', 'app', 'web', 'pr1')), '../../../containers/pr1');
  // the links lead to the container
  t.is(await fs.readFile(tree.p('by-property', 'app=web', 'pr1', 'properties'), 'utf8'), await props('pr1'));
  t.regex((await tree.sh('cat "$M/by-property/app/db/pr2/status"')).stdout, /^name: pr2$/m);
  // not there
  for (const p of ['nokey', 'app/nothing', 'app=web/pr2', 'bad/key=x']) {
    const r = await tree.sh(`ls "$M/by-property/${p}"`);
    t.not(r.exitCode, 0, p);
    t.regex(r.stderr, /No such file or directory/, p);
  }
});

test.serial('the table: > replaces, >> adds (a key again replaces its value), one write with a key twice: the last wins, : > empties', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create pr3 net=none prop.x=1');
  let r = await tree.sh(`printf 'b=2\\na=1\\n' > "$M/containers/pr3/properties"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await props('pr3'), 'a=1\nb=2\n');
  r = await tree.sh(`echo c=3 >> "$M/containers/pr3/properties"; echo a=9 >> "$M/containers/pr3/properties"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await props('pr3'), 'a=9\nb=2\nc=3\n');
  r = await tree.sh(`printf 'k=first\\nk=second\\n' > "$M/containers/pr3/properties"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await props('pr3'), 'k=second\n');
  r = await tree.sh(`: > "$M/containers/pr3/properties"`);
  t.is(r.exitCode, 0, r.stderr);
  t.is(await props('pr3'), '');
  t.false((await ls()).includes('k'), 'a key no container has is gone from by-property/');
  t.regex(await fs.readFile(C('pr3', 'events'), 'utf8'), /^properties 0$/m);
});

test.serial('lookup after a change: the old value is gone, the new one there, at once', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create pr4 net=none prop.role=blue');
  t.deepEqual(await ls('role=blue'), ['pr4']);
  t.deepEqual(await ls('role'), ['blue']);
  // a stat of the link just before the change: no stale cache after it
  await fs.lstat(tree.p('by-property', 'role=blue', 'pr4'));
  await fs.writeFile(C('pr4', 'properties'), 'role=green\n');
  t.deepEqual(await ls('role=blue'), []);
  t.deepEqual(await ls('role=green'), ['pr4']);
  t.deepEqual(await ls('role'), ['green']);
  await t.throwsAsync(fs.lstat(tree.p('by-property', 'role=blue', 'pr4')), { code: 'ENOENT' });
  await t.throwsAsync(fs.lstat(tree.p('by-property', 'role', 'blue')), { code: 'ENOENT' });
  // destroyed: gone from the lookup
  await tree.ctl(tree.p('ctl'), 'destroy pr4');
  t.deepEqual(await ls('role=green'), []);
  t.false((await ls()).includes('role'));
});

test.serial('bad lines and options are EINVAL and change nothing', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create pr5 net=none prop.keep=me');
  for (const line of ['bad/key=1', '.=1', '..=1', 'k=a/b', 'k=', 'novalue', `${'k'.repeat(64)}=1`, `k=${'v'.repeat(192)}`]) {
    for (const flag of ['w', 'a']) { // > and >>
      await t.throwsAsync(fs.writeFile(C('pr5', 'properties'), `ok=1\n${line}\n`, { flag }), { code: 'EINVAL' }, `${flag} ${line}`);
      t.is(await props('pr5'), 'keep=me\n', `${flag} ${line}: nothing changed`);
    }
  }
  t.regex(await fs.readFile(C('pr5', 'events'), 'utf8'), /^error: bad property key "bad\/key"/m);
  await t.throwsAsync(fs.writeFile(tree.p('ctl'), 'create pr6 net=none prop.a/b=1\n'), { code: 'EINVAL' });
  t.false((await fs.readdir(tree.p('containers'))).includes('pr6'), 'no container made');
  t.deepEqual(await ls('keep'), ['me']);
});

test.serial('a daemon restart keeps properties and the grace time', async (t) => {
  await tree.ctl(tree.p('ctl'), 'create pr7 net=none prop.svc=api grace=1h');
  await fs.writeFile(C('pr7', 'properties'), 'svc=api\nzone=a\n');
  await tree.stop();
  await tree.start();
  t.is(await props('pr7'), 'svc=api\nzone=a\n');
  t.is(await fs.readFile(C('pr7', 'grace'), 'utf8'), '1h\n');
  t.deepEqual(await ls('zone=a'), ['pr7']);
  t.deepEqual(await ls('svc', 'api'), ['pr7']);
});
