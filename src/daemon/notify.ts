/**
 * The service manager's readiness protocol (sd_notify, Type=notify in wardenfs.service).
 * $NOTIFY_SOCKET is taken out of the environment at once: every host program the daemon
 * runs inherits it otherwise, and runc and conmon given a NOTIFY_SOCKET proxy it into the
 * container and wait for the *container* to say READY=1 (catatonit never does).
 */
import { sdNotify } from '../drivers/rootfs/addon.js';
import { logger } from '../util/log.js';

const log = logger('daemon');

export interface Notifier {
  /** Send `KEY=VALUE` lines; a failure is logged, never thrown (the tree matters more). */
  send(...lines: string[]): void;
}

/** Take $NOTIFY_SOCKET (once, at start) and return what sends to it: a no-op without one. */
export function takeNotifySocket(env: NodeJS.ProcessEnv = process.env): Notifier {
  const socket = env.NOTIFY_SOCKET;
  delete env.NOTIFY_SOCKET;
  if (!socket) return { send: () => undefined };
  return {
    send(...lines: string[]) {
      // One line per key; a newline inside a value (a multi-line error) would start a bogus key.
      const text = lines.map((l) => l.replace(/\n/g, ' ')).join('\n');
      try {
        sdNotify(socket, text);
      } catch (e) {
        log('sd_notify %s: %s', text, e);
      }
    },
  };
}
