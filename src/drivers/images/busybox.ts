/**
 * The default image: a root filesystem made from Debian's busybox-static. One static
 * binary, a relative symlink per applet (so the tree is correct wherever it is mounted),
 * and the few /etc files programs expect.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run } from '../../util/exec.js';
import { SystemFailure } from '../../errors.js';

export const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

const DIRS: Array<[string, number]> = [
  ['bin', 0o755], ['sbin', 0o755], ['usr', 0o755], ['usr/bin', 0o755], ['usr/sbin', 0o755],
  ['etc', 0o755], ['root', 0o700], ['home', 0o755], ['tmp', 0o1777], ['var', 0o755],
  ['var/log', 0o755], ['var/tmp', 0o1777], ['run', 0o755], ['proc', 0o555], ['sys', 0o555],
  ['dev', 0o755], ['mnt', 0o755],
];

const ETC: Record<string, string> = {
  passwd: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  group: 'root:x:0:\nnobody:x:65534:\n',
  hosts: '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n',
  'resolv.conf': '',
  hostname: 'busybox\n',
  shadow: 'root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n',
};

async function findBusybox(): Promise<string> {
  for (const p of BUSYBOX_CANDIDATES) {
    try {
      const st = await fs.stat(p);
      if (st.isFile()) return p;
    } catch { /* try the next */ }
  }
  throw new SystemFailure('no busybox binary found: install Debian\'s busybox-static (scripts/setup.sh does)');
}

/** Build the busybox root filesystem into `rootfs` (an empty or missing directory). */
export async function buildBusyboxRootfs(rootfs: string): Promise<void> {
  const busybox = await findBusybox();
  await fs.mkdir(rootfs, { recursive: true, mode: 0o755 });
  for (const [dir, mode] of DIRS) {
    const p = path.join(rootfs, dir);
    await fs.mkdir(p, { recursive: true });
    await fs.chmod(p, mode);
  }
  await fs.copyFile(busybox, path.join(rootfs, 'bin/busybox'));
  await fs.chmod(path.join(rootfs, 'bin/busybox'), 0o755);

  const { stdout } = await run(busybox, ['--list-full']);
  for (const applet of stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (applet === 'bin/busybox' || applet.includes('..')) continue;
    const link = path.join(rootfs, applet);
    await fs.mkdir(path.dirname(link), { recursive: true });
    const target = path.relative(path.dirname(applet), 'bin/busybox');
    await fs.symlink(target, link).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
  for (const [name, content] of Object.entries(ETC)) {
    await fs.writeFile(path.join(rootfs, 'etc', name), content, { mode: name === 'shadow' ? 0o640 : 0o644 });
  }
}
