/*
 * rootfs.node: every rootfs operation of wardenfs, done relative to an O_PATH fd of a
 * container's root directory (issue 6, "confinement").
 *
 * Why: a container owns its rootfs and can rename a directory and plant a symlink to "/"
 * in its place at any moment. Path-string calls made by the (root) daemon on host paths
 * would then follow that symlink on the host. Here every path is resolved by openat2(2)
 * with RESOLVE_IN_ROOT, so "/" and ".." and every symlink met on the way are taken
 * from the container's root, as a chroot would, atomically in the kernel: there is no
 * check-then-use window. RESOLVE_NO_MAGICLINKS refuses /proc-style links, which would
 * jump to whatever file they designate.
 *
 * Each operation resolves the *parent* directory that way, then makes one *at() call on
 * (parent fd, final name) that never follows a final symlink: the operation applies to
 * the link itself, exactly like the l* calls. The exceptions follow the final link, as
 * their syscalls do, still inside the root: open when asked to, readdir and statfs; they
 * hand the whole path to openat2. A final ".." is never handed to an *at()
 * call (relative to the root's fd it would climb out of it): such a path is resolved as a
 * whole by openat2 and the call is made on "." in it.
 *
 * Blocking syscalls must not stall the Node event loop (a FUSE daemon serves every
 * request from it), so each operation runs on the libuv thread pool (napi async work)
 * and returns a Promise. Errors are Node-style: .code 'ENOENT', .errno -2, .syscall,
 * .path, so src/fs/errno.ts maps them unchanged.
 *
 * A few calls take a trusted host path of the daemon's own state dir instead of a root fd
 * (mkfifo, the overlay mount and umount): they spare a process per container or process.
 *
 * Only plain N-API (node_api.h): no C++ and no npm packages.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <endian.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <linux/mount.h>
#include <unistd.h>

#include <node_api.h>

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6; glibc 2.36 does not know it */
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

/* openat2 fails with EAGAIN when a rename or mount raced the resolution (it cannot then
 * prove the walk stayed inside); trying again is the documented answer. Bounded so that
 * a container renaming in a tight loop cannot pin a pool thread forever. */
#define RESOLVE_RETRIES 64

/* A path under a root may be longer than PATH_MAX: a caller whose cwd is deep inside
 * rootfs/ names files by short relative paths, and libfuse hands the daemon the whole path
 * from the mount's root (issue 13.3). Paths up to this length are taken (resolved in pieces,
 * resolve_long); longer ones are ENAMETOOLONG. */
#define ROOTFS_PATH_MAX (8 * PATH_MAX)

enum op {
  OP_OPENROOT, OP_CLOSE, OP_OPEN, OP_LSTAT, OP_READDIR, OP_MKDIR, OP_RMDIR, OP_UNLINK,
  OP_RENAME, OP_LINK, OP_SYMLINK, OP_READLINK, OP_CHMOD, OP_CHOWN, OP_UTIMENS,
  OP_TRUNCATE, OP_STATFS, OP_MKNOD, OP_GETXATTR, OP_LISTXATTR, OP_SETXATTR, OP_REMOVEXATTR,
  OP_RESOLVE, OP_ACCESS,
  /* Two fds the caller opened (through resolvers), no path: */
  OP_COPYFD,
  /* Trusted host paths (the daemon's own state dir), never a container's root: */
  OP_MKFIFO, OP_MOUNT_OVERLAY, OP_UMOUNT,
};

/* One request: the arguments copied off the JS heap (the pool thread must not touch
 * napi values), then the result. Paths live in fixed ROOTFS_PATH_MAX buffers: longer ones are
 * refused with ENAMETOOLONG before anything runs. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  enum op op;
  int rootfd;
  char path[ROOTFS_PATH_MAX];  /* rel (or the host path for openRoot) */
  char path2[ROOTFS_PATH_MAX]; /* rename/link destination, symlink target, readlink result, xattr name */
  int flags;
  int follow;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  dev_t dev;
  off_t size;
  struct timespec times[2];
  /* results */
  int err;             /* errno, 0 on success */
  const char *syscall; /* the call that failed, for the error message */
  int fd;
  struct stat st;
  struct statfs sfs;
  ssize_t linklen;
  char *value;         /* setxattr: the value (copied in); getxattr: the value read */
  size_t value_len;
  char *names; /* readdir, listxattr: names, each NUL-terminated, one after the other */
  size_t names_len, names_cap;
  uint32_t names_count;
  uint32_t consumed;   /* resolve: how many components of the path were resolved */
  /* as_caller: done with a non-root caller's credentials (the optional last argument,
   * [uid, gid, ...groups]): see creds_enter */
  int as_caller;
  int cumask; /* the umask what is made takes (the argument after the caller); -1: none, 0 */
  uid_t cuid;
  gid_t cgid;
  size_t ngroups;
  gid_t *groups;
  int fd2;             /* copyFd: the file written (rootfd is the one read) */
  int64_t capbase;     /* copyFd: the host id of the container's root (-1: no user namespace) */
} req_t;

/* ---- pool thread side: syscalls only, no napi ---- */

static int resolve_long(int rootfd, const char *path, uint64_t flags, uint64_t mode);

