/**
 * What the network test files share: running a program in a container of a tree, its end,
 * an HTTP GET from the host, and a busybox httpd serving the container's name.
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { Tree } from './tree.js';
import { sleep } from './host.js';

export function netHelpers(tree: Tree) {
  const C = (name: string, ...p: string[]) => tree.p('containers', name, ...p);
  const run = (name: string, cmd: string): Promise<string> => tree.ctl(C(name, 'ctl'), `run ${cmd}`);
  async function finish(name: string, id: string): Promise<{ status: string; out: string; err: string }> {
    const status = await fs.readFile(C(name, 'procs', id, 'wait'), 'utf8');
    return { status, out: await fs.readFile(C(name, 'procs', id, 'stdout'), 'utf8'), err: await fs.readFile(C(name, 'procs', id, 'stderr'), 'utf8') };
  }
  /** A body fetched from the host, or a rejection (refused, timed out). */
  function get(url: string, timeoutMs = 3000): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { timeout: timeoutMs }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => resolve(body));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }
  /** busybox httpd on port 80 of the container, serving "hello from NAME". */
  async function webServer(name: string): Promise<void> {
    await fs.mkdir(C(name, 'rootfs', 'www'), { recursive: true });
    await fs.writeFile(C(name, 'rootfs', 'www', 'index.html'), `hello from ${name}\n`);
    await run(name, 'httpd -f -p 80 -h /www');
    await sleep(300);
  }
  return { C, run, finish, get, webServer };
}
