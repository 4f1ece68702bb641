/**
 * Inode numbers of the tree (issue 20.4): the kernel is told the files' real numbers (FUSE
 * `use_ino`), so that hard links are seen as such by cp -a, tar, du and find -samefile, and a
 * file keeps its number for as long as it lives. Pure: no I/O.
 *
 * One FUSE mount shows many trees (every container's overlay, every image), whose files can
 * have the same numbers (the containers of one image share its lower files; the image's own
 * directory holds them too), and synthetic files have none. Two different files of one
 * mount with the same st_ino would look like hard links to tar, so a number is
 *
 *     bits 48..62: the tree's tag (1..32767; 0 for synthetic files), bit 63 always 0;
 *     bits 0..47:  the file's own number when it is below 2^47 and on the tree's own device;
 *                  otherwise 2^47 | a 47-bit hash of (device, number).
 *
 * Filesystems used for state dirs give numbers far below 2^47 (ext4: 32 bits; xfs, btrfs and
 * tmpfs count up from small numbers), and an overlay whose layers are on one filesystem
 * reports its layers' numbers. Tags are handed out per tree name in order of first use, so
 * two trees never share one until 32767 names have been seen by one daemon (then by hash).
 */

const LOW_BITS = 48n;
const REAL_LIMIT = 1n << 47n;
const LOW_MASK = (1n << 47n) - 1n;
const MAX_TAG = 0x7fff;

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = (1n << 64n) - 1n;

/** FNV-1a, 64 bits, of a string's UTF-8 bytes. */
export function fnv1a64(text: string): bigint {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(text)) {
    h ^= BigInt(byte);
    h = (h * FNV_PRIME) & U64;
  }
  return h;
}

const tags = new Map<string, number>();

/** The tag of a tree, by its key (`container:NAME`, `image:NAME`): stable for the daemon's life. */
export function treeTag(key: string): number {
  let tag = tags.get(key);
  if (tag === undefined) {
    tag = tags.size < MAX_TAG ? tags.size + 1 : Number(fnv1a64(key) % BigInt(MAX_TAG)) + 1;
    tags.set(key, tag);
  }
  return tag;
}

/** The number the tree's file (device `dev`, inode `ino`) is shown with; `rootDev` is the tree root's device. */
export function treeIno(tag: number, dev: number, ino: bigint, rootDev: number): bigint {
  const low = dev === rootDev && ino < REAL_LIMIT ? ino : REAL_LIMIT | (fnv1a64(`${dev}:${ino}`) & LOW_MASK);
  return (BigInt(tag) << LOW_BITS) | low;
}

/** The number of a synthetic file or directory: its path's hash, tag 0; the mount's root is 1. */
export function syntheticIno(path: string): bigint {
  if (path === '/' || path === '') return 1n;
  const h = fnv1a64(path) & ((1n << LOW_BITS) - 1n);
  return h < 2n ? h + 2n : h;
}