static int openat2_in_root(int rootfd, const char *path, uint64_t flags, uint64_t mode) {
  struct open_how how = {
      .flags = flags, .mode = mode, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  for (int i = 0; i < RESOLVE_RETRIES; i++) {
    long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    if (fd >= 0) return (int)fd;
    if (errno != EAGAIN) return -1;
  }
  return -1; /* errno is EAGAIN */
}

/*
 * The caller's fsuid while this pool thread acts as a caller (creds_enter), else -1.
 * A path is then walked with the daemon's filesystem ids (fsuid 0 gives the thread its
 * filesystem capabilities back for the walk, still confined by RESOLVE_IN_ROOT), and only
 * what is done at its end is the caller's: the file opened (reopened as the caller through
 * /proc/self/fd, its permissions checked for it), the name made or removed in its directory,
 * the file's own attributes (execute_op: through its fd). The kernel has already checked the
 * caller's own walk to that name on the tree (default_permissions), which may start from a
 * cwd or an open directory below a directory the caller cannot search: the overlay, whose own
 * lookups are the mounter's, then lets it act there, and so must the tree.
 */
static __thread long acting_uid = -1;

static int resolve_in_root(int rootfd, const char *path, uint64_t flags, uint64_t mode) {
  if (strlen(path) >= PATH_MAX) return resolve_long(rootfd, path, flags, mode);
  /* a creating open is done whole as the caller: what it makes is the caller's */
  if (acting_uid < 0 || (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) return openat2_in_root(rootfd, path, flags, mode);
  syscall(SYS_setfsuid, 0);
  int fd = openat2_in_root(rootfd, path, (flags & (O_DIRECTORY | O_NOFOLLOW)) | O_PATH | O_CLOEXEC, 0);
  int e = errno;
  syscall(SYS_setfsuid, (uid_t)acting_uid);
  if (fd < 0 || (flags & O_PATH)) {
    errno = e;
    return fd;
  }
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  int out = open(proc, (int)(flags & ~(uint64_t)O_NOFOLLOW), (mode_t)mode);
  e = errno;
  close(fd);
  errno = e;
  return out;
}

/*
 * A path of PATH_MAX bytes or more, which openat2 refuses whole: walked in pieces shorter
 * than PATH_MAX, cut at a '/', each directory opened O_PATH with RESOLVE_IN_ROOT relative to
 * the one before, the last piece with the caller's flags. Each piece is confined to the
 * directory it starts from, itself inside the root, so the whole walk stays inside the root;
 * what differs from one openat2 of the whole path is only where a symlink met in a later
 * piece leads with '/' or a '..' above that piece's start: to that start, never above it.
 * The kernel follows a rootfs/ path's symlinks itself before the daemon sees the path, so
 * only a link swapped in meanwhile is met here (and it stays inside, which is what matters).
 */
static int resolve_long(int rootfd, const char *path, uint64_t flags, uint64_t mode) {
  char piece[PATH_MAX];
  int dirfd = rootfd;
  const char *p = path;
  for (;;) {
    size_t left = strlen(p);
    if (left < PATH_MAX) {
      int fd = resolve_in_root(dirfd, p[0] ? p : ".", flags, mode);
      if (dirfd != rootfd) { int e = errno; close(dirfd); errno = e; }
      return fd;
    }
    size_t cut = PATH_MAX - 1;
    while (cut > 0 && p[cut] != '/') cut--;
    if (cut == 0) { /* one name longer than PATH_MAX: no such name can exist */
      if (dirfd != rootfd) close(dirfd);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(piece, p, cut);
    piece[cut] = '\0';
    int next = resolve_in_root(dirfd, piece, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (dirfd != rootfd) { int e = errno; close(dirfd); errno = e; }
    if (next < 0) return -1;
    dirfd = next;
    p += cut;
    while (*p == '/') p++;
  }
}

static int fail(req_t *r, const char *syscall) {
  r->err = errno;
  r->syscall = syscall;
  return -1;
}

/*
 * Split rel into its directory, opened inside the root (O_PATH), and its final name.
 * rel is relative to the root ('' and '/' are the root itself; a leading '/' changes
 * nothing under RESOLVE_IN_ROOT). Trailing slashes are dropped (the FUSE kernel never
 * sends them). A final '', '.' or '..' designates a directory, not a name in it: the whole
 * path is resolved and the name becomes ".", so the *at() call acts on that directory
 * and the kernel gives its usual error where that makes no sense (mkdir: EEXIST, unlink:
 * EISDIR, rmdir: EINVAL, rename: EBUSY).
 * Returns the parent fd, or -1 with r->err set.
 */
static int open_parent(req_t *r, const char *rel, char name[NAME_MAX + 1]) {
  char dir[ROOTFS_PATH_MAX];
  size_t n = strlen(rel); /* < ROOTFS_PATH_MAX: checked when copied in */
  while (n > 0 && rel[n - 1] == '/') n--;
  size_t s = n;
  while (s > 0 && rel[s - 1] != '/') s--;
  size_t blen = n - s;
  if (blen > NAME_MAX) {
    errno = ENAMETOOLONG;
    return fail(r, "openat2");
  }
  int self = blen == 0 || (blen == 1 && rel[s] == '.') ||
             (blen == 2 && rel[s] == '.' && rel[s + 1] == '.');
  size_t dlen = self ? n : s;
  if (dlen == 0) {
    strcpy(dir, ".");
  } else {
    memcpy(dir, rel, dlen);
    dir[dlen] = '\0';
  }
  if (self) {
    strcpy(name, ".");
  } else {
    memcpy(name, rel + s, blen);
    name[blen] = '\0';
  }
  int fd = resolve_in_root(r->rootfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return fail(r, "openat2");
  return fd;
}

static void close_keep_errno(int fd) {
  if (fd < 0) return;
  int e = errno;
  close(fd);
  errno = e;
}

/*
 * The caller's credentials (wardenfs mount --allow-other: another host user works in a
 * container's rootfs/). The pool thread takes the caller's filesystem uid and gid and its
 * supplementary groups for the one operation, then gives them back: ownership of what it
 * makes, permission checks, the sticky bit and setgid directories are then the kernel's
 * own, exactly as for the caller on the overlay. Raw system calls on this thread only:
 * glibc's setgroups() would change every thread of the daemon (its setxid broadcast),
 * which runs requests of other callers at the same time. A change of fsuid away from 0
 * also drops the filesystem capabilities of the thread (CAP_DAC_OVERRIDE, CAP_CHOWN,
 * CAP_FOWNER …) and the change back restores them.
 */
static gid_t daemon_groups[256];
static long daemon_ngroups = -1;

static void creds_leave(void) {
  acting_uid = -1;
  syscall(SYS_setfsuid, 0);
  syscall(SYS_setfsgid, 0);
  if (daemon_ngroups >= 0) syscall(SYS_setgroups, (size_t)daemon_ngroups, daemon_groups);
}

/* 0, or -1 with errno EPERM when the switch could not be made (then nothing is done). */
static int creds_enter(req_t *r) {
  if (__atomic_load_n(&daemon_ngroups, __ATOMIC_ACQUIRE) < 0) {
    /* The daemon's groups never change: the first caller saves them (a race writes the same). */
    long n = syscall(SYS_getgroups, 256, daemon_groups);
    if (n < 0) {
      errno = EPERM;
      return -1;
    }
    __atomic_store_n(&daemon_ngroups, n, __ATOMIC_RELEASE);
  }
  if (syscall(SYS_setgroups, r->ngroups, r->groups) < 0) {
    errno = EPERM;
    return -1;
  }
  syscall(SYS_setfsgid, r->cgid);
  syscall(SYS_setfsuid, r->cuid);
  if ((gid_t)syscall(SYS_setfsgid, -1) != r->cgid || (uid_t)syscall(SYS_setfsuid, -1) != r->cuid) {
    creds_leave();
    errno = EPERM;
    return -1;
  }
  acting_uid = (long)r->cuid;
  return 0;
}

/*
 * A mode change that only clears the set-user-ID and/or set-group-ID bits of the current
 * mode. The kernel's FUSE client asks for one on its own when a caller writes to, truncates
 * or chowns a set-id file it may write (file_remove_privs: the file system must drop the
 * bits, libfuse 2 cannot take that job over). The caller need not own the file, so it is
 * done with the daemon's credentials; with default_permissions any other chmod of a file the
 * caller does not own was refused by the kernel before it was sent.
 */
static int only_clears_setid(mode_t cur, mode_t want) {
  cur &= 07777;
  want &= 07777;
  mode_t cleared = cur & ~want;
  return (want & ~cur) == 0 && cleared != 0 && (cleared & ~(mode_t)(S_ISUID | S_ISGID)) == 0;
}

static int append_name(req_t *r, const char *name) {
  size_t need = strlen(name) + 1;
  if (r->names_len + need > r->names_cap) {
    size_t cap = r->names_cap ? r->names_cap : 4096;
    while (cap < r->names_len + need) cap *= 2;
    char *p = realloc(r->names, cap);
    if (!p) {
      errno = ENOMEM;
      return -1;
    }
    r->names = p;
    r->names_cap = cap;
  }
  memcpy(r->names + r->names_len, name, need);
  r->names_len += need;
  r->names_count++;
  return 0;
}

/* readdir and statfs follow a final symlink, as opendir(3) and statfs(2) do: inside the
 * root, like every other link, so the whole path goes to openat2. */
static void do_readdir(req_t *r) {
  int fd = resolve_in_root(r->rootfd, r->path[0] ? r->path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) {
    fail(r, "openat2");
    return;
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    fail(r, "fdopendir");
    close(fd);
    return;
  }
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d); /* one stream per thread: readdir is safe here */
    if (!e) {
      if (errno) fail(r, "readdir");
      break;
    }
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (append_name(r, e->d_name) < 0) {
      fail(r, "readdir");
      break;
    }
  }
  closedir(d); /* closes fd */
}

static void do_chmod(req_t *r, int pfd, const char *name) {
  /* A symlink has no mode of its own to set (glibc's lchmod says EOPNOTSUPP too); the
   * check and the call are not atomic, but neither follows a link, so a swap in between
   * can at worst change a symlink's unused mode bits, never a file outside. */
  struct stat st;
  int ef = name[0] ? 0 : AT_EMPTY_PATH; /* the file itself (execute_op, on_target) */
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW | ef) < 0) {
    fail(r, "fstatat");
    return;
  }
  if (S_ISLNK(st.st_mode)) {
    errno = EOPNOTSUPP;
    fail(r, "fchmodat");
    return;
  }
  /* The kernel's request to drop set-id bits (only_clears_setid): the daemon's credentials. */
  int as_daemon = r->as_caller && only_clears_setid(st.st_mode, r->mode);
  if (as_daemon) creds_leave();
  int res = syscall(SYS_fchmodat2, pfd, name, r->mode & 07777, AT_SYMLINK_NOFOLLOW | ef);
  /* Before Linux 6.6: glibc's fchmodat(AT_SYMLINK_NOFOLLOW) opens the name O_PATH without
   * following and chmods that very inode through /proc/self/fd: also race-free. */
  if (res < 0 && errno == ENOSYS && !ef) res = fchmodat(pfd, name, r->mode & 07777, AT_SYMLINK_NOFOLLOW);
  int err = errno;
  if (as_daemon && creds_enter(r) < 0) {
    /* never reached in practice: the caller's ids were taken a moment ago */
    r->as_caller = 0;
  }
  if (res == 0) return;
  errno = err;
  fail(r, "fchmodat");
}

static void do_truncate(req_t *r, int pfd, const char *name) {
  /* Looked at first so that a device or FIFO is never opened (opening one can have
   * effects), then checked again on the open fd, which is what gets truncated. */
  struct stat st;
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)) < 0) {
    fail(r, "fstatat");
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    errno = EISDIR;
    fail(r, "truncate");
    return;
  }
  if (S_ISLNK(st.st_mode)) {
    errno = ELOOP;
    fail(r, "openat");
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    fail(r, "truncate");
    return;
  }
  int fd;
  if (name[0]) {
    fd = openat(pfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  } else { /* the file itself: reopened through its fd, as the caller */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
    fd = open(proc, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  }
  if (fd < 0) {
    fail(r, "openat");
    return;
  }
  if (fstat(fd, &st) < 0) {
    fail(r, "fstat");
  } else if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    fail(r, "truncate");
  } else if (ftruncate(fd, r->size) < 0) {
    fail(r, "ftruncate");
  }
  close(fd);
}

