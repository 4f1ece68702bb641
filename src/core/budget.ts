/**
 * The bound on readers blocked in the tree (stream reads at the end of a running
 * process's output, `wait`) and on writers blocked on a process's full stdin: libfuse2
 * holds a thread per pending request with no upper bound, so the daemon refuses past
 * this number with EAGAIN rather than starve.
 */
import { TryAgain } from '../errors.js';

export class ReaderBudget {
  private used = 0;

  constructor(readonly max: number) {}

  acquire(): void {
    if (this.used >= this.max) throw new TryAgain(`too many blocked readers (${this.max}); try again later`);
    this.used++;
  }

  release(): void {
    this.used = Math.max(0, this.used - 1);
  }

  /** Hold one place of the budget while `wait` is pending. */
  async hold<T>(wait: Promise<T>): Promise<T> {
    this.acquire();
    try {
      return await wait;
    } finally {
      this.release();
    }
  }
}
