/**
 * Carrying out ctl messages. The parser (ctl/) turns text into Commands; this module
 * does them, in order, stopping at the first that fails. A failure is appended to the
 * right events file as `error: MESSAGE` and rethrown, so the write() fails with its errno.
 * The result of the last message is what a read on the same open file returns.
 */
import { BadRequest, WardenError, SystemFailure, q } from '../errors.js';
import { splitMessages } from '../ctl/tokenize.js';
import {
  parseGlobal, parseContainer, parseProcess,
  type GlobalCommand, type ContainerCommand,
} from '../ctl/messages.js';
import type { EventLog } from './events.js';
import type { Registry } from './registry.js';
import type { Lifecycle } from './lifecycle.js';
import type { ImageStore } from '../drivers/images/store.js';
import { logger } from '../util/log.js';

const log = logger('ctl');

export const OK = 'ok';

/**
 * The grammar is Plan 9's: only single quotes quote. A double quote is an ordinary
 * character (refusing it would refuse legitimate values), so a failed message that holds
 * one says so.
 */
export const DOUBLE_QUOTE_HINT = "double quotes are literal characters: quote with '...' (Plan 9 rules)";

function asWardenError(e: unknown): WardenError {
  if (e instanceof WardenError) return e;
  log('unexpected failure: %O', e);
  return new SystemFailure(e instanceof Error ? e.message : String(e), { cause: e });
}

/** Run every message of the given lines (whole lines of one ctl write, or its last line at close); log and rethrow the first failure. */
async function runAll<C>(text: string, parse: (line: string) => C, exec: (c: C) => Promise<string>, events: () => EventLog): Promise<string> {
  const messages = splitMessages(text);
  if (messages.length === 0) {
    const e = new BadRequest('empty message');
    await events().error(e.message);
    throw e;
  }
  let result = OK;
  for (const line of messages) {
    try {
      result = await exec(parse(line));
    } catch (raw) {
      const e = asWardenError(raw);
      if (line.includes('"')) e.message += ` (${DOUBLE_QUOTE_HINT})`;
      await events().error(e.message);
      throw e;
    }
  }
  return result;
}

/** What carrying out messages uses (the Warden has them all; core unit tests pass fakes). */
export interface CommandTargets {
  readonly registry: Pick<Registry, 'get'>;
  readonly events: EventLog;
  readonly lifecycle: Pick<Lifecycle, 'create' | 'destroy'>;
  readonly images: Pick<ImageStore, 'import' | 'remove'>;
}

export class Commands {
  constructor(private readonly w: CommandTargets) {}

  global(text: string): Promise<string> {
    return runAll(text, parseGlobal, (c) => this.execGlobal(c), () => this.w.events);
  }

  container(name: string, text: string): Promise<string> {
    const c = this.w.registry.get(name);
    return runAll(text, parseContainer, (cmd) => this.execContainer(name, cmd), () => c.events);
  }

  /** A process's own ctl: `kill [SIGNAL]`, `closein`. Errors go to the container's events. */
  process(name: string, id: string, text: string): Promise<string> {
    const c = this.w.registry.get(name);
    return runAll(text, parseProcess, async (cmd) => {
      if (cmd.verb === 'kill') await c.procs.kill(id, cmd.signal);
      else await c.procs.closeStdin(id);
      return OK;
    }, () => c.events);
  }

  private async execGlobal(c: GlobalCommand): Promise<string> {
    switch (c.verb) {
      case 'create':
        return (await this.w.lifecycle.create(c.name, c.options)).name;
      case 'destroy':
        await this.w.lifecycle.destroy(c.name);
        return OK;
      case 'image import':
        await this.w.images.import(c.name, c.path, (line) => void this.w.events.append(line));
        await this.w.events.append(`image imported ${c.name}`);
        return OK;
      case 'image remove':
        await this.w.images.remove(c.name);
        await this.w.events.append(`image removed ${c.name}`);
        return OK;
    }
  }

  private async execContainer(name: string, c: ContainerCommand): Promise<string> {
    const container = this.w.registry.get(name);
    if (container.state !== 'active' && c.verb !== 'destroy') throw new BadRequest(`container ${q(name)} is being destroyed`);
    switch (c.verb) {
      case 'destroy':
        await this.w.lifecycle.destroy(name);
        return OK;
      case 'run': {
        const { verb: _verb, ...options } = c;
        return container.procs.run(options);
      }
      case 'kill':
        await container.procs.kill(c.id, c.signal);
        return OK;
      case 'stop':
        await container.procs.stop(c.seconds);
        return OK;
    }
  }
}
