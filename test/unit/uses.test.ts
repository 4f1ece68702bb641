/**
 * What counts as a use of a container's tree (docs/interface.md §5.10), as the adapter
 * reports it (FuseAdapter.resolve): a path below a node with a use hook, not the node itself;
 * a request about a name inside it (create, mkdir, listing) counts for it too.
 */
import test from 'ava';
import { FuseAdapter } from '../../src/fs/adapter.js';
import { tableDir, dynamicDir } from '../../src/fs/nodes/dir.js';
import { textFile } from '../../src/fs/nodes/text.js';
import type { DirNode } from '../../src/fs/nodes/types.js';

function tree() {
  const uses: string[] = [];
  const container = tableDir(() => [['status', textFile(() => 'ok\n')], ['sub', tableDir(() => [['f', textFile(() => 'x')]])]]);
  const root = tableDir(() => [
    ['containers', dynamicDir({
      list: () => ['web'],
      child: (n) => (n === 'web' ? { ...container, use: () => uses.push('web') } as DirNode : undefined),
    })],
  ]);
  return { adapter: new FuseAdapter(root), uses };
}

test('a path below the container directory is a use; the directory itself and its parent are not', async (t) => {
  const { adapter, uses } = tree();
  await adapter.resolve('/containers');
  await adapter.resolve('/containers/web');
  t.deepEqual(uses, []);
  const target = await adapter.resolve('/containers/web/status');
  t.deepEqual(uses, ['web']);
  await adapter.resolve('/containers/web/sub/f');
  t.deepEqual(uses, ['web', 'web'], 'once per request, however deep');
  t.is(typeof target.use, 'function', 'kept for the reads and writes of a handle opened there');
  await t.throwsAsync(adapter.resolve('/containers/web/nothing'), { code: 'ENOENT' });
  t.is(uses.length, 3, 'a lookup that fails below it is a use too');
});

test('a request about a name inside the directory (listing, create) is a use', async (t) => {
  const { adapter, uses } = tree();
  await adapter.resolve('/containers/web', undefined, true);
  t.deepEqual(uses, ['web']);
  await adapter.resolve('/containers', undefined, true);
  t.deepEqual(uses, ['web'], 'listing containers/ uses none');
});
