/*
 * Bind mounts into a running container, and growing a container's own XFS layer
 * (issue 14). Every call runs on the libuv thread pool (a host path may be slow, or on
 * a FUSE mount) and returns a promise; errors carry .code as node:fs errors do.
 *
 *   bindOpen(hostPath, readonly) -> {fd, path, dir}
 *       open_tree(OPEN_TREE_CLONE | AT_RECURSIVE) of hostPath (symlinks followed: it is
 *       the operator's path), made nosuid, nodev and (readonly) read-only, recursively,
 *       while still detached. `path` is where it really is (/proc/self/fd), for the
 *       caller's checks; `fd` the detached tree, closed with close().
 *   bindAttach(treeFd, pid, rel)
 *       in a forked child: setns into /proc/PID/ns/mnt (a multi-threaded process may not),
 *       open the mount point `rel` under that namespace's root with RESOLVE_IN_ROOT |
 *       RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS (a link the container planted is refused,
 *       never followed), then move_mount the tree onto that fd (MOVE_MOUNT_T_EMPTY_PATH):
 *       what was checked is what is mounted on.
 *   bindDetach(pid, rel)
 *       the same walk, then umount2(MNT_DETACH) of the mount at that fd (through the
 *       host's /proc/self/fd, opened before the setns).
 *   xfsGrow(dir, bytes)       XFS_IOC_FSGROWFSDATA: grow the XFS mounted on dir to `bytes`
 *                             (xfs_growfs(8) would stat every mount point of the host, and
 *                             hangs on any dead FUSE mount)
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/openat2.h>

#include <node_api.h>

enum hop { H_OPEN, H_ATTACH, H_DETACH, H_XFSGROW };

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  enum hop op;
  char path[4096];
  char real[4096];
  int fd, pid, readonly, dir;
  uint64_t bytes;
  int err;
  const char *what;
} hreq_t;

static int hfail(hreq_t *r, const char *what) {
  r->err = errno ? errno : EIO;
  r->what = what;
  return -1;
}

static void do_open(hreq_t *r) {
  int fd = open(r->path, O_PATH | O_CLOEXEC);
  if (fd < 0) { hfail(r, "open"); return; }
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, r->real, sizeof r->real - 1);
  struct stat st;
  if (n < 0 || n >= (ssize_t)sizeof r->real - 1) { hfail(r, "readlink"); close(fd); return; }
  r->real[n] = '\0';
  if (fstat(fd, &st) < 0) { hfail(r, "fstat"); close(fd); return; }
  r->dir = S_ISDIR(st.st_mode);
  int t = (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
  close(fd);
  if (t < 0) { hfail(r, "open_tree"); return; }
  struct mount_attr a = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (r->readonly ? MOUNT_ATTR_RDONLY : 0)};
  if (syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0) {
    hfail(r, "mount_setattr");
    close(t);
    return;
  }
  r->fd = t;
}

/*
 * The child of attach/detach: only raw syscalls (it is forked from a threaded process).
 * Reports {step, errno} on the pipe; exits 0 on success.
 */
static void child(hreq_t *r, int ns, int procfd, int out) {
  int res[2] = {0, 0};
  struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int root = -1, t = -1;
  if (setns(ns, CLONE_NEWNS) < 0) { res[0] = 1; goto out; }
  /* After setns the root is the namespace's: the container's / (mntns_install). */
  if ((root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) { res[0] = 2; goto out; }
  if ((t = (int)syscall(SYS_openat2, root, r->path, &how, sizeof how)) < 0) { res[0] = 3; goto out; }
  if (r->op == H_ATTACH) {
    if (syscall(SYS_move_mount, r->fd, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) { res[0] = 4; goto out; }
  } else {
    /* "self/fd/T" by hand: snprintf is not async-signal-safe (a forked child of a threaded process). */
    char link[32] = "self/fd/", digits[12];
    int n = 0, v = t, len = 8;
    do digits[n++] = (char)('0' + v % 10); while ((v /= 10) > 0);
    while (n > 0) link[len++] = digits[--n];
    link[len] = '\0';
    if (fchdir(procfd) < 0) { res[0] = 5; goto out; }
    if (umount2(link, MNT_DETACH) < 0) { res[0] = 6; goto out; }
  }
out:
  if (res[0]) res[1] = errno;
  (void)!write(out, res, sizeof res);
  _exit(res[0] ? 1 : 0);
}

static const char *STEPS[] = {"", "setns", "open /", "openat2", "move_mount", "fchdir", "umount2"};

static void do_inns(hreq_t *r) {
  char nspath[64];
  snprintf(nspath, sizeof nspath, "/proc/%d/ns/mnt", r->pid);
  int ns = open(nspath, O_RDONLY | O_CLOEXEC);
  if (ns < 0) { hfail(r, "open ns/mnt"); return; }
  int procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) { hfail(r, "open /proc"); close(ns); return; }
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) { hfail(r, "pipe2"); close(ns); close(procfd); return; }
  pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) {
    hfail(r, "clone");
  } else if (pid == 0) {
    close(p[0]);
    child(r, ns, procfd, p[1]);
  } else {
    close(p[1]);
    p[1] = -1;
    int res[2] = {0, 0};
    ssize_t n;
    do n = read(p[0], res, sizeof res); while (n < 0 && errno == EINTR);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (n != (ssize_t)sizeof res) {
      errno = EIO;
      hfail(r, "child");
    } else if (res[0]) {
      errno = res[1];
      hfail(r, STEPS[res[0]]);
    }
  }
  close(p[0]);
  if (p[1] >= 0) close(p[1]);
  close(ns);
  close(procfd);
}

