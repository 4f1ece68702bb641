/**
 * Grace time (docs/interface.md §5.10): a container with a grace time that has had no
 * running process and no use of its tree for that long is destroyed, with a global events
 * line saying why. The fs layer reports uses (Container.touch); a running process, or a run
 * being started, holds the clock; the clock starts at creation and again at adoption.
 *
 * Races: the last checks and the start of the destroy are one synchronous step (the
 * destroy marks the container `destroying` before its first await). A `run` is either
 * already under way then (its id reserved, so the container is busy and kept) or comes
 * after and is refused cleanly (`container "NAME" is being destroyed`): never half.
 */
import { describe } from '../errors.js';
import { formatDuration } from '../ctl/props.js';
import { logger } from '../util/log.js';
import type { ContainerState } from './container.js';
import { monotonicMs } from './clock.js';


/** The decision: `grace` seconds have passed since the last use. */
export function graceDue(now: number, lastUse: number, grace: number | undefined): boolean {
  return grace !== undefined && now - lastUse >= grace * 1000;
}

/** What the check uses of a container (a Container is one). */
export interface GraceContainer {
  readonly name: string;
  readonly state: ContainerState;
  readonly record: { readonly grace?: number };
  readonly lastUse: number;
  touch(): void;
  readonly procs: {
    runningIds(): string[];
    /** A run is being started (its id is reserved). */
    starting(): boolean;
    /** What runs in its cgroup but the init (what an ended run left behind included). */
    members(): Promise<number[]>;
  };
  readonly events: { error(message: string): Promise<void> };
}

export interface GraceTargets {
  all(): Iterable<GraceContainer>;
  find(name: string): GraceContainer | undefined;
  /** Destroy it, `reason` in the events line. */
  destroy(name: string, reason: string): Promise<void>;
  /** Collect the uses the fs layer has not reported yet (those the FUSE binding answered itself). */
  probe(): void;
  /** Whether other containers join its namespaces (a CRI pod with containers): that holds the clock as a running process does. */
  joined?(name: string): boolean;
  now?(): number;
}

/** The reason in `destroyed NAME (…)`. */
export function graceReason(grace: number): string {
  return `grace: no process and no use for ${formatDuration(grace)}`;
}

export class GraceCheck {
  constructor(private readonly t: GraceTargets, private readonly log: (format: string, ...args: unknown[]) => void = logger('grace')) {}

  private now(): number {
    return this.t.now ? this.t.now() : monotonicMs();
  }

  private static busy(c: GraceContainer): boolean {
    return c.procs.starting() || c.procs.runningIds().length > 0;
  }

  /** One tick: destroy the containers whose grace time has passed. Never rejects; returns the names it began to destroy. */
  async tick(): Promise<string[]> {
    const destroyed: string[] = [];
    for (const c of [...this.t.all()]) {
      if (c.state !== 'active' || c.record.grace === undefined) continue;
      if (GraceCheck.busy(c) || this.t.joined?.(c.name)) {
        c.touch(); // a running process (or a container in its namespaces) holds the clock: the grace time counts from its end
        continue;
      }
      if (!graceDue(this.now(), c.lastUse, c.record.grace)) continue;
      try {
        if ((await c.procs.members()).length > 0) {
          c.touch(); // something an ended run left behind still runs
          continue;
        }
      } catch (e) {
        this.log('members of %s: %s', c.name, e);
        continue;
      }
      try {
        this.t.probe();
      } catch (e) {
        this.log('probe: %s', e); // the uses it would have found are missed this once: not destroyed on a guess
        continue;
      }
      // From here to the destroy's first await nothing else runs: checked again, then marked.
      const grace = c.record.grace;
      if (c.state !== 'active' || this.t.find(c.name) !== c || GraceCheck.busy(c) || !graceDue(this.now(), c.lastUse, grace)) continue;
      destroyed.push(c.name);
      this.log('%s: grace time of %ds passed', c.name, grace);
      // Not awaited: one slow teardown does not hold the others' checks.
      this.t.destroy(c.name, graceReason(grace!)).catch(async (e: unknown) => {
        this.log('grace destroy of %s: %O', c.name, e);
        await c.events.error(`destroy after the grace time failed: ${describe(e)}`).catch(() => undefined);
      });
    }
    return destroyed;
  }
}