static void do_statfs(req_t *r) {
  int fd = resolve_in_root(r->rootfd, r->path[0] ? r->path : ".", O_PATH | O_CLOEXEC, 0);
  if (fd < 0) {
    fail(r, "openat2");
    return;
  }
  if (fstatfs(fd, &r->sfs) < 0) fail(r, "fstatfs");
  close(fd);
}

/*
 * Only a regular file or a directory is ever handed out (issue 11.4). The kernel looked the
 * name up before asking; the container (which has CAP_MKNOD) can swap a FIFO, a socket or
 * a device node in between. The root is a nodev mount (see OP_OPENROOT), so a device node
 * is refused by the open itself (EACCES) and its driver never sees it; a FIFO opens without
 * blocking (O_NONBLOCK, by the caller); what was opened is then checked here, on the fd
 * itself, so no swap can come after the check. Refused with EACCES, as nodev refuses a device.
 * O_PATH opens are not checked: they open nothing.
 */
static void do_open(req_t *r, int pfd, const char *name) {
  int flags = r->flags | O_CLOEXEC;
  /* O_TMPFILE contains O_DIRECTORY's bit: test all of it. */
  mode_t mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? r->mode : 0;
  if (r->follow) {
    /* The final symlink is followed too, inside the root. openat2 refuses unknown flag
     * bits and a mode without O_CREAT, hence the masking above and the unsigned cast. */
    r->fd = resolve_in_root(r->rootfd, r->path[0] ? r->path : ".", (unsigned int)flags, mode);
    if (r->fd < 0) {
      fail(r, "openat2");
      return;
    }
  } else {
    r->fd = openat(pfd, name, flags | O_NOFOLLOW | O_NOCTTY, mode);
    if (r->fd < 0) {
      fail(r, "openat");
      return;
    }
  }
  /* An O_PATH fd opens nothing (no driver, no FIFO peer, no I/O): callers that ask for one
   * check the type themselves before they reopen it (src/drivers/rootfs/smallfile.ts). */
  if (flags & O_PATH) return;
  struct stat st;
  if (fstat(r->fd, &st) < 0) {
    fail(r, "fstat");
  } else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    errno = EACCES;
    fail(r, "open");
  } else {
    return;
  }
  close(r->fd);
  r->fd = -1;
}

/*
 * The in-root path of r->path (components separated by single '/', none of them '' or '.'):
 * the longest prefix of it that resolves inside the root (RESOLVE_IN_ROOT: '..' and every
 * symlink as the container sees them, the last one followed too) is opened O_PATH, and the
 * kernel's own name for what was reached (/proc/self/fd/N, relative to the root's) is
 * returned in r->path2, without a leading '/' ('' for the root); r->consumed says how many
 * components that prefix had. Used to present symlinks to the host (src/fs/nodes/confine.ts).
 */
static int fd_path(int fd, char *buf, size_t cap) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(proc, buf, cap);
  if (n < 0) return -1;
  if ((size_t)n >= cap) {
    errno = ENAMETOOLONG;
    return -1;
  }
  buf[n] = '\0';
  return 0;
}

/* Resolve the first k components of r->path (ends[i]: the offset past component i). */
static int try_prefix(req_t *r, const size_t *ends, char prefix[ROOTFS_PATH_MAX], size_t k) {
  if (k == 0) {
    strcpy(prefix, ".");
  } else {
    memcpy(prefix, r->path, ends[k - 1]);
    prefix[ends[k - 1]] = '\0';
  }
  return resolve_in_root(r->rootfd, prefix, O_PATH | O_CLOEXEC, 0);
}

