/** Synthetic directories: a fixed table of children (Plan 9's Dirtab), or a dynamic listing. */
import type { DirNode, Node } from './types.js';

export type Entry = [name: string, node: Node];

/** A directory whose children are a fixed table, made per lookup by the caller. */
export function tableDir(entries: () => Entry[]): DirNode {
  return {
    kind: 'dir',
    list: () => entries().map(([n]) => n),
    child: (name) => entries().find(([n]) => n === name)?.[1],
  };
}

/** A directory whose listing and children come from the domain (containers/, images/). */
export function dynamicDir(spec: Omit<DirNode, 'kind'>): DirNode {
  return { kind: 'dir', ...spec };
}
