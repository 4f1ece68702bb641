/*
 * sd_notify(3) without libsystemd: one datagram to the service manager's socket, sent by
 * the daemon's own process. `systemd-notify` (a child) would race: systemd attributes a
 * message to a unit by the sender's cgroup, which it cannot read once the sender is gone,
 * and then drops the READY=1 (systemd-notify(1), "NotifyAccess=all" and its caveat).
 *
 *   sdNotify(socketPath, message)  synchronous; throws an Error with .code
 *
 * socketPath is $NOTIFY_SOCKET: a path, or "@name" for an abstract socket. MSG_DONTWAIT:
 * the daemon never blocks on a full queue of the manager (the state is then dropped).
 * Exported through rootfs.c's table (js_sdNotify).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <node_api.h>

static int sd_notify_to(const char *sock, const char *msg, size_t len) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t n = strlen(sock);
  if (n == 0 || n >= sizeof sa.sun_path || (sock[0] != '/' && sock[0] != '@')) {
    errno = EINVAL;
    return -1;
  }
  memcpy(sa.sun_path, sock, n);
  if (sock[0] == '@') sa.sun_path[0] = '\0'; /* abstract: the length says where it ends */
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (sock[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  ssize_t r = sendto(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? -1 : 0;
}

napi_value js_sdNotify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char sock[sizeof(((struct sockaddr_un *)0)->sun_path) + 1], msg[4096];
  size_t sock_len, msg_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_string_utf8(env, argv[0], sock, sizeof sock, &sock_len) != napi_ok || sock_len >= sizeof sock - 1 ||
      napi_get_value_string_utf8(env, argv[1], msg, sizeof msg, &msg_len) != napi_ok || msg_len >= sizeof msg - 1) {
    napi_throw_type_error(env, NULL, "sdNotify(socketPath, message)");
    return NULL;
  }
  if (sd_notify_to(sock, msg, msg_len) < 0) {
    int e = errno;
    char text[256];
    snprintf(text, sizeof text, "sd_notify to %s: %s", sock, strerror(e));
    napi_value code, message, err;
    const char *name = strerrorname_np(e);
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &err);
    napi_throw(env, err);
    return NULL;
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}
