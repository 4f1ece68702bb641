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
  type GlobalCommand, type ContainerCommand, type ProcessCommand,
} from '../ctl/messages.js';
import type { EventLog } from './events.js';
import type { Registry } from './registry.js';
import type { Container } from './container.js';
import type { Lifecycle } from './lifecycle.js';
import type { ImageStore } from '../drivers/images/store.js';
import { logger } from '../util/log.js';
import { commOf } from '../util/proc.js';
import { requestLine, type Caller } from '../model/caller.js';
import { commitContainer, type CommitImages } from './commit.js';

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

/**
 * Who sent a message, the line before its effects in the events it belongs to
 * (docs/interface.md §8): `KIND uid=U pid=P comm=NAME: TEXT`. The command name is read now,
 * while the caller still waits for its write() or close() (/proc/PID/comm; `?` when gone).
 */
export async function logRequest(events: EventLog, kind: string, who: Caller | undefined, text: string): Promise<void> {
  if (!who) return;
  await events.append(requestLine(kind, who, await commOf(who.pid), text));
}

/**
 * Run every message of the given lines (whole lines of one ctl write, or its last line at
 * close); log and rethrow the first failure. Each message's caller (`who`) is written to
 * events first, `prefix` before its text (a process ctl's says which process).
 */
async function runAll<C>(text: string, parse: (line: string) => C, exec: (c: C) => Promise<string>, events: () => EventLog, who?: Caller, prefix = ''): Promise<string> {
  const messages = splitMessages(text);
  if (messages.length === 0) {
    const e = new BadRequest('empty message');
    await events().error(e.message);
    throw e;
  }
  let result = OK;
  for (const line of messages) {
    try {
      await logRequest(events(), 'ctl', who, prefix + line);
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
  readonly images: Pick<ImageStore, 'import' | 'remove'> & CommitImages;
}

/** One handler per command kind of a table: a missing or misnamed one is a compile error. */
type Handlers<C extends { verb: string }, Ctx> = {
  readonly [K in C['verb']]: (command: Extract<C, { verb: K }>, ctx: Ctx) => Promise<string>;
};

function dispatch<C extends { verb: string }, Ctx>(handlers: Handlers<C, Ctx>, command: C, ctx: Ctx): Promise<string> {
  const handler = handlers[command.verb as C['verb']] as (command: C, ctx: Ctx) => Promise<string>;
  return handler(command, ctx);
}

/** The global ctl's verbs (ctl/messages.ts GLOBAL_CTL). */
const GLOBAL_HANDLERS: Handlers<GlobalCommand, CommandTargets> = {
  create: async (c, w) => (await w.lifecycle.create(c.name, c.options)).name,
  destroy: async (c, w) => {
    await w.lifecycle.destroy(c.name);
    return OK;
  },
  'image import': async (c, w) => {
    await w.images.import(c.name, c.path, (line) => void w.events.append(line));
    await w.events.append(`image imported ${c.name}`);
    return OK;
  },
  'image commit': async (c, w) => {
    await commitContainer(w.registry, w.images, c.name, c.container, (line) => void w.events.append(line));
    await w.events.append(`image committed ${c.name} from ${c.container}`);
    return OK;
  },
  'image remove': async (c, w) => {
    await w.images.remove(c.name);
    await w.events.append(`image removed ${c.name}`);
    return OK;
  },
};

interface ContainerContext { readonly w: CommandTargets; readonly name: string; readonly container: Container }

/** A container ctl's verbs (ctl/messages.ts CONTAINER_CTL). */
const CONTAINER_HANDLERS: Handlers<ContainerCommand, ContainerContext> = {
  run: (c, { container }) => {
    const { verb: _verb, ...options } = c;
    return container.procs.run(options);
  },
  kill: async (c, { container }) => {
    await container.procs.kill(c.id, c.signal);
    return OK;
  },
  stop: async (c, { container }) => {
    await container.procs.stop(c.seconds);
    return OK;
  },
  destroy: async (_c, { w, name }) => {
    await w.lifecycle.destroy(name);
    return OK;
  },
};

interface ProcessContext { readonly container: Container; readonly id: string }

/** A process ctl's verbs (ctl/messages.ts PROCESS_CTL). Errors go to the container's events. */
const PROCESS_HANDLERS: Handlers<ProcessCommand, ProcessContext> = {
  kill: async (c, { container, id }) => {
    await container.procs.kill(id, c.signal);
    return OK;
  },
  closein: async (_c, { container, id }) => {
    await container.procs.closeStdin(id);
    return OK;
  },
};

export class Commands {
  constructor(private readonly w: CommandTargets) {}

  /** `who`: the message's sender, named in events before its effects (none: not named). */
  global(text: string, who?: Caller): Promise<string> {
    return runAll(text, parseGlobal, (c) => dispatch(GLOBAL_HANDLERS, c, this.w), () => this.w.events, who);
  }

  container(name: string, text: string, who?: Caller): Promise<string> {
    const c = this.w.registry.get(name);
    return runAll(text, parseContainer, (cmd) => this.execContainer(name, cmd), () => c.events, who);
  }

  /** A process's own ctl: `kill [SIGNAL]`, `closein`. Errors go to the container's events. */
  process(name: string, id: string, text: string, who?: Caller): Promise<string> {
    const container = this.w.registry.get(name);
    return runAll(text, parseProcess, (cmd) => dispatch(PROCESS_HANDLERS, cmd, { container, id }), () => container.events, who, `process ${id}: `);
  }

  private async execContainer(name: string, c: ContainerCommand): Promise<string> {
    const container = this.w.registry.get(name);
    if (container.state !== 'active' && c.verb !== 'destroy') throw new BadRequest(`container ${q(name)} is being destroyed`);
    return dispatch(CONTAINER_HANDLERS, c, { w: this.w, name, container });
  }
}
