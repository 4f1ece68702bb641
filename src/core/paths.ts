/**
 * The layout of a state dir. Everything a daemon knows survives in here, so that a
 * restarted daemon (same --state-dir) finds every container and image again.
 *
 *   STATE/daemon.pid                the running daemon (one per state dir)
 *   STATE/events                    global events
 *   STATE/images/NAME/…             see drivers/images/store.ts
 *   STATE/runtime/                  the OCI runtime's --root
 *   STATE/containers/NAME/
 *     container.json                the record; written last at create (the "created" mark)
 *     events                        the container's events
 *     bundle/config.json            the OCI bundle (root.path = rootfs below)
 *     upper/ work/                  the container's own overlay layer
 *     layer.img                     with disk.max: the layer's own file system (XFS image, drivers/rootfs/disklayer.ts)
 *     layer/upper/ layer/work/      … mounted on layer/, holding the overlay layer instead of upper/ and work/
 *     lower/                        where the image's idmapped mount is attached while the overlay is mounted (user namespace)
 *     rootfs/                       the merged overlay mount
 *     changing                      a settings change under way (core/changes.ts)
 */
import path from 'node:path';

export class StatePaths {
  constructor(readonly root: string) {}

  get pidFile(): string { return path.join(this.root, 'daemon.pid'); }
  get events(): string { return path.join(this.root, 'events'); }
  get images(): string { return path.join(this.root, 'images'); }
  get runtimeRoot(): string { return path.join(this.root, 'runtime'); }
  get containers(): string { return path.join(this.root, 'containers'); }

  container(name: string): ContainerPaths {
    return new ContainerPaths(path.join(this.containers, name));
  }
}

export class ContainerPaths {
  constructor(readonly dir: string) {}

  get record(): string { return path.join(this.dir, 'container.json'); }
  get events(): string { return path.join(this.dir, 'events'); }
  get bundle(): string { return path.join(this.dir, 'bundle'); }
  get config(): string { return path.join(this.dir, 'bundle', 'config.json'); }
  get upper(): string { return path.join(this.dir, 'upper'); }
  get work(): string { return path.join(this.dir, 'work'); }
  get rootfs(): string { return path.join(this.dir, 'rootfs'); }
  get idmappedLower(): string { return path.join(this.dir, 'lower'); }
  get layerImage(): string { return path.join(this.dir, 'layer.img'); }
  get layer(): string { return path.join(this.dir, 'layer'); }
  get layerUpper(): string { return path.join(this.dir, 'layer', 'upper'); }
  get layerWork(): string { return path.join(this.dir, 'layer', 'work'); }
  /** There while a change of the settings is under way (core/changes.ts). */
  get changing(): string { return path.join(this.dir, 'changing'); }
}
