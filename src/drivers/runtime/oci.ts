/**
 * The OCI runtime (runc, or crun with the same command line). Each daemon passes its
 * own `--root` inside its state dir, so daemons with different state dirs never see each
 * other's containers even when names are equal.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run, runWithStderrTo } from '../../util/exec.js';
import { SystemFailure, q } from '../../errors.js';
import { isErrno } from '../../util/files.js';
import { logger } from '../../util/log.js';

const log = logger('runtime');

export interface RuntimeState {
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
}

export class OciRuntime {
  constructor(readonly binary: string, readonly root: string) {}

  get name(): string {
    return path.basename(this.binary) === 'crun-v1-view' ? 'crun' : path.basename(this.binary);
  }

  private args(...rest: string[]): string[] {
    return ['--root', this.root, ...rest];
  }

  /**
   * Create and start the container detached. The init inherits the runtime's stdio, so
   * stdout/stdin are /dev/null and stderr is a log file in the bundle: a pipe there would
   * be held open by the init forever.
   */
  async runDetached(id: string, bundle: string): Promise<number> {
    const pidFile = path.join(bundle, 'init.pid');
    const logFile = path.join(bundle, 'runtime.log');
    const fh = await fs.open(logFile, 'w', 0o600);
    try {
      await runWithStderrTo(this.binary, this.args('run', '--detach', '--bundle', bundle, '--pid-file', pidFile, id), fh.fd);
    } catch (e) {
      // No log: the exit status below says what there is to say.
      const detail = (await fs.readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-2).join('; ');
      const failed = e instanceof SystemFailure ? e.run : undefined;
      throw new SystemFailure(`${this.name} could not start container ${q(id)}: ${detail || (e as Error).message}`, {
        cause: e,
        ...(failed ? { run: { ...failed, stderr: detail } } : {}),
      });
    } finally {
      await fh.close();
    }
    const pid = Number((await fs.readFile(pidFile, 'utf8')).trim());
    log('%s started, init pid %d', id, pid);
    return pid;
  }

  /** The runtime's view of the container, or undefined if it does not know it. */
  async state(id: string): Promise<RuntimeState | undefined> {
    try {
      const { stdout } = await run(this.binary, this.args('state', id));
      const s = JSON.parse(stdout) as RuntimeState;
      return { status: s.status, pid: s.pid };
    } catch (e) {
      if (await this.known(id)) throw e;
      return undefined;
    }
  }

  /** Whether the runtime has state for this id (its directory under --root). */
  async known(id: string): Promise<boolean> {
    try {
      await fs.access(path.join(this.root, id));
      return true;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw e;
    }
  }

  /** Kill everything and forget the container; the runtime removes its cgroups. Idempotent. */
  async delete(id: string): Promise<void> {
    if (!(await this.known(id))) return;
    try {
      await run(this.binary, this.args('delete', '--force', id));
    } catch (e) {
      if (await this.known(id)) throw e;
    }
  }

  async list(): Promise<string[]> {
    return fs.readdir(this.root).catch((e) => {
      if (isErrno(e, 'ENOENT')) return [] as string[];
      throw e;
    });
  }
}