static void do_resolve(req_t *r) {
  /* Component boundaries: ends[i] is the offset just past component i. */
  static const size_t max_parts = ROOTFS_PATH_MAX / 2 + 1;
  size_t *ends = calloc(max_parts, sizeof *ends);
  if (!ends) {
    errno = ENOMEM;
    fail(r, "resolve");
    return;
  }
  size_t n = 0, len = strlen(r->path);
  for (size_t i = 0; i < len; i++)
    if (r->path[i + 1] == '/' || r->path[i + 1] == '\0') ends[n++] = i + 1;
  char prefix[ROOTFS_PATH_MAX];
  /* The whole path first (the usual case). Otherwise the longest prefix that resolves, by
   * bisection: a prefix resolves only if every shorter one does (the walk passes through
   * them), so a dangling link with thousands of components costs a dozen walks, not
   * thousands. Should a race make the answer vanish, the root itself ('.') is the answer. */
  size_t k = n;
  int fd = try_prefix(r, ends, prefix, n);
  if (fd < 0 && n > 0) {
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
      size_t mid = lo + (hi - lo + 1) / 2;
      int f = try_prefix(r, ends, prefix, mid);
      if (f >= 0) {
        close(f);
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    k = lo;
    fd = try_prefix(r, ends, prefix, k);
    if (fd < 0 && k > 0) {
      k = 0;
      fd = try_prefix(r, ends, prefix, 0);
    }
  }
  free(ends);
  if (fd < 0) {
    fail(r, "openat2");
    return;
  }
  char root[ROOTFS_PATH_MAX];
  if (fd_path(r->rootfd, root, sizeof root) < 0 || fd_path(fd, r->path2, sizeof r->path2) < 0) {
    fail(r, "readlink");
    close(fd);
    return;
  }
  close(fd);
  size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
  if (strncmp(r->path2, root, rl) != 0 || (r->path2[rl] != '/' && r->path2[rl] != '\0')) {
    errno = EXDEV; /* not under the root: cannot happen with RESOLVE_IN_ROOT; refuse */
    fail(r, "resolve");
    return;
  }
  size_t skip = r->path2[rl] == '/' ? rl + 1 : rl;
  memmove(r->path2, r->path2 + skip, strlen(r->path2 + skip) + 1);
  r->linklen = (ssize_t)strlen(r->path2);
  r->consumed = (uint32_t)k;
}

/*
 * Extended attributes. An O_PATH fd cannot carry f*xattr calls, and a path-string call
 * would resolve on the host; the race-free way (libfuse's passthrough_ll does the same)
 * is the fd's magic link /proc/self/fd/N, which the kernel jumps straight to the inode
 * the fd holds, whatever happens to the names meanwhile. Nothing is opened for real, so
 * a device node or a FIFO planted by the container is never opened by the daemon.
 * Symlinks: that jump would land on the link itself only in some kernels' eyes, and
 * user.* attributes cannot exist on links anyway: a link has none (ENODATA, empty list)
 * and none can be set (EPERM), as in passthrough_ll.
 */
static void do_xattr(req_t *r, int pfd, const char *name) {
  int fd = name[0] ? openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC) : fcntl(pfd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    fail(r, "openat");
    return;
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    fail(r, "fstat");
    close(fd);
    return;
  }
  if (S_ISLNK(st.st_mode)) {
    if (r->op == OP_GETXATTR) errno = ENODATA, fail(r, "getxattr");
    if (r->op == OP_SETXATTR) errno = EPERM, fail(r, "setxattr");
    if (r->op == OP_REMOVEXATTR) errno = EPERM, fail(r, "removexattr");
    close(fd); /* listxattr: no names */
    return;
  }
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  switch (r->op) {
  case OP_SETXATTR:
    if (setxattr(proc, r->path2, r->value, r->value_len, r->flags) < 0) fail(r, "setxattr");
    break;
  case OP_REMOVEXATTR:
    if (removexattr(proc, r->path2) < 0) fail(r, "removexattr");
    break;
  case OP_GETXATTR:
  case OP_LISTXATTR:
    /* Ask the size, then read; the value may grow in between: ask again (bounded). */
    for (int i = 0; i < 8; i++) {
      ssize_t n = r->op == OP_GETXATTR ? getxattr(proc, r->path2, NULL, 0) : listxattr(proc, NULL, 0);
      if (n < 0) break;
      free(r->value);
      r->value = malloc(n > 0 ? (size_t)n : 1);
      if (!r->value) {
        errno = ENOMEM;
        n = -1;
        break;
      }
      n = r->op == OP_GETXATTR ? getxattr(proc, r->path2, r->value, (size_t)n) : listxattr(proc, r->value, (size_t)n);
      if (n >= 0) {
        r->value_len = (size_t)n;
        close(fd);
        return;
      }
      if (errno != ERANGE) break;
    }
    fail(r, r->op == OP_GETXATTR ? "getxattr" : "listxattr");
    break;
  default: break;
  }
  close_keep_errno(fd);
}

/*
 * copyFd (image commit, src/drivers/images/commit.ts): the whole of one file made from
 * another, both already open (each through its own confined root; no path is resolved
 * here): the data (copy_file_range, else sendfile: both stay in the kernel), then owner,
 * mode (after chown, which clears set-id bits and file capabilities), the extended
 * attributes an image keeps (user.*, security.capability: keepXattr in commit.ts), and last
 * the times (futimens: to the nanosecond). One pool job instead of one per step.
 */
static int keep_xattr(const char *name) {
  return strncmp(name, "user.", 5) == 0 || strcmp(name, "security.capability") == 0;
}

/*
 * A file capability as the host reads it from a container in a user namespace: v3, with the
 * host id of the namespace's root (capbase) as its rootid. In an image it is v2 (the root of
 * whatever namespace runs it, as an imported image's): same bits, no rootid. A v3 of another
 * root is not this container's to give and is left out (0); a v2, or anything without a user
 * namespace, is kept as read (1).
 */
static int unshift_cap(const req_t *r, char *value, ssize_t *vlen) {
  if (r->capbase < 0 || *vlen != (ssize_t)XATTR_CAPS_SZ_3) return 1;
  uint32_t magic, rootid;
  memcpy(&magic, value, 4);
  magic = le32toh(magic);
  if ((magic & VFS_CAP_REVISION_MASK) != VFS_CAP_REVISION_3) return 1;
  memcpy(&rootid, value + XATTR_CAPS_SZ_2, 4);
  if ((int64_t)le32toh(rootid) != r->capbase) return 0;
  magic = htole32((magic & ~(uint32_t)VFS_CAP_REVISION_MASK) | VFS_CAP_REVISION_2);
  memcpy(value, &magic, 4);
  *vlen = XATTR_CAPS_SZ_2;
  return 1;
}

static void do_copyfd(req_t *r) {
  int in = r->rootfd, out = r->fd2;
  int cfr = 1;
  for (;;) {
    ssize_t n;
    if (cfr) {
      n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        cfr = 0; /* across file systems (overlay to the state dir's): sendfile, from the same offsets */
        continue;
      }
    } else {
      n = sendfile(out, in, NULL, 1 << 30);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(r, cfr ? "copy_file_range" : "sendfile");
      return;
    }
    if (n == 0) break;
    r->size += n;
  }
  if (fchown(out, r->uid, r->gid) < 0) { fail(r, "fchown"); return; }
  if (fchmod(out, r->mode & 07777) < 0) { fail(r, "fchmod"); return; }
  /* 64 KiB each at most: on the heap, not on a pool thread's stack. */
  char *names = malloc(XATTR_LIST_MAX), *value = malloc(XATTR_SIZE_MAX);
  if (!names || !value) {
    free(names);
    free(value);
    errno = ENOMEM;
    fail(r, "malloc");
    return;
  }
  ssize_t len = flistxattr(in, names, XATTR_LIST_MAX);
  int ok = len >= 0 || errno == ENOTSUP || errno == EOPNOTSUPP;
  if (!ok) fail(r, "flistxattr");
  for (ssize_t off = 0; ok && len > 0 && off < len; off += (ssize_t)strlen(names + off) + 1) {
    const char *name = names + off;
    if (!keep_xattr(name)) continue;
    ssize_t vlen = fgetxattr(in, name, value, XATTR_SIZE_MAX);
    if (vlen < 0) {
      if (errno == ENODATA) continue; /* removed since it was listed */
      ok = 0;
      fail(r, "fgetxattr");
    } else if (strcmp(name, "security.capability") == 0 && !unshift_cap(r, value, &vlen)) {
      continue;
    } else if (fsetxattr(out, name, value, (size_t)vlen, 0) < 0) {
      ok = 0;
      fail(r, "fsetxattr");
    }
  }
  free(names);
  free(value);
  if (!ok) return;
  if (futimens(out, r->times) < 0) fail(r, "futimens");
}

/*
 * The mode of a file made through the tree arrives unmasked, with the caller's umask beside it
 * (the binding asks for FUSE_CAP_DONT_MASK, docs/fuse.md item 13): the call is made with that
 * umask (r->cumask), so that the file system applies it, or in its place the default ACL of a
 * directory that has one, as for a local caller. Calls without one (the daemon's own, or a
 * kernel that masked the mode already) take umask 0: the mode as given, never cut again by the
 * daemon's own umask (`umask 0; mkdir -m 777 d` gave 0755).
 * umask is a process's, shared by every thread: the pool thread takes an fs_struct of its own
 * once (unshare(CLONE_FS); the daemon never changes its cwd, so nothing else differs), then
 * sets the umask for the one creating call and puts the old one back, so that Node's own fs
 * calls, which share the pool, keep the daemon's umask. Should unshare be refused, the
 * daemon's umask applies as before. Returns the umask to restore, or -1.
 */
static __thread int own_fs_struct; /* 0: not tried, 1: done, -1: refused */
static int umask_off(const req_t *r) {
  int creates = r->op == OP_MKDIR || r->op == OP_MKNOD ||
                (r->op == OP_OPEN && ((r->flags & O_CREAT) || (r->flags & O_TMPFILE) == O_TMPFILE));
  if (!creates) return -1;
  if (own_fs_struct == 0) own_fs_struct = unshare(CLONE_FS) == 0 ? 1 : -1;
  return own_fs_struct == 1 ? (int)umask(r->cumask >= 0 ? (mode_t)r->cumask : 0) : -1;
}

