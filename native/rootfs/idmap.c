/*
 * Idmapped mounts for containers in a user namespace (issue 11 item 7): the shared image
 * stays stored with the image's own ids (0 …) and each container's overlay takes, as its
 * lower layer, an idmapped bind mount of it that shows id N as the host id BASE+N, the id
 * the container's N is on the host. No copy, no chown of the image.
 *
 *   idmapMount(source, target, base, size)  synchronous; throws an Error with .code
 *
 * The user namespace that carries the mapping is made by a child cloned with
 * CLONE_NEWUSER that only waits on a pipe (async-signal-safe in a threaded process); the
 * parent writes its uid_map and gid_map, keeps an fd of its namespace and lets it go.
 * Then open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP) + move_mount.
 * Exported through rootfs.c's table (js_idmapMount).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>

#include <node_api.h>

static int write_all(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int e = errno;
  close(fd);
  errno = e;
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* An fd of a new user namespace whose ids 0…size-1 are the host's base…base+size-1. */
static int userns_fd(uint32_t base, uint32_t size, const char **what) {
  int p[2];
  *what = "pipe2";
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  *what = "clone";
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    errno = e;
    return -1;
  }
  if (pid == 0) {
    char c;
    close(p[1]);
    (void)!read(p[0], &c, 1); /* until the parent closes its end */
    _exit(0);
  }
  close(p[0]);
  char path[64], map[64];
  int fd = -1, err = 0;
  snprintf(map, sizeof map, "0 %u %u\n", base, size);
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  *what = "uid_map";
  if (write_all(path, map) < 0) err = errno;
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
  if (!err && (*what = "gid_map", write_all(path, map) < 0)) err = errno;
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
  if (!err && (*what = "open userns", (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)) err = errno;
  close(p[1]);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
  errno = err;
  return err ? -1 : fd;
}

static int idmap_mount(const char *source, const char *target, uint32_t base, uint32_t size, const char **what) {
  int ns = userns_fd(base, size, what);
  if (ns < 0) return -1;
  int err = 0;
  *what = "open_tree";
  int t = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (t < 0) err = errno;
  if (!err) {
    struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY, .userns_fd = (uint64_t)ns};
    *what = "mount_setattr";
    if (syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH, &a, sizeof a) < 0) err = errno;
  }
  if (!err) {
    *what = "move_mount";
    if (syscall(SYS_move_mount, t, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) err = errno;
  }
  if (t >= 0) close(t);
  close(ns);
  errno = err;
  return err ? -1 : 0;
}

napi_value js_idmapMount(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char source[4096], target[4096];
  size_t len;
  uint32_t base, size;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      napi_get_value_string_utf8(env, argv[0], source, sizeof source, &len) != napi_ok || len >= sizeof source - 1 ||
      napi_get_value_string_utf8(env, argv[1], target, sizeof target, &len) != napi_ok || len >= sizeof target - 1 ||
      napi_get_value_uint32(env, argv[2], &base) != napi_ok || napi_get_value_uint32(env, argv[3], &size) != napi_ok) {
    napi_throw_type_error(env, NULL, "idmapMount(source, target, base, size)");
    return NULL;
  }
  const char *what = "";
  if (idmap_mount(source, target, base, size, &what) < 0) {
    int e = errno;
    char msg[4400];
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, strerror(e), target);
    napi_value code, text, err;
    const char *name = strerrorname_np(e);
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &err);
    napi_throw(env, err);
    return NULL;
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}
