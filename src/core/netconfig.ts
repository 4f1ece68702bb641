/**
 * Changing a container's network settings through its net/ files: apply to the running
 * container (core/network.ts), then record in container.json and log in its events. A
 * refused change is logged as an error and changes nothing.
 */
import { describe } from '../errors.js';
import { writeFileAtomic } from '../util/files.js';
import type { Container } from './container.js';
import type { Network } from './network.js';

async function record(c: Container, line: string): Promise<void> {
  await writeFileAtomic(c.paths.record, JSON.stringify(c.record, null, 2) + '\n');
  await c.events.append(line);
}

async function logged<T>(c: Container, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    await c.events.error(describe(e));
    throw e;
  }
}

export function setPorts(net: Network, c: Container, lines: string[]): Promise<void> {
  return logged(c, async () => {
    c.record.settings.ports = await net.applyPorts(c.record, lines);
    await record(c, `ports ${c.record.settings.ports.join(' ') || '(none)'}`);
  });
}

export function setRules(net: Network, c: Container, lines: string[]): Promise<void> {
  return logged(c, async () => {
    c.record.settings.rules = await net.applyRules(c.record, lines);
    await record(c, `rules ${c.record.settings.rules.length}`);
  });
}

export function setRate(net: Network, c: Container, text: string): Promise<void> {
  return logged(c, async () => {
    c.record.settings.rate = await net.applyRate(c.record, text);
    await record(c, `rate ${c.record.settings.rate}`);
  });
}
