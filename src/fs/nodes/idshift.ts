/**
 * Ownership as a container in a user namespace sees it (issue 11 item 7): its ids
 * 0…size-1 are the host's base…base+size-1. rootfs/ shows the host the container's view
 * (what `ls -ln` shows inside), takes chown values in that view, and gives what the host
 * makes through the tree to the container's root; a host id outside the range shows as
 * the kernel's overflow id 65534, as inside. Pure; a privileged container has no shift.
 */
import { BadRequest } from '../../errors.js';

/** The kernel's overflowuid/overflowgid: how an id with no mapping is shown. */
export const OVERFLOW_ID = 65534;

export class IdShift {
  constructor(readonly base: number, readonly size: number) {}

  /** A host id as the container sees it. */
  toContainer(hostId: number): number {
    return hostId >= this.base && hostId < this.base + this.size ? hostId - this.base : OVERFLOW_ID;
  }

  /** A container id (chown through the tree) as stored on the host; -1 keeps -1 ("unchanged"). */
  toHost(id: number): number {
    if (id === -1 || id === 0xffffffff) return -1;
    if (id < 0 || id >= this.size) throw new BadRequest(`id ${id} is not mapped in the container (0-${this.size - 1})`);
    return this.base + id;
  }

  /** The owner of what the host makes through the tree: the container's root. */
  get root(): number {
    return this.base;
  }
}