/* From xfsprogs' xfs_fs.h (xfslibs-dev is not needed for two definitions). */
struct xfs_growfs_data { uint64_t newblocks; uint32_t imaxpct; };
#define XFS_IOC_FSGROWFSDATA _IOW('X', 110, struct xfs_growfs_data)

static void do_xfsgrow(hreq_t *r) {
  int fd = open(r->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) { hfail(r, "open"); return; }
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0) { hfail(r, "fstatfs"); close(fd); return; }
  /* imaxpct 25: what mkfs.xfs gives a file system below 1 TiB (drivers/rootfs/disklayer.ts). */
  struct xfs_growfs_data g = {.newblocks = r->bytes / (uint64_t)sfs.f_bsize, .imaxpct = 25};
  if (ioctl(fd, XFS_IOC_FSGROWFSDATA, &g) < 0) hfail(r, "XFS_IOC_FSGROWFSDATA");
  close(fd);
}

static void hexecute(napi_env env, void *data) {
  (void)env;
  hreq_t *r = data;
  errno = 0;
  switch (r->op) {
  case H_OPEN: do_open(r); break;
  case H_ATTACH: case H_DETACH: do_inns(r); break;
  case H_XFSGROW: do_xfsgrow(r); break;
  }
}

static void set_num(napi_env env, napi_value o, const char *k, double v) {
  napi_value n;
  if (napi_create_double(env, v, &n) == napi_ok) napi_set_named_property(env, o, k, n);
}

static void hcomplete(napi_env env, napi_status status, void *data) {
  hreq_t *r = data;
  napi_value v = NULL;
  if (r->err || status != napi_ok) {
    int e = r->err ? r->err : EIO;
    char msg[4400];
    snprintf(msg, sizeof msg, "%s: %s (%s)", r->what ? r->what : "hostmount", strerror(e), r->path);
    const char *name = strerrorname_np(e);
    napi_value code, text;
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &v);
    napi_set_named_property(env, v, "code", code);
    napi_reject_deferred(env, r->deferred, v);
  } else {
    if (r->op == H_OPEN) {
      napi_value s, b;
      napi_create_object(env, &v);
      set_num(env, v, "fd", r->fd);
      napi_create_string_utf8(env, r->real, NAPI_AUTO_LENGTH, &s);
      napi_set_named_property(env, v, "path", s);
      napi_get_boolean(env, r->dir, &b);
      napi_set_named_property(env, v, "dir", b);
    } else {
      napi_get_undefined(env, &v);
    }
    napi_resolve_deferred(env, r->deferred, v);
  }
  napi_delete_async_work(env, r->work);
  free(r);
}

/* Arguments by op: OPEN (path, readonly) ATTACH (fd, pid, rel) DETACH (pid, rel) XFSGROW (dir, bytes). */
static napi_value hstart(napi_env env, napi_callback_info info, enum hop op, const char *usage) {
  size_t argc = 3;
  napi_value argv[3], promise, resource;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  hreq_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->op = op;
  r->fd = -1;
  size_t len = 0;
  int ok = 1;
  int32_t i32;
  double d;
  bool b;
#define STR(i) (napi_get_value_string_utf8(env, argv[i], r->path, sizeof r->path, &len) == napi_ok && len < sizeof r->path - 1)
  switch (op) {
  case H_OPEN: ok = argc == 2 && STR(0) && napi_get_value_bool(env, argv[1], &b) == napi_ok; r->readonly = ok && b; break;
  case H_ATTACH:
    ok = argc == 3 && napi_get_value_int32(env, argv[0], &i32) == napi_ok;
    r->fd = i32;
    ok = ok && napi_get_value_int32(env, argv[1], &r->pid) == napi_ok && STR(2);
    break;
  case H_DETACH: ok = argc == 2 && napi_get_value_int32(env, argv[0], &r->pid) == napi_ok && STR(1); break;
  case H_XFSGROW:
    ok = argc == 2 && STR(0) && napi_get_value_double(env, argv[1], &d) == napi_ok && d >= 0;
    r->bytes = ok ? (uint64_t)d : 0;
    break;
  }
#undef STR
  if (!ok) {
    free(r);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (napi_create_string_utf8(env, usage, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_promise(env, &r->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, resource, hexecute, hcomplete, r, &r->work) != napi_ok) {
    free(r);
    return NULL;
  }
  if (napi_queue_async_work(env, r->work) != napi_ok) {
    napi_delete_async_work(env, r->work);
    free(r);
    return NULL;
  }
  return promise;
}

napi_value js_bindOpen(napi_env env, napi_callback_info info) { return hstart(env, info, H_OPEN, "bindOpen(hostPath, readonly)"); }
napi_value js_bindAttach(napi_env env, napi_callback_info info) { return hstart(env, info, H_ATTACH, "bindAttach(treeFd, pid, rel)"); }
napi_value js_bindDetach(napi_env env, napi_callback_info info) { return hstart(env, info, H_DETACH, "bindDetach(pid, rel)"); }
napi_value js_xfsGrow(napi_env env, napi_callback_info info) { return hstart(env, info, H_XFSGROW, "xfsGrow(dir, bytes)"); }