static void umask_back(int old) {
  if (old >= 0) umask((mode_t)old);
}

static void execute_op(req_t *r);

/* Every operation of a root fd with a caller's credentials is done as that caller (creds_enter). */
static void execute(napi_env env, void *data) {
  (void)env;
  req_t *r = data;
  if (r->err) return; /* refused while copying the arguments */
  if (!r->as_caller) {
    execute_op(r);
    return;
  }
  if (creds_enter(r) < 0) {
    fail(r, "setfsuid");
    return;
  }
  execute_op(r);
  if (r->as_caller) creds_leave();
}

static void execute_op(req_t *r) {

  /* These spare the daemon a mkfifo(1), mount(8) or umount(8) process (and mount(8)'s
   * parsing of the whole mount table, which grows with the number of containers). */
  if (r->op == OP_MKFIFO) {
    if (mkfifo(r->path, r->mode) < 0) fail(r, "mkfifo");
    return;
  }
  if (r->op == OP_MOUNT_OVERLAY) {
    if (mount("overlay", r->path, "overlay", 0, r->path2) < 0) fail(r, "mount");
    return;
  }
  if (r->op == OP_UMOUNT) {
    if (umount2(r->path, r->flags | UMOUNT_NOFOLLOW) < 0) fail(r, "umount");
    return;
  }
  if (r->op == OP_OPENROOT) {
    /* The root is a private, detached copy of the mount at that path (open_tree(2)
     * OPEN_TREE_CLONE), made nodev and nosuid (mount_setattr(2)): whatever the daemon opens
     * through it, a device node the container made is never a device to the host, and
     * nothing there is setuid for the host. The container's own mount (runc's bind of the
     * overlay) keeps its flags: its setuid programs and devices work inside as before. The
     * copy lives as long as this fd and the fds opened through it. */
    r->fd = (int)syscall(SYS_open_tree, AT_FDCWD, r->path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (r->fd < 0) {
      fail(r, "open_tree");
      return;
    }
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID};
    if (syscall(SYS_mount_setattr, r->fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
      fail(r, "mount_setattr");
      close(r->fd);
      r->fd = -1;
      return;
    }
    /* Fail closed now rather than on every call if this kernel has no openat2 (< 5.6). */
    int probe = resolve_in_root(r->fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (probe < 0) {
      fail(r, "openat2");
      close(r->fd);
      r->fd = -1;
      return;
    }
    close(probe);
    return;
  }
  /* A negative fd would be AT_FDCWD (-100) or nothing: never resolve from the cwd. */
  if (r->rootfd < 0) {
    errno = EBADF;
    fail(r, r->op == OP_CLOSE ? "close" : "openat2");
    return;
  }
  if (r->op == OP_CLOSE) {
    if (close(r->rootfd) < 0) fail(r, "close");
    return;
  }
  if (r->op == OP_COPYFD) {
    if (r->fd2 < 0) {
      errno = EBADF;
      fail(r, "copyFd");
      return;
    }
    do_copyfd(r);
    return;
  }
  if (r->op == OP_OPEN && r->follow) {
    do_open(r, -1, NULL);
    return;
  }
  if (r->op == OP_READDIR) {
    do_readdir(r);
    return;
  }
  if (r->op == OP_STATFS) {
    do_statfs(r);
    return;
  }
  if (r->op == OP_RESOLVE) {
    /* A symlink's target resolved to present it (src/fs/nodes/confine.ts): a path the
     * kernel has not walked for the caller, so walked whole as the caller (acting_uid off:
     * resolve_in_root then asks the caller's search permission on every directory). */
    long acting = acting_uid;
    acting_uid = -1;
    do_resolve(r);
    acting_uid = acting;
    return;
  }

  char name[NAME_MAX + 1], name2[NAME_MAX + 1];
  /* A caller's request on a file itself rather than on a name in a directory: the file is
   * reached by the daemon's walk (resolve_in_root), its last name not followed, and acted on
   * through that fd (name "": AT_EMPTY_PATH), as the caller: no search permission on its
   * directory is asked, as the kernel asks none for a caller whose cwd it is. */
  int on_target = acting_uid >= 0 &&
                  (r->op == OP_ACCESS || r->op == OP_LSTAT || r->op == OP_READLINK || r->op == OP_CHMOD || r->op == OP_CHOWN ||
                   r->op == OP_UTIMENS || r->op == OP_TRUNCATE || r->op == OP_GETXATTR || r->op == OP_LISTXATTR ||
                   r->op == OP_SETXATTR || r->op == OP_REMOVEXATTR);
  int pfd;
  if (on_target) {
    name[0] = '\0';
    pfd = resolve_in_root(r->rootfd, r->path[0] ? r->path : ".", O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
    if (pfd < 0) {
      fail(r, "openat2");
      return;
    }
  } else {
    pfd = open_parent(r, r->path, name);
  }
  if (pfd < 0) return;
  int ef = name[0] ? 0 : AT_EMPTY_PATH;
  int pfd2 = -1;
  if (r->op == OP_RENAME || r->op == OP_LINK) {
    pfd2 = open_parent(r, r->path2, name2);
    if (pfd2 < 0) {
      close(pfd);
      return;
    }
  }

  int old_umask = umask_off(r);
  switch (r->op) {
  case OP_OPEN: do_open(r, pfd, name); break;
  case OP_ACCESS: /* the effective ids (AT_EACCESS): the ones a request acts with */
    if (faccessat(pfd, name, (int)r->mode, AT_EACCESS | AT_SYMLINK_NOFOLLOW | ef) < 0) fail(r, "access");
    break;
  case OP_LSTAT:
    if (fstatat(pfd, name, &r->st, AT_SYMLINK_NOFOLLOW | ef) < 0) fail(r, "lstat");
    break;
  case OP_MKDIR:
    if (mkdirat(pfd, name, r->mode) < 0) fail(r, "mkdir");
    break;
  case OP_RMDIR:
    if (unlinkat(pfd, name, AT_REMOVEDIR) < 0) fail(r, "rmdir");
    break;
  case OP_UNLINK:
    if (unlinkat(pfd, name, 0) < 0) fail(r, "unlink");
    break;
  case OP_RENAME:
    if (renameat2(pfd, name, pfd2, name2, (unsigned int)r->flags) < 0) fail(r, "rename");
    break;
  case OP_LINK: /* no AT_SYMLINK_FOLLOW: a link to a symlink is a link to the symlink */
    if (linkat(pfd, name, pfd2, name2, 0) < 0) fail(r, "link");
    break;
  case OP_SYMLINK: /* the target is stored as given: it means what it says inside */
    if (symlinkat(r->path2, pfd, name) < 0) fail(r, "symlink");
    break;
  case OP_READLINK:
    r->linklen = readlinkat(pfd, name, r->path2, sizeof r->path2);
    if (r->linklen < 0) {
      fail(r, "readlink");
    } else if ((size_t)r->linklen >= sizeof r->path2) { /* truncated: refuse */
      errno = ENAMETOOLONG;
      fail(r, "readlink");
    }
    break;
  case OP_CHMOD: do_chmod(r, pfd, name); break;
  case OP_CHOWN:
    if (fchownat(pfd, name, r->uid, r->gid, AT_SYMLINK_NOFOLLOW | ef) < 0) fail(r, "lchown");
    break;
  case OP_UTIMENS:
    if (utimensat(pfd, name, r->times, AT_SYMLINK_NOFOLLOW | ef) < 0) fail(r, "utimensat");
    break;
  case OP_TRUNCATE: do_truncate(r, pfd, name); break;
  case OP_MKNOD:
    if (mknodat(pfd, name, r->mode, r->dev) < 0) fail(r, "mknod");
    break;
  case OP_GETXATTR:
  case OP_LISTXATTR:
  case OP_SETXATTR:
  case OP_REMOVEXATTR: do_xattr(r, pfd, name); break;
  default: errno = EINVAL; fail(r, "op"); break;
  }
  umask_back(old_umask);
  close_keep_errno(pfd2);
  close_keep_errno(pfd);
}

/* ---- JS thread side ---- */

#define NAPI_CALL(env, call)                                                                   \
  do {                                                                                         \
    if ((call) != napi_ok) goto napi_fail;                                                     \
  } while (0)

static void set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  if (napi_create_double(env, v, &n) == napi_ok) napi_set_named_property(env, obj, key, n);
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *v) {
  napi_value s;
  if (napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &s) == napi_ok)
    napi_set_named_property(env, obj, key, s);
}

/* An Error like Node's fs errors: "ENOENT: no such file or directory, lstat 'a/b'". */
static napi_value errno_error(napi_env env, int err, const char *syscall, const char *path) {
  char text[128], msg[PATH_MAX + 256];
  const char *code = strerrorname_np(err);
  if (!code) code = "EIO";
  const char *desc = strerror_r(err, text, sizeof text); /* GNU variant: returns the text */
  /* Lower-case first letter, as libuv's texts in Node's own fs errors. */
  snprintf(msg, sizeof msg, "%s: %c%s, %s '%s'", code, desc[0] ? tolower((unsigned char)desc[0]) : '?',
           desc[0] ? desc + 1 : "", syscall ? syscall : "?", path);
  napi_value jcode, jmsg, e = NULL;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg) != napi_ok ||
      napi_create_error(env, jcode, jmsg, &e) != napi_ok)
    return NULL;
  set_num(env, e, "errno", -err);
  if (syscall) set_str(env, e, "syscall", syscall);
  set_str(env, e, "path", path);
  return e;
}

