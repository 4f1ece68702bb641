/*
 * wardenfs-monitor: the monitor of one process started by `run` without a terminal
 * (docs/processes.md, "The monitor"). It replaces conmon's passthrough mode and the stdin
 * holder with one small process, spawned by the daemon and execing nothing but the runtime:
 *
 *   wardenfs-monitor --uuid UUID --dir DIR --runtime BIN --root ROOT [--oom FILE] CONTAINER
 *
 * fds: 0 the stdin FIFO's reader, 1 and 2 the stdout and stderr files (O_APPEND): the
 * runtime hands them to the process, which writes its output itself; 3 (optional) a writer
 * on the stdin FIFO, held so that the process sees no EOF when the daemon dies, closed on
 * SIGUSR1 (closein).
 *
 * It makes itself the child subreaper, writes DIR/conmon.pid, runs
 * `BIN --root ROOT exec --detach --pid-file DIR/pid --process DIR/process.json CONTAINER`,
 * and once the runtime has returned waits for the process (reaping whatever is reparented
 * to it meanwhile). Then, if FILE's oom_kill count grew while the process ran, it makes
 * DIR/oom, and it writes the status (the code, or 128+signal) to DIR/exit atomically
 * (temp file + rename), whether the daemon lives or not. A failed start (the runtime
 * wrote no pid) leaves no exit: the runtime's message is on the process's stderr.
 *
 * It does not start a session of its own (setsid): it takes a process group of its own
 * (terminal signals to the daemon's group never reach it) and ignores hangups. A new
 * session would also put it and the runtime in a scheduler autogroup of their own, which
 * on a loaded host made each start slower (scripts/bench/notes.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>

#define HELD_FD 3

static volatile sig_atomic_t released;

static void on_usr1(int sig) {
  (void)sig;
  if (!released) {
    close(HELD_FD);
    released = 1;
  }
}

static int path_in(char *out, size_t n, const char *dir, const char *name) {
  int len = snprintf(out, n, "%s/%s", dir, name);
  return len > 0 && (size_t)len < n ? 0 : -1;
}

/* Write `text` to DIR/NAME atomically: DIR/.NAME.tmp, then rename. */
static int write_atomic(const char *dir, const char *name, const char *text) {
  char tmp[4096], final[4096], tname[256];
  snprintf(tname, sizeof tname, ".%s.tmp", name);
  if (path_in(tmp, sizeof tmp, dir, tname) || path_in(final, sizeof final, dir, name)) return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  size_t len = strlen(text);
  ssize_t w = write(fd, text, len);
  if (close(fd) < 0 || w != (ssize_t)len) return -1;
  return rename(tmp, final);
}

/* The oom_kill count of a cgroup's memory.events (v2) or memory.oom_control (v1); -1 unknown. */
static long oom_kills(const char *file) {
  if (!file || !*file) return -1;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, "oom_kill ", 9) == 0) return strtol(line + 9, NULL, 10);
  }
  return -1;
}

static int read_pid(const char *file) {
  int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[32];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  long v = strtol(buf, NULL, 10);
  return v > 0 && v < (1L << 30) ? (int)v : 0;
}

static void usage(void) {
  fprintf(stderr, "usage: wardenfs-monitor --uuid UUID --dir DIR --runtime BIN --root ROOT [--oom FILE] CONTAINER\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *uuid = NULL, *dir = NULL, *runtime = NULL, *root = NULL, *oom = NULL, *container = NULL;
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && strcmp(argv[i], "--uuid") == 0) uuid = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0) dir = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--runtime") == 0) runtime = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--root") == 0) root = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--oom") == 0) oom = argv[++i];
    else if (!container && argv[i][0] != '-') container = argv[i];
    else usage();
  }
  if (!uuid || !dir || !runtime || !root || !container) usage();
  (void)uuid; /* on the command line only: how a restarted daemon recognises its monitor */

  /* Nothing of the daemon's but the fds above (what it inherited itself, for one). */
  close_range(HELD_FD + 1, ~0U, 0);
  setpgid(0, 0);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTTOU, SIG_IGN);
  signal(SIGTTIN, SIG_IGN);
  signal(SIGTSTP, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  /* The held writer must never reach the process (it would never see EOF). */
  if (fcntl(HELD_FD, F_GETFD) >= 0) fcntl(HELD_FD, F_SETFD, FD_CLOEXEC);
  else released = 1;

  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    perror("wardenfs-monitor: PR_SET_CHILD_SUBREAPER");
    return 1;
  }
  char self[32];
  snprintf(self, sizeof self, "%d", (int)getpid());
  if (write_atomic(dir, "conmon.pid", self) < 0) {
    perror("wardenfs-monitor: conmon.pid");
    return 1;
  }
  char pidfile[4096], spec[4096];
  if (path_in(pidfile, sizeof pidfile, dir, "pid") || path_in(spec, sizeof spec, dir, "process.json")) usage();
  long oom_before = oom_kills(oom);

  /* The runtime's signals as a shell would leave them, not ours. */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t rt = fork();
  if (rt == 0) {
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    execlp(runtime, runtime, "--root", root, "exec", "--detach", "--pid-file", pidfile, "--process", spec, container, (char *)NULL);
    fprintf(stderr, "wardenfs-monitor: cannot run %s: %s\n", runtime, strerror(errno));
    _exit(127);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (rt < 0) {
    perror("wardenfs-monitor: fork");
    return 1;
  }
  int st;
  while (waitpid(rt, &st, 0) < 0 && errno == EINTR) {}
  pid_t pid = read_pid(pidfile);
  /* The process has its own fds; the monitor keeps none of its streams. */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
  if (pid <= 0) return 1;

  int code = -1;
  for (;;) {
    pid_t w = waitpid(-1, &st, 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      break; /* ECHILD: it was never ours (cannot happen with a subreaper) */
    }
    if (w == pid) {
      code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
      break;
    }
  }
  if (code < 0) return 1; /* no status: the daemon reports it lost */
  long oom_after = oom_kills(oom);
  if (oom_before >= 0 && oom_after > oom_before) write_atomic(dir, "oom", "");
  char text[16];
  snprintf(text, sizeof text, "%d", code);
  if (write_atomic(dir, "exit", text) < 0) return 1;
  return 0;
}
