/**
 * Bind mounts into a running container (native/rootfs/hostmount.c): a detached clone of a
 * host path, attached in the container's mount namespace at a path walked there without
 * following any symbolic link, and detached again. Knows nothing of records or tables.
 */
import { addon } from './addon.js';

/** A host path cloned and not attached yet: `path` is where it really is; close() it in every case. */
export interface HostTree {
  fd: number;
  path: string;
  dir: boolean;
  close(): Promise<void>;
}

/** Clone `hostPath` (recursively, nosuid and nodev, read-only unless `rw`). */
export async function openHostTree(hostPath: string, rw: boolean): Promise<HostTree> {
  const n = addon();
  const t = await n.bindOpen(hostPath, !rw);
  return { ...t, close: () => n.close(t.fd) };
}

/** Attach `tree` at `inside` (absolute) in the mount namespace of the container whose init is `pid`. */
export function attachTree(tree: HostTree, pid: number, inside: string): Promise<void> {
  return addon().bindAttach(tree.fd, pid, inside.replace(/^\/+/, ''));
}

/** Detach what is mounted at `inside` in the container whose init is `pid` (lazily, as umount -l). */
export function detachTree(pid: number, inside: string): Promise<void> {
  return addon().bindDetach(pid, inside.replace(/^\/+/, ''));
}