static napi_value stat_object(napi_env env, const struct stat *st) {
  napi_value o;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  set_num(env, o, "dev", (double)st->st_dev);
  set_num(env, o, "ino", (double)st->st_ino);
  napi_value big; /* exact: inode numbers may use all 64 bits */
  if (napi_create_bigint_uint64(env, (uint64_t)st->st_ino, &big) == napi_ok) napi_set_named_property(env, o, "inoBig", big);
  set_num(env, o, "mode", st->st_mode);
  set_num(env, o, "nlink", (double)st->st_nlink);
  set_num(env, o, "uid", st->st_uid);
  set_num(env, o, "gid", st->st_gid);
  set_num(env, o, "rdev", (double)st->st_rdev);
  set_num(env, o, "size", (double)st->st_size);
  set_num(env, o, "blksize", (double)st->st_blksize);
  set_num(env, o, "blocks", (double)st->st_blocks);
  /* Seconds and nanoseconds apart: the wrapper builds exact BigInt nanoseconds. */
  set_num(env, o, "atimeSec", (double)st->st_atim.tv_sec);
  set_num(env, o, "atimeNsec", (double)st->st_atim.tv_nsec);
  set_num(env, o, "mtimeSec", (double)st->st_mtim.tv_sec);
  set_num(env, o, "mtimeNsec", (double)st->st_mtim.tv_nsec);
  set_num(env, o, "ctimeSec", (double)st->st_ctim.tv_sec);
  set_num(env, o, "ctimeNsec", (double)st->st_ctim.tv_nsec);
  return o;
}

static napi_value statfs_object(napi_env env, const struct statfs *s) {
  napi_value o;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  set_num(env, o, "type", (double)s->f_type);
  set_num(env, o, "bsize", (double)s->f_bsize);
  set_num(env, o, "frsize", (double)s->f_frsize);
  set_num(env, o, "blocks", (double)s->f_blocks);
  set_num(env, o, "bfree", (double)s->f_bfree);
  set_num(env, o, "bavail", (double)s->f_bavail);
  set_num(env, o, "files", (double)s->f_files);
  set_num(env, o, "ffree", (double)s->f_ffree);
  set_num(env, o, "namemax", (double)s->f_namelen);
  set_num(env, o, "flags", (double)s->f_flags);
  return o;
}

static napi_value result_value(napi_env env, req_t *r) {
  napi_value v = NULL;
  switch (r->op) {
  case OP_OPENROOT:
  case OP_OPEN:
    if (napi_create_int32(env, r->fd, &v) != napi_ok) return NULL;
    return v;
  case OP_LSTAT: return stat_object(env, &r->st);
  case OP_COPYFD:
    if (napi_create_double(env, (double)r->size, &v) != napi_ok) return NULL;
    return v;
  case OP_STATFS: return statfs_object(env, &r->sfs);
  case OP_READLINK:
    if (napi_create_string_utf8(env, r->path2, (size_t)r->linklen, &v) != napi_ok) return NULL;
    return v;
  case OP_RESOLVE: { /* { path, consumed } */
    napi_value s, c;
    if (napi_create_object(env, &v) != napi_ok ||
        napi_create_string_utf8(env, r->path2, (size_t)r->linklen, &s) != napi_ok ||
        napi_set_named_property(env, v, "path", s) != napi_ok ||
        napi_create_uint32(env, r->consumed, &c) != napi_ok ||
        napi_set_named_property(env, v, "consumed", c) != napi_ok)
      return NULL;
    return v;
  }
  case OP_GETXATTR:
    if (napi_create_buffer_copy(env, r->value_len, r->value ? r->value : "", NULL, &v) != napi_ok) return NULL;
    return v;
  case OP_LISTXATTR: { /* the kernel's list: names, each NUL-terminated */
    uint32_t count = 0;
    if (napi_create_array(env, &v) != napi_ok) return NULL;
    for (size_t off = 0; off < r->value_len;) {
      size_t len = strnlen(r->value + off, r->value_len - off);
      napi_value s;
      if (napi_create_string_utf8(env, r->value + off, len, &s) != napi_ok ||
          napi_set_element(env, v, count++, s) != napi_ok)
        return NULL;
      off += len + 1;
    }
    return v;
  }
  case OP_READDIR: {
    if (napi_create_array_with_length(env, r->names_count, &v) != napi_ok) return NULL;
    size_t off = 0;
    for (uint32_t i = 0; i < r->names_count; i++) {
      napi_value s;
      size_t len = strlen(r->names + off);
      if (napi_create_string_utf8(env, r->names + off, len, &s) != napi_ok ||
          napi_set_element(env, v, i, s) != napi_ok)
        return NULL;
      off += len + 1;
    }
    return v;
  }
  default:
    if (napi_get_undefined(env, &v) != napi_ok) return NULL;
    return v;
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  req_t *r = data;
  if (status == napi_cancelled && !r->err) {
    r->err = ECANCELED;
    r->syscall = "queue";
  }
  napi_value v = NULL;
  if (!r->err) {
    v = result_value(env, r);
    if (v) {
      napi_resolve_deferred(env, r->deferred, v);
    } else {
      /* Out of JS memory after the syscall succeeded: an fd must not leak. */
      if ((r->op == OP_OPEN || r->op == OP_OPENROOT) && r->fd >= 0) close(r->fd);
      r->err = ENOMEM;
      r->syscall = "napi";
    }
  }
  if (r->err) {
    v = errno_error(env, r->err, r->syscall, r->path);
    if (!v) napi_get_undefined(env, &v);
    napi_reject_deferred(env, r->deferred, v);
  }
  napi_delete_async_work(env, r->work);
  free(r->names);
  free(r->value);
  free(r->groups);
  free(r);
}

/*
 * The optional argument after an operation's own: the caller to act as, a Uint32Array
 * [uid, gid, ...supplementary groups] (undefined: the daemon's own credentials). A root
 * caller needs nothing: its array is ignored. Returns 0, or -1 with a JS exception pending.
 */
static int get_caller(napi_env env, napi_value v, req_t *r) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined || t == napi_null) return 0;
  bool is_ta = false;
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok ||
      type != napi_uint32_array || len < 2 || len - 2 > 65536) {
    napi_throw_type_error(env, NULL, "a caller must be a Uint32Array [uid, gid, ...groups]");
    return -1;
  }
  const uint32_t *ids = data;
  if (ids[0] == 0) return 0; /* root: the daemon's own credentials */
  r->ngroups = len - 2;
  r->groups = malloc((r->ngroups ? r->ngroups : 1) * sizeof(gid_t));
  if (!r->groups) {
    if (!r->err) r->err = ENOMEM;
    return 0;
  }
  for (size_t i = 0; i < r->ngroups; i++) r->groups[i] = ids[2 + i];
  r->cuid = ids[0];
  r->cgid = ids[1];
  r->as_caller = 1;
  return 0;
}

