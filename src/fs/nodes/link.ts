/** Synthetic symlinks: a fixed target the kernel follows itself; never removed through the tree. */
import type { LinkNode } from './types.js';

export function linkNode(target: string): LinkNode {
  return { kind: 'link', target };
}
