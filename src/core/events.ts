/**
 * An append-only event log: one line per event, oldest first, kept in a file so that
 * `tail -f` on the tree follows it and it survives restarts. Appends are serialised so
 * lines never interleave.
 */
import { promises as fs } from 'node:fs';
import { logger } from '../util/log.js';
import { APPEND_NOFOLLOW } from '../util/files.js';

const log = logger('events');

export class EventLog {
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  /** Append one event; newlines inside are folded so that one event stays one line. */
  append(line: string): Promise<void> {
    const text = line.replace(/[\r\n]+/g, ' ').trimEnd() + '\n';
    this.tail = this.tail.then(
      () => fs.appendFile(this.file, text, { mode: 0o644, flag: APPEND_NOFOLLOW }),
    ).catch((e: unknown) => log('cannot append to %s: %s', this.file, e));
    return this.tail;
  }

  error(message: string): Promise<void> {
    return this.append(`error: ${message}`);
  }
}