/*
 * The optional argument after the caller: the umask to make a file with (a number), for a
 * caller whose modes come unmasked (the binding asks for FUSE_CAP_DONT_MASK): the file
 * system then applies it, or a directory's default ACL in its place, as for a local caller.
 * undefined: none (umask 0, the mode as given). Returns 0, or -1 with a JS exception pending.
 */
static int get_umask(napi_env env, napi_value v, req_t *r) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined || t == napi_null) return 0;
  uint32_t m;
  if (t != napi_number || napi_get_value_uint32(env, v, &m) != napi_ok) {
    napi_throw_type_error(env, NULL, "a umask must be a number");
    return -1;
  }
  r->cumask = (int)(m & 0777);
  return 0;
}

/* Copy a JS string into a fixed buffer. Too long: ENAMETOOLONG; an embedded NUL would
 * silently shorten the path in C: EINVAL (Node's fs refuses it the same way). Errno-like
 * refusals go to r->err and come back as a rejected promise; a wrong type throws. */
static int get_str(napi_env env, napi_value v, char *buf, size_t cap, req_t *r) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "a path must be a string");
    return -1;
  }
  buf[0] = '\0';
  if (len >= cap) {
    if (!r->err) r->err = ENAMETOOLONG;
    return 0;
  }
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "a path must be a string");
    return -1;
  }
  if (strlen(buf) != len && !r->err) r->err = EINVAL;
  return 0;
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "an argument must be a number");
    return -1;
  }
  return 0;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "an argument must be a number");
    return -1;
  }
  return 0;
}

static int get_int(napi_env env, napi_value v, int *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "an argument must be a number");
    return -1;
  }
  return 0;
}

/* uid/gid: -1 keeps the current one, as for chown(2). */
static int get_id(napi_env env, napi_value v, uint32_t *out, req_t *r) {
  int64_t x;
  if (get_i64(env, v, &x) < 0) return -1;
  if (x < -1 || x >= (int64_t)UINT32_MAX) {
    if (!r->err) r->err = EINVAL;
    x = -1;
  }
  *out = (uint32_t)x;
  return 0;
}

static const size_t arg_count[] = {
    [OP_OPENROOT] = 1, [OP_CLOSE] = 1,   [OP_OPEN] = 5,     [OP_LSTAT] = 2,   [OP_READDIR] = 2,
    [OP_MKDIR] = 3,    [OP_RMDIR] = 2,   [OP_UNLINK] = 2,   [OP_RENAME] = 4,  [OP_LINK] = 3,
    [OP_SYMLINK] = 3,  [OP_READLINK] = 2, [OP_CHMOD] = 3,   [OP_CHOWN] = 4,   [OP_UTIMENS] = 6,
    [OP_TRUNCATE] = 3, [OP_STATFS] = 2,  [OP_MKNOD] = 4,   [OP_GETXATTR] = 3, [OP_LISTXATTR] = 2,
    [OP_SETXATTR] = 5, [OP_REMOVEXATTR] = 3, [OP_MKFIFO] = 2,
    [OP_MOUNT_OVERLAY] = 2, [OP_UMOUNT] = 2, [OP_RESOLVE] = 2, [OP_ACCESS] = 3, [OP_COPYFD] = 8,
};

/* Returns 0, or -1 with a JS exception pending. */
static int parse_args(napi_env env, req_t *r, size_t argc, napi_value *a) {
  if (argc < arg_count[r->op]) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return -1;
  }
  if (r->op == OP_OPENROOT) return get_str(env, a[0], r->path, sizeof r->path, r);
  if (r->op == OP_MOUNT_OVERLAY) { /* (target, options) */
    if (get_str(env, a[0], r->path, sizeof r->path, r) < 0) return -1;
    return get_str(env, a[1], r->path2, sizeof r->path2, r);
  }
  if (r->op == OP_UMOUNT) { /* (target, detach) */
    bool detach;
    if (get_str(env, a[0], r->path, sizeof r->path, r) < 0) return -1;
    if (napi_get_value_bool(env, a[1], &detach) != napi_ok) {
      napi_throw_type_error(env, NULL, "detach must be a boolean");
      return -1;
    }
    r->flags = detach ? MNT_DETACH : 0;
    return 0;
  }
  if (r->op == OP_MKFIFO) { /* (hostPath, mode) */
    uint32_t m;
    if (get_str(env, a[0], r->path, sizeof r->path, r) < 0 || get_u32(env, a[1], &m) < 0) return -1;
    r->mode = m & 07777;
    return 0;
  }
  if (get_int(env, a[0], &r->rootfd) < 0) return -1;
  if (r->op == OP_CLOSE) return 0;
  if (r->op == OP_COPYFD) { /* (fromFd, toFd, uid, gid, mode, mtimeSec, mtimeNsec, capBase): atime = mtime */
    uint32_t id;
    int64_t t;
    if (get_int(env, a[1], &r->fd2) < 0) return -1;
    if (get_id(env, a[2], &id, r) < 0) return -1;
    r->uid = id;
    if (get_id(env, a[3], &id, r) < 0) return -1;
    r->gid = id;
    if (get_u32(env, a[4], &id) < 0) return -1;
    r->mode = id;
    if (get_i64(env, a[5], &t) < 0) return -1;
    r->times[0].tv_sec = r->times[1].tv_sec = (time_t)t;
    if (get_i64(env, a[6], &t) < 0) return -1;
    r->times[0].tv_nsec = r->times[1].tv_nsec = (long)t;
    return get_i64(env, a[7], &r->capbase);
  }
  if (r->op == OP_SYMLINK) { /* (rootFd, target, rel) */
    if (get_str(env, a[1], r->path2, sizeof r->path2, r) < 0) return -1;
    return get_str(env, a[2], r->path, sizeof r->path, r);
  }
  if (get_str(env, a[1], r->path, sizeof r->path, r) < 0) return -1;

  uint32_t u;
  int64_t x;
  bool b;
  switch (r->op) {
  case OP_OPEN:
    if (get_int(env, a[2], &r->flags) < 0 || get_u32(env, a[3], &u) < 0) return -1;
    r->mode = u;
    if (napi_get_value_bool(env, a[4], &b) != napi_ok) {
      napi_throw_type_error(env, NULL, "follow must be a boolean");
      return -1;
    }
    r->follow = b;
    return 0;
  case OP_MKDIR:
  case OP_CHMOD:
  case OP_ACCESS:
    if (get_u32(env, a[2], &u) < 0) return -1;
    r->mode = u;
    return 0;
  case OP_RENAME:
    if (get_str(env, a[2], r->path2, sizeof r->path2, r) < 0) return -1;
    if (get_u32(env, a[3], &u) < 0) return -1;
    r->flags = (int)u;
    return 0;
  case OP_LINK: return get_str(env, a[2], r->path2, sizeof r->path2, r);
  case OP_CHOWN:
    if (get_id(env, a[2], &u, r) < 0) return -1;
    r->uid = u;
    if (get_id(env, a[3], &u, r) < 0) return -1;
    r->gid = u;
    return 0;
  case OP_UTIMENS: /* (rootFd, rel, atimeSec, atimeNsec, mtimeSec, mtimeNsec); the nsec may
                      be UTIME_NOW or UTIME_OMIT, which the kernel reads in tv_nsec */
    for (int i = 0; i < 2; i++) {
      if (get_i64(env, a[2 + 2 * i], &x) < 0) return -1;
      r->times[i].tv_sec = (time_t)x;
      if (get_i64(env, a[3 + 2 * i], &x) < 0) return -1;
      r->times[i].tv_nsec = (long)x;
    }
    return 0;
  case OP_TRUNCATE:
    if (get_i64(env, a[2], &x) < 0) return -1;
    if (x < 0 && !r->err) r->err = EINVAL;
    r->size = (off_t)x;
    return 0;
  case OP_MKNOD:
    if (get_u32(env, a[2], &u) < 0 || get_i64(env, a[3], &x) < 0) return -1;
    r->mode = u;
    r->dev = (dev_t)x;
    return 0;
  case OP_GETXATTR:
  case OP_REMOVEXATTR: return get_str(env, a[2], r->path2, XATTR_NAME_MAX + 1, r);
  case OP_SETXATTR: { /* (rootFd, rel, name, value: Buffer, flags: XATTR_CREATE | XATTR_REPLACE) */
    if (get_str(env, a[2], r->path2, XATTR_NAME_MAX + 1, r) < 0) return -1;
    void *data;
    size_t len;
    if (napi_get_buffer_info(env, a[3], &data, &len) != napi_ok) {
      napi_throw_type_error(env, NULL, "an xattr value must be a Buffer");
      return -1;
    }
    if (get_u32(env, a[4], &u) < 0) return -1;
    r->flags = (int)u;
    if (len > XATTR_SIZE_MAX) {
      if (!r->err) r->err = E2BIG;
      return 0;
    }
    /* Copied: the pool thread must not touch the JS heap. */
    r->value = malloc(len ? len : 1);
    if (!r->value) {
      if (!r->err) r->err = ENOMEM;
      return 0;
    }
    memcpy(r->value, data, len);
    r->value_len = len;
    return 0;
  }
  default: return 0;
  }
}

