/**
 * The image store keeps at most IMAGE_ROOTS_OPEN image roots open (issue 13.4: the resolver's
 * fds in a bounded cache): each is an fd and a detached mount. Needs root (open_tree).
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImageStore, IMAGE_ROOTS_OPEN } from '../../src/drivers/images/store.js';

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

test('image roots: the least recently used is closed past the bound, and opened again when used', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-imgroots-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const n = IMAGE_ROOTS_OPEN + 8;
  for (let i = 0; i < n; i++) {
    fs.mkdirSync(path.join(dir, `img${i}`, 'rootfs', 'etc'), { recursive: true });
    fs.writeFileSync(path.join(dir, `img${i}`, 'rootfs', 'etc', 'name'), `img${i}\n`);
  }
  const store = new ImageStore(dir, () => false);
  const before = openFds();
  const first = await store.resolver('img0');
  t.true(first.fd >= 0);
  for (let i = 1; i < n; i++) {
    const r = await store.resolver(`img${i}`);
    t.is((await r.readdir('etc')).join(), 'name');
  }
  await new Promise((res) => setTimeout(res, 50)); // the evicted ones close asynchronously
  t.is(first.fd, -1, 'the least recently used root was closed');
  t.true(openFds() - before <= IMAGE_ROOTS_OPEN, `${openFds() - before} fds held for ${n} images`);
  const again = await store.resolver('img0');
  t.not(again, first);
  t.is((await again.lstat('etc/name')).size, 5);
  for (let i = 0; i < n; i++) await (await store.resolver(`img${i}`)).close();
});
