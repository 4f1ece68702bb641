/**
 * Changing a container's limits while it runs (docs/interface.md §5.6): parse the value (ctl/), write
 * it to the kernel (drivers/cgroups), then record it in container.json so that a
 * container started again after a reboot gets the same limits. A refused value changes
 * nothing and is logged in the container's events.
 */
import { describe } from '../errors.js';
import { parseLimit } from '../ctl/values.js';
import { putLimit, type LimitKey } from '../model/limits.js';
import { saveRecord } from './record.js';
import { markedChange } from './changes.js';
import type { Container } from './container.js';

export type { LimitKey } from '../model/limits.js';

export async function setLimit(c: Container, key: LimitKey, text: string): Promise<void> {
  try {
    const limit = parseLimit(key, text.trim());
    await markedChange(c.paths, async () => {
      await c.cgroup.write(limit);
      putLimit(c.record.settings, limit);
      await saveRecord(c.paths, c.record);
    });
    await c.events.append(`limit ${key}=${text.trim()}`);
  } catch (e) {
    await c.events.error(describe(e));
    throw e;
  }
}