static napi_value start(napi_env env, napi_callback_info info, enum op op, const char *what) {
  size_t argc = 8;
  napi_value argv[8], promise, resource;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  req_t *r = calloc(1, sizeof *r);
  if (!r) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  r->op = op;
  r->fd = -1;
  r->rootfd = -1;
  r->fd2 = -1;
  r->cumask = -1;
  /* Operations on a root fd may name a caller after their own arguments (get_caller). */
  int rooted = op != OP_OPENROOT && op != OP_MKFIFO && op != OP_MOUNT_OVERLAY && op != OP_UMOUNT && op != OP_COPYFD;
  if (parse_args(env, r, argc, argv) < 0 ||
      (rooted && argc > arg_count[op] && get_caller(env, argv[arg_count[op]], r) < 0) ||
      (rooted && argc > arg_count[op] + 1 && get_umask(env, argv[arg_count[op] + 1], r) < 0)) {
    free(r->value);
    free(r->groups);
    free(r);
    return NULL;
  }
  if (r->err) r->syscall = what + 3; /* refused before any call: name the operation */
  NAPI_CALL(env, napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &resource));
  NAPI_CALL(env, napi_create_promise(env, &r->deferred, &promise));
  if (napi_create_async_work(env, NULL, resource, execute, complete, r, &r->work) != napi_ok) {
    /* The deferred cannot be dropped unsettled without leaking: settle it. */
    napi_value e = errno_error(env, ENOMEM, "napi", r->path);
    if (e) napi_reject_deferred(env, r->deferred, e);
    free(r->value);
    free(r->groups);
    free(r);
    return promise;
  }
  if (napi_queue_async_work(env, r->work) != napi_ok) {
    napi_delete_async_work(env, r->work);
    napi_value e = errno_error(env, ENOMEM, "napi", r->path);
    if (e) napi_reject_deferred(env, r->deferred, e);
    free(r->value);
    free(r->groups);
    free(r);
    return promise;
  }
  return promise;
napi_fail:
  free(r->value);
  free(r->groups);
  free(r);
  return NULL;
}

#define OP_FN(fn, op)                                                                          \
  static napi_value fn(napi_env env, napi_callback_info info) { return start(env, info, op, #fn); }
OP_FN(js_openRoot, OP_OPENROOT)
OP_FN(js_close, OP_CLOSE)
OP_FN(js_open, OP_OPEN)
OP_FN(js_lstat, OP_LSTAT)
OP_FN(js_readdir, OP_READDIR)
OP_FN(js_mkdir, OP_MKDIR)
OP_FN(js_rmdir, OP_RMDIR)
OP_FN(js_unlink, OP_UNLINK)
OP_FN(js_rename, OP_RENAME)
OP_FN(js_link, OP_LINK)
OP_FN(js_symlink, OP_SYMLINK)
OP_FN(js_readlink, OP_READLINK)
OP_FN(js_chmod, OP_CHMOD)
OP_FN(js_chown, OP_CHOWN)
OP_FN(js_utimens, OP_UTIMENS)
OP_FN(js_truncate, OP_TRUNCATE)
OP_FN(js_statfs, OP_STATFS)
OP_FN(js_mknod, OP_MKNOD)
OP_FN(js_getxattr, OP_GETXATTR)
OP_FN(js_listxattr, OP_LISTXATTR)
OP_FN(js_setxattr, OP_SETXATTR)
OP_FN(js_removexattr, OP_REMOVEXATTR)
OP_FN(js_resolve, OP_RESOLVE)
OP_FN(js_access, OP_ACCESS)
OP_FN(js_copyFd, OP_COPYFD)
OP_FN(js_mkfifo, OP_MKFIFO)
OP_FN(js_mountOverlay, OP_MOUNT_OVERLAY)
OP_FN(js_umount, OP_UMOUNT)

napi_value js_idmapMount(napi_env env, napi_callback_info info); /* idmap.c */
napi_value js_sdNotify(napi_env env, napi_callback_info info);   /* notify.c */
/* hostmount.c */
napi_value js_bindOpen(napi_env env, napi_callback_info info);
napi_value js_bindAttach(napi_env env, napi_callback_info info);
napi_value js_bindDetach(napi_env env, napi_callback_info info);
napi_value js_xfsGrow(napi_env env, napi_callback_info info);
napi_value js_attachConnect(napi_env env, napi_callback_info info); /* seqpacket.c */

static napi_value init(napi_env env, napi_value exports) {
#define FN(name) {#name, NULL, js_##name, NULL, NULL, NULL, napi_enumerable, NULL}
  napi_property_descriptor fns[] = {
      FN(openRoot), FN(close),    FN(open),  FN(lstat), FN(readdir),  FN(mkdir),
      FN(rmdir),    FN(unlink),   FN(rename), FN(link), FN(symlink),  FN(readlink),
      FN(chmod),    FN(chown),    FN(utimens), FN(truncate), FN(statfs), FN(mknod),
      FN(getxattr), FN(listxattr), FN(setxattr), FN(removexattr), FN(mkfifo),
      FN(mountOverlay), FN(umount), FN(resolve), FN(access), FN(copyFd),
      FN(idmapMount), FN(sdNotify), FN(bindOpen), FN(bindAttach), FN(bindDetach),
      FN(xfsGrow), FN(attachConnect),
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok)
    return NULL;
  /* Values the wrapper needs that Node's fs.constants does not carry. */
  static const struct { const char *name; int64_t value; } consts[] = {
      {"UTIME_NOW", UTIME_NOW},
      {"UTIME_OMIT", UTIME_OMIT},
      {"RENAME_NOREPLACE", RENAME_NOREPLACE},
      {"RENAME_EXCHANGE", RENAME_EXCHANGE},
      {"O_PATH", O_PATH},
  };
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    napi_value v;
    if (napi_create_int64(env, consts[i].value, &v) != napi_ok ||
        napi_set_named_property(env, exports, consts[i].name, v) != napi_ok)
      return NULL;
  }
  return exports;
#undef FN
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
