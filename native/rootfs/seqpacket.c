/*
 * A connection to conmon's attach socket, the way keystrokes reach a process's terminal
 * (docs/processes.md, Terminals). The socket is SOCK_SEQPACKET, which Node's net module
 * cannot open.
 *
 *   attachConnect(dir, name) -> fd   synchronous; throws an Error with .code
 *
 * `dir` is a trusted path of the daemon's own state dir; the socket is reached through
 * /proc/self/fd/N/NAME so that a long state dir never exceeds sun_path's 108 bytes. The fd
 * is non-blocking (a full socket is EAGAIN: the writer waits in JavaScript) and its read
 * side is shut at once: conmon copies the terminal's output to every attached socket with
 * blocking writes, and a socket nobody reads would stall it; with the read side shut its
 * copy fails (EPIPE) and conmon stops writing to it, while our writes go on.
 * Exported through rootfs.c's table (js_attachConnect).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <node_api.h>

static int attach_connect(const char *dir, const char *name, const char **what) {
  int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) { *what = "open"; return -1; }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  int n = snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dfd, name);
  if (n < 0 || (size_t)n >= sizeof addr.sun_path) {
    close(dfd);
    errno = ENAMETOOLONG;
    *what = "socket path";
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { close(dfd); *what = "socket"; return -1; }
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    close(dfd);
    errno = e;
    *what = "connect";
    return -1;
  }
  close(dfd);
  if (shutdown(fd, SHUT_RD) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    *what = "shutdown";
    return -1;
  }
  return fd;
}

napi_value js_attachConnect(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char dir[4096], name[256];
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_string_utf8(env, argv[0], dir, sizeof dir, &len) != napi_ok || len >= sizeof dir - 1 ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len) != napi_ok || len >= sizeof name - 1 ||
      strchr(name, '/') != NULL) {
    napi_throw_type_error(env, NULL, "attachConnect(dir, name)");
    return NULL;
  }
  const char *what = "";
  int fd = attach_connect(dir, name, &what);
  if (fd < 0) {
    int e = errno;
    char msg[4400];
    snprintf(msg, sizeof msg, "%s: %s (%s/%s)", what, strerror(e), dir, name);
    napi_value code, text, err;
    const char *ename = strerrorname_np(e);
    napi_create_string_utf8(env, ename ? ename : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &err);
    napi_throw(env, err);
    return NULL;
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}
