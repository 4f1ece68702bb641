/*
 * The floor of figure 3: the least a libfuse2 (high-level API, multithreaded loop, like
 * fuse-native) filesystem can cost per open+read+close. It serves one synthetic small file
 * at the same depth as wardenfs's cgroup files, /containers/x/cgroup/memory.max = "max\n",
 * and nothing else. Built at bench time:
 *   gcc -O2 -o floor floor.c $(pkg-config --cflags --libs fuse)
 *   ./floor MOUNTPOINT -f -o direct_io,attr_timeout=0,entry_timeout=1,...
 */
#define FUSE_USE_VERSION 26
#include <fuse.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char *DIRS[] = { "/", "/containers", "/containers/x", "/containers/x/cgroup" };
static const char *FILE_PATH = "/containers/x/cgroup/memory.max";
static const char CONTENT[] = "max\n";

static int is_dir(const char *p) {
  for (unsigned i = 0; i < sizeof DIRS / sizeof *DIRS; i++)
    if (strcmp(p, DIRS[i]) == 0) return 1;
  return 0;
}

static int floor_getattr(const char *p, struct stat *st) {
  memset(st, 0, sizeof *st);
  if (is_dir(p)) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (strcmp(p, FILE_PATH) == 0) {
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
    st->st_size = sizeof CONTENT - 1;
    return 0;
  }
  return -ENOENT;
}

static int floor_readdir(const char *p, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi) {
  (void)off; (void)fi;
  if (!is_dir(p)) return -ENOTDIR;
  fill(buf, ".", NULL, 0);
  fill(buf, "..", NULL, 0);
  if (strcmp(p, "/") == 0) fill(buf, "containers", NULL, 0);
  else if (strcmp(p, "/containers") == 0) fill(buf, "x", NULL, 0);
  else if (strcmp(p, "/containers/x") == 0) fill(buf, "cgroup", NULL, 0);
  else fill(buf, "memory.max", NULL, 0);
  return 0;
}

static int floor_open(const char *p, struct fuse_file_info *fi) {
  (void)fi;
  return strcmp(p, FILE_PATH) == 0 ? 0 : -ENOENT;
}

static int floor_read(const char *p, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)p; (void)fi;
  size_t len = sizeof CONTENT - 1;
  if ((size_t)off >= len) return 0;
  if (size > len - (size_t)off) size = len - (size_t)off;
  memcpy(buf, CONTENT + off, size);
  return (int)size;
}

static struct fuse_operations ops = {
  .getattr = floor_getattr,
  .readdir = floor_readdir,
  .open = floor_open,
  .read = floor_read,
};

int main(int argc, char *argv[]) {
  return fuse_main(argc, argv, &ops, NULL);
}
