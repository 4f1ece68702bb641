/**
 * A fresh wardenfs tree per test file: its own mountpoint and state dir under a
 * temporary directory, the real daemon (bin/wardenfs.js) in a child process, and a
 * cleanup that leaves nothing behind even after a failure (stop, reset, remove).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, mkdtempSync, chmodSync } from 'node:fs';
import { claimSubnet, releaseSubnet, SUBNET_THIRD } from './subnets.js';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PROJECT = path.resolve(here, '../../..');
export const CLI = path.join(PROJECT, 'bin/wardenfs.js');

export interface TreeOptions {
  /** Extra command-line options for `mount`. */
  args?: string[];
  /** Extra environment of the daemon (DEBUG …). */
  env?: Record<string, string>;
  /** The command that runs the CLI (default: this checkout's, `node bin/wardenfs.js`). */
  launcher?: string[];
}

export class Tree {
  readonly base: string;
  readonly mnt: string;
  readonly state: string;
  daemon?: ChildProcess;
  log = '';
  /** This tree's second octet, claimed host-wide at construction (helpers/subnets.ts). */
  private readonly octet: number;

  /** The subnet prefix: containers of this tree get 10.N.K.x (K: see SUBNET_THIRD). */
  get net(): string {
    return `10.${this.octet}.${SUBNET_THIRD}`;
  }

  constructor(readonly tag: string, readonly options: TreeOptions = {}) {
    this.base = mkdtempSync(path.join(os.tmpdir(), `wfs-${tag}-`));
    // Containers in a user namespace set up their root as an unprivileged host id: the
    // runtime must be able to pass through every directory above it (search only).
    chmodSync(this.base, 0o711);
    this.mnt = path.join(this.base, 'mnt');
    this.state = path.join(this.base, 'state');
    this.octet = claimSubnet(tag, this.base);
  }

  /** A path inside the mounted tree. */
  p(...parts: string[]): string {
    return path.join(this.mnt, ...parts);
  }

  /** Start the daemon and wait for its `ready MOUNTPOINT` line. */
  async start(): Promise<void> {
    const subnet = ['--subnet', `${this.net}.0/24`];
    const [file, ...pre] = this.options.launcher ?? [process.execPath, CLI];
    const child = spawn(file!, [...pre, 'mount', this.mnt, '--state-dir', this.state, ...subnet, ...(this.options.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBUG: process.env.WARDENFS_TEST_DEBUG ?? '', ...this.options.env },
    });
    this.daemon = child;
    child.stderr!.on('data', (d: Buffer) => { this.log += d.toString(); });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`daemon not ready after 60 s:\n${this.log}`)), 60_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes(`ready ${this.mnt}\n`)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`daemon exited (${code ?? sig}) before ready:\n${this.log}`));
      });
    });
  }

  /** SIGTERM the daemon and wait for it to exit; returns its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.daemon;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      return exited;
    }
    return code;
  }

  /** Everything back as it was: daemon stopped, stale mount cleared, containers reset, files gone. */
  async cleanup(): Promise<void> {
    await this.stop().catch(() => undefined);
    await execa('fusermount', ['-u', '-z', this.mnt], { reject: false });
    await execa(process.execPath, [CLI, 'reset', '--state-dir', this.state], { reject: false });
    await fs.rm(this.base, { recursive: true, force: true });
    releaseSubnet(this.octet, this.base);
  }

  /** Run a shell command line the way a user would, with $M set to the mountpoint. */
  sh(script: string) {
    return execa('sh', ['-c', script], { reject: false, env: { M: this.mnt }, timeout: 60_000 });
  }

  /** Write one message to a ctl file with a single write(); resolves to the reply read back on the same open file. */
  async ctl(ctlPath: string, message: string): Promise<string> {
    const fh = await fs.open(ctlPath, 'r+');
    try {
      await fh.write(message.endsWith('\n') ? message : message + '\n');
      const buf = Buffer.alloc(65536);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString().trimEnd();
    } finally {
      await fh.close();
    }
  }

  /** containers/NAME/status as key → value. */
  async status(name: string): Promise<Record<string, string>> {
    const text = await fs.readFile(this.p('containers', name, 'status'), 'utf8');
    return Object.fromEntries(text.trim().split('\n').map((l) => {
      const i = l.indexOf(': ');
      return [l.slice(0, i), l.slice(i + 2)];
    }));
  }
}
