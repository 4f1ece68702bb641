/**
 * Inode numbers of the tree (issue 20.4): the kernel is told the files' real numbers (FUSE
 * `use_ino`), so that hard links are seen as such by cp -a, tar, du and find -samefile, and a
 * file keeps its number for as long as it lives. Pure: no I/O.
 *
 * One FUSE mount shows many trees (every container's overlay, every image), whose files can
 * have the same numbers (the containers of one image share its lower files), and synthetic
 * files have none; two different files of one mount with one st_ino would look like hard
 * links to tar. The FUSE mount has one st_dev for all, so the device goes into the number:
 *
 *     bit 63: 0;  bits 48..62: a tag for the file's device;  bits 0..47: the file's number
 *
 *   - tag: 1 + minor for an anonymous device (major 0, minor < 0x4000: every overlay mount,
 *     tmpfs, btrfs subvolumes); 0x4001 + a hash of the device for a block device (the
 *     state dir's filesystem, which holds the images' trees) in 0x4001..0x7fff; 0 for
 *     synthetic files. Each container's overlay is its own anonymous device, and an overlay
 *     whose layers are on one filesystem (the state dir) shows every file with its own
 *     st_dev and the layers' real numbers, so no two trees share a tag.
 *   - number: the real one when below 2^47 (ext4: 32 bits; xfs, btrfs, tmpfs count up from
 *     small numbers), else 2^47 | a 47-bit hash of it (an overlay with xino=on puts its layer
 *     in the top bits: such numbers are hashed, unique with near certainty, not by proof).
 *
 * The patched binding computes the same for an open file's fstat (fgetattr on a
 * passthrough handle, fuse-native.c wardenfs_ino): keep the two in step.
 */

const LOW_BITS = 48n;
const REAL_LIMIT = 1n << 47n;
const LOW_MASK = (1n << 47n) - 1n;
const ANON_MINORS = 0x4000n;
const HASHED_TAGS = 0x3fffn;

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

/** glibc's major() and minor() of a dev_t. */
function majorMinor(dev: bigint): [bigint, bigint] {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return [major, minor];
}

/** The tag of a device (bits 48..62 of the numbers of its files). */
export function deviceTag(dev: number | bigint): bigint {
  const d = BigInt(dev);
  const [major, minor] = majorMinor(d);
  if (major === 0n && minor < ANON_MINORS) return 1n + minor;
  return ANON_MINORS + 1n + (fnv1a64(String(d)) % HASHED_TAGS);
}

/** The number a file of a tree (device `dev`, inode `ino`) is shown with. */
export function treeIno(dev: number | bigint, ino: bigint): bigint {
  const low = ino < REAL_LIMIT ? ino : REAL_LIMIT | (fnv1a64(String(ino)) & LOW_MASK);
  return (deviceTag(dev) << LOW_BITS) | low;
}

/** The number of a synthetic file or directory: its path's hash, tag 0; the mount's root is 1. */
export function syntheticIno(path: string): bigint {
  if (path === '/' || path === '') return 1n;
  const h = fnv1a64(path) & ((1n << LOW_BITS) - 1n);
  return h < 2n ? h + 2n : h;
}
