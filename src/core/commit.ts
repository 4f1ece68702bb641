/**
 * `image commit NEWNAME CONTAINER` (docs/interface.md §4, §5.11): the container's files
 * become a new image. The container is frozen for the copy (its cgroup's freezer), so that
 * what its processes write lands wholly before or wholly after the snapshot; it is thawed
 * whatever happens. Meanwhile a `run` in it and its destroy wait for the commit to end
 * (a runtime refuses to exec in a frozen container, and a destroy would pull the overlay
 * from under the copy). A daemon killed mid-commit leaves a frozen container: the next
 * start thaws every container it adopts (lifecycle.ts).
 */
import { Exists, BadRequest, Busy, q } from '../errors.js';
import { RootfsResolver } from '../drivers/rootfs/resolver.js';
import type { ImageStore } from '../drivers/images/store.js';
import type { CommitStats } from '../drivers/images/commit.js';
import type { Registry } from './registry.js';
import { logger } from '../util/log.js';

const log = logger('commit');

export type CommitImages = Pick<ImageStore, 'commit' | 'has' | 'isChanging'>;

export async function commitContainer(
  registry: Pick<Registry, 'get'>,
  images: CommitImages,
  newName: string,
  containerName: string,
  progress: (line: string) => void,
): Promise<CommitStats> {
  const c = registry.get(containerName); // NotFound: no such container
  if (images.isChanging(newName) || (await images.has(newName))) throw new Exists(`image ${q(newName)} exists`);
  // Checked after the await, in the same synchronous step as `committing` is set below: a
  // destroy that began meanwhile is seen here, and one that begins later waits for the commit.
  if (c.state !== 'active') throw new BadRequest(`container ${q(containerName)} is being destroyed`);
  if (c.committing) throw new Busy(`container ${q(containerName)} is being committed`);
  const work = (async (): Promise<CommitStats> => {
    const merged = await c.rootfs();
    const upper = await RootfsResolver.open(c.paths.upper);
    try {
      progress(`image commit ${newName}: freezing ${containerName}`);
      const t0 = Date.now();
      await c.cgroup.freeze();
      log('%s frozen in %d ms', containerName, Date.now() - t0);
      try {
        return await images.commit(
          newName,
          { merged, upper, image: c.record.image, container: containerName, ...(c.record.idmap ? { idmap: c.record.idmap } : {}) },
          c.record.imageConfig,
          progress,
        );
      } finally {
        await c.cgroup.thaw().catch((e: unknown) => log('thawing %s failed: %s', containerName, e)); // the commit's own outcome is what the caller hears
      }
    } finally {
      await upper.close();
    }
  })();
  c.committing = work.then(() => undefined, () => undefined);
  try {
    return await work;
  } finally {
    c.committing = undefined;
  }
}
