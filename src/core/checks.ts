/**
 * The once-a-second check of every active container (Warden runs it): process ends that
 * inotify missed, waiting readers, output caps (ProcessTable.check). A failed check is
 * logged each time; one that fails again on the next tick is no race with a destroy but a
 * lasting fault, and goes once to the container's events (again only after a check has
 * passed).
 */
import { describe } from '../errors.js';
import { logger } from '../util/log.js';
import type { ContainerState } from './container.js';

/** What the check uses of a container (a Container is one). */
export interface Checked {
  readonly name: string;
  readonly state: ContainerState;
  readonly procs: { check(): Promise<void> };
  readonly events: { error(message: string): Promise<void> };
}

/** What it uses of the registry (the Registry is one). */
export interface CheckedContainers {
  all(): Iterable<Checked>;
  find(name: string): Checked | undefined;
}

export class PeriodicCheck {
  /** Per container (the object: a new container of the same name starts at 0), how many checks in a row have failed. */
  private readonly failed = new Map<Checked, number>();

  constructor(private readonly containers: CheckedContainers, private readonly log: (format: string, ...args: unknown[]) => void = logger('warden')) {}

  /** One tick: check each active container in turn. Never rejects. */
  async tick(): Promise<void> {
    for (const c of this.containers.all()) {
      if (c.state !== 'active') continue;
      try {
        await c.procs.check();
        this.failed.delete(c);
      } catch (e) {
        this.log('check of %s failed: %O', c.name, e);
        const n = (this.failed.get(c) ?? 0) + 1;
        this.failed.set(c, n);
        // Still the same, live container: a destroy (or a destroy and a create of the
        // same name) meanwhile is a race, not a fault of this one.
        if (n === 2 && c.state === 'active' && this.containers.find(c.name) === c) {
          await c.events.error(`checking the processes failed: ${describe(e)}`).catch((le: unknown) => this.log('events of %s: %s', c.name, le));
        }
      }
    }
    for (const c of this.failed.keys()) if (this.containers.find(c.name) !== c) this.failed.delete(c);
  }
}
