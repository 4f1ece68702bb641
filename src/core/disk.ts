/**
 * A container's disk limit (docs/interface.md, disk.max and disk.current; docs/decisions.md,
 * "Disk limits"). A container created with `disk.max=SIZE` has its layer on a file system
 * of its own of that size (drivers/rootfs/disklayer.ts); the limit grows live. Lowering it,
 * or giving a limit to a container created without one, would need the layer moved or an
 * XFS shrunk: refused with the reason, changing nothing.
 */
import { BadRequest, Busy, describe } from '../errors.js';
import { parseDiskMax } from '../ctl/messages.js';
import { growLayerFs, layerFsUse, treeUse } from '../drivers/rootfs/disklayer.js';
import type { Container } from './container.js';
import { saveRecord } from './record.js';

/** One change of a container's limit at a time. */
const changing = new Map<string, Promise<unknown>>();

export function setDiskMax(c: Container, text: string): Promise<void> {
  const prev = changing.get(c.name) ?? Promise.resolve();
  const next = prev.then(() => apply(c, text), () => apply(c, text));
  const tail = next.catch(() => undefined);
  changing.set(c.name, tail);
  void tail.then(() => { if (changing.get(c.name) === tail) changing.delete(c.name); });
  return next;
}

async function apply(c: Container, text: string): Promise<void> {
  try {
    const want = parseDiskMax(text.trim());
    const cur = c.record.settings['disk.max'];
    if (typeof cur !== 'number') {
      if (want === 'max') return; // none, and none asked
      throw new BadRequest('this container was created without disk.max: its layer has no file system of its own (give disk.max=SIZE at create)');
    }
    if (want === 'max') throw new Busy(`disk.max cannot be taken off a container created with one (its layer is a file system of ${cur} bytes)`);
    if (want < cur) throw new Busy(`disk.max cannot be lowered from ${cur} while the layer is mounted (XFS cannot shrink)`);
    if (want === cur) return;
    await growLayerFs(c.paths.layerImage, c.paths.layer, want);
    c.record.settings['disk.max'] = want;
    await saveRecord(c.paths, c.record);
    await c.events.append(`limit disk.max=${want}`);
  } catch (e) {
    await c.events.error(describe(e));
    throw e;
  }
}

/** The text of disk.max: bytes, or `max`. */
export function diskMaxText(c: Container): string {
  const v = c.record.settings['disk.max'];
  return `${typeof v === 'number' ? v : 'max'}\n`;
}

/** The text of disk.current: `bytes N` and `inodes N` of the container's own layer. */
export async function diskCurrentText(c: Container): Promise<string> {
  const own = typeof c.record.settings['disk.max'] === 'number';
  const u = own ? await layerFsUse(c.paths.layer) : await treeUse(c.paths.upper);
  return `bytes ${u.bytes}\ninodes ${u.inodes}\n`;
}
