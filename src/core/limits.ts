/**
 * Changing a container's limits while it runs (docs/interface.md §5.6): parse the value (ctl/), write
 * it to the kernel (drivers/cgroups), then record it in container.json so that a
 * container started again after a reboot gets the same limits. A refused value changes
 * nothing and is logged in the container's events.
 */
import { describe } from '../errors.js';
import { applySetting } from '../ctl/messages.js';
import type { Settings } from '../model/settings.js';
import { saveRecord } from './record.js';
import type { Limit } from '../model/limits.js';
import type { Container } from './container.js';

export type LimitKey = Limit['key'];

export function parseLimit(key: LimitKey, text: string): Limit {
  const s: Settings = {};
  applySetting(s, key, text.trim());
  return { key, value: s[key] } as Limit;
}

export async function setLimit(c: Container, key: LimitKey, text: string): Promise<void> {
  try {
    const limit = parseLimit(key, text);
    await c.cgroup.write(limit);
    (c.record.settings as Record<string, unknown>)[key] = limit.value;
    await saveRecord(c.paths, c.record);
    await c.events.append(`limit ${key}=${text.trim()}`);
  } catch (e) {
    await c.events.error(describe(e));
    throw e;
  }
}
