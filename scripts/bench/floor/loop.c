/*
 * A tight native open+read+close loop (figure 3), so that the client's own cost is the
 * kernel's and not a runtime's. Prints one line per repeat: nanoseconds per iteration.
 *   gcc -O2 -o loop loop.c
 *   ./loop PATH N [REPEATS]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int once(const char *path, char *buf) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) { perror(path); return -1; }
  ssize_t n = read(fd, buf, 4096);
  if (n <= 0) { fprintf(stderr, "%s: read returned %zd\n", path, n); close(fd); return -1; }
  close(fd);
  return 0;
}

int main(int argc, char *argv[]) {
  if (argc < 3) { fprintf(stderr, "usage: %s PATH N [REPEATS]\n", argv[0]); return 2; }
  const char *path = argv[1];
  long n = atol(argv[2]);
  int repeats = argc > 3 ? atoi(argv[3]) : 1;
  static char buf[4096];
  for (long i = 0; i < n / 10 + 1; i++) if (once(path, buf)) return 1; /* warm-up */
  for (int r = 0; r < repeats; r++) {
    long long t0 = now_ns();
    for (long i = 0; i < n; i++) if (once(path, buf)) return 1;
    printf("%.0f\n", (double)(now_ns() - t0) / (double)n);
  }
  return 0;
}
