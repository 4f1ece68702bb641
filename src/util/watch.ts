/**
 * inotify watches (fs.watch) that may be refused: when the host's watches are exhausted
 * (fs.inotify.max_user_watches or max_user_instances, ENOSPC/EMFILE) every caller falls back
 * to the once-a-second periodic check. The first refusal of an episode, and the first watch
 * that works again after it, are told to whoever set `onWatchState` (the Warden writes them
 * to the global events): said once, not once per watch.
 */
import { watch, type FSWatcher, type WatchListener } from 'node:fs';
import { logger } from './log.js';

const log = logger('watch');

type StateListener = (state: 'exhausted' | 'available', cause?: unknown) => void;

let listener: StateListener | undefined;
let exhausted = false;

/** Who hears of an episode of refused watches (one listener: the daemon's Warden). */
export function onWatchState(l: StateListener | undefined): void {
  listener = l;
  exhausted = false;
}

/**
 * A watch of `file`, or undefined when the kernel refuses one (the caller then relies on the
 * periodic check). An error of the watch later is logged and closes it.
 */
export function tryWatch(file: string, onChange: WatchListener<string>, onError?: () => void): FSWatcher | undefined {
  let w: FSWatcher;
  try {
    w = watch(file, { persistent: false }, onChange);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // A missing file is the caller's business; running out of watches is the host's state.
    if (code === 'ENOSPC' || code === 'EMFILE') {
      if (!exhausted) {
        exhausted = true;
        listener?.('exhausted', e);
      }
    }
    log('no watch of %s: %s', file, e);
    return undefined;
  }
  if (exhausted) {
    exhausted = false;
    listener?.('available');
  }
  w.on('error', (e) => {
    log('watch of %s: %s', file, e);
    w.close();
    onError?.();
  });
  return w;
}
