/**
 * Changing a container's network settings through its net/ files: parse the lines (ctl/,
 * once), apply to the running container (core/network.ts), then record in container.json
 * and log in its events. A refused change is logged as an error and changes nothing.
 */
import { describe } from '../errors.js';
import { parsePortForward, parseEgressRule, parseRate } from '../ctl/net-values.js';
import { formatPortForward, formatRate } from '../model/net.js';
import type { Container } from './container.js';
import type { Network } from './network.js';
import { saveRecord } from './record.js';
import { markedChange } from './changes.js';

async function record(c: Container, line: string): Promise<void> {
  await saveRecord(c.paths, c.record);
  await c.events.append(line);
}

/** The change, marked on disk while under way (core/changes.ts); a failure goes to events. */
async function logged<T>(c: Container, fn: () => Promise<T>): Promise<T> {
  try {
    return await markedChange(c.paths, fn);
  } catch (e) {
    await c.events.error(describe(e));
    throw e;
  }
}

export function setPorts(net: Network, c: Container, lines: string[]): Promise<void> {
  return logged(c, async () => {
    const forwards = lines.map((l) => parsePortForward(l));
    await net.applyPorts(c.record, forwards);
    c.record.settings.ports = forwards;
    await record(c, `ports ${forwards.map(formatPortForward).join(' ') || '(none)'}`);
  });
}

export function setRules(net: Network, c: Container, lines: string[]): Promise<void> {
  return logged(c, async () => {
    const rules = lines.map((l) => parseEgressRule(l));
    await net.applyRules(c.record, rules);
    c.record.settings.rules = rules;
    await record(c, `rules ${rules.length}`);
  });
}

export function setRate(net: Network, c: Container, text: string): Promise<void> {
  return logged(c, async () => {
    const rate = parseRate(text);
    await net.applyRate(c.record, rate);
    c.record.settings.rate = rate;
    await record(c, `rate ${formatRate(rate)}`);
  });
}
