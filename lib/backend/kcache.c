/* kcache.c: compiled-kernel cache, in memory and on disk.
 *
 * The disk side treats the cache directory as possibly shared with other
 * users (a cluster's scratch, /tmp): it refuses a directory anyone else can
 * write to, creates files 0600 whatever the umask, never follows a link
 * when creating or reading, and loads only files the user owns. */
#include "backend/kcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/sha256.h"
#include "oeq_version.h"
#include "status.h"

/* File layout: magic, key, payload length (little endian), payload
 * SHA-256, payload. */
static const char file_magic[8] = {'O', 'E', 'Q', 'K', 'C', 'A', 'C', '1'};
#define HEADER_BYTES (8 + 32 + 8 + 32)
/* Longest directory / file path used; longer ones disable the disk cache. */
#define PATH_BYTES 4096
/* A temporary older than this is a crashed writer's: removed on store. */
#define STALE_TMP_SECONDS 3600

typedef struct entry {
  struct entry *next;
  oeq_kcache_key_t key;
  size_t size;
  unsigned char *image;
} entry_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t *entries;

void oeq_kcache_make_key(oeq_kcache_key_t *key, const char *source, const char *target,
                         const char *compiler_version) {
  oeq_sha256_t s;
  oeq_sha256_init(&s);
  /* Each field with its terminating NUL, so fields cannot run together. */
  const char *fields[4] = {source, target, compiler_version, OEQ_VERSION_STRING};
  for (int i = 0; i < 4; i++) oeq_sha256_update(&s, fields[i], strlen(fields[i]) + 1);
  oeq_sha256_final(&s, key->bytes);
}

static void key_hex(const oeq_kcache_key_t *key, char hex[65]) {
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", key->bytes[i]);
}

/* The cache directory, or "" when the disk cache is off (by choice, or a
 * path that does not fit). The environment is read on every call. */
static void cache_dir(char *dir, size_t len) {
  const char *env = getenv("OEQ_CACHE_DIR");
  int n = 0;
  dir[0] = '\0';
  if (env && strcmp(env, "off") == 0) return;
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  if (env && *env)
    n = snprintf(dir, len, "%s", env);
  else if (xdg && xdg[0] == '/') /* XDG: a relative path is invalid, ignore it */
    n = snprintf(dir, len, "%s/oeq", xdg);
  else if (home && *home)
    n = snprintf(dir, len, "%s/.cache/oeq", home);
  if (n < 0 || (size_t)n >= len) {
    oeq_log("kernel cache: the cache directory's path is longer than %zu bytes; not using the disk",
            len - 1);
    dir[0] = '\0';
  }
}

void oeq_kcache_file_path(const oeq_kcache_key_t *key, char *path, size_t len) {
  char dir[PATH_BYTES], hex[65];
  if (len) path[0] = '\0';
  cache_dir(dir, sizeof dir);
  if (!dir[0]) return;
  key_hex(key, hex);
  int n = snprintf(path, len, "%s/%s.bin", dir, hex);
  if (n < 0 || (size_t)n >= len) {
    oeq_log("kernel cache: the path of %s/%s.bin does not fit; not using the disk", dir, hex);
    if (len) path[0] = '\0';
  }
}

/* Is an existing directory safe: a directory owned by this user that
 * nobody else can write to? Logs why not. */
static int dir_is_private(const char *dir) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    oeq_log("kernel cache: cannot use %s (%s); not using the disk", dir, strerror(errno));
    return 0;
  }
  if (!S_ISDIR(st.st_mode)) {
    oeq_log("kernel cache: %s is not a directory; not using the disk", dir);
    return 0;
  }
  if (st.st_uid != geteuid()) {
    oeq_log("kernel cache: %s belongs to uid %ld, not this user; not using the disk", dir,
            (long)st.st_uid);
    return 0;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    oeq_log("kernel cache: %s is writable by group or others (mode %03o); not using the disk", dir,
            (unsigned)(st.st_mode & 0777));
    return 0;
  }
  return 1;
}

/* mkdir -p with 0700 for what it creates (XDG's mode for cache
 * directories); racing processes creating the same directory are fine. */
static int make_dirs(const char *dir) {
  char path[PATH_BYTES];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return -1;
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* The directory to read from (create = 0) or write to (create = 1), only
 * when it passes dir_is_private; "" otherwise. */
static void usable_dir(char *dir, size_t len, int create) {
  cache_dir(dir, len);
  if (!dir[0]) return;
  if (create && make_dirs(dir) != 0) {
    oeq_log("kernel cache: cannot create %s (%s); not using the disk", dir, strerror(errno));
    dir[0] = '\0';
    return;
  }
  if (!create && access(dir, F_OK) != 0) { /* nothing cached yet: not worth a log line */
    dir[0] = '\0';
    return;
  }
  if (!dir_is_private(dir)) dir[0] = '\0';
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static int read_all(int fd, void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
  const unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Read and verify a cache file; 1 with a malloc'ed image if it is sound:
 * a regular file of this user's, not writable by others, whose header
 * names this key and whose length and checksum match. The payload length
 * must be the file's size less the header, so a corrupt header cannot
 * ask for a huge allocation. */
static int read_file(const char *path, const oeq_kcache_key_t *key, void **image, size_t *size) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  unsigned char header[HEADER_BYTES];
  unsigned char *data = NULL;
  const char *why = NULL;
  uint64_t n = 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    why = "not a regular file";
  else if (st.st_uid != geteuid())
    why = "owned by another user";
  else if (st.st_mode & (S_IWGRP | S_IWOTH))
    why = "writable by group or others";
  else if (st.st_size < HEADER_BYTES || read_all(fd, header, sizeof header) != 0 ||
           memcmp(header, file_magic, 8) != 0 || memcmp(header + 8, key->bytes, 32) != 0)
    why = "not a cache file of this key";
  else if ((n = get_u64(header + 40)) != (uint64_t)st.st_size - HEADER_BYTES || n == 0 ||
           n > SIZE_MAX)
    why = "its length does not match its size";
  else if (!(data = malloc((size_t)n)))
    why = "out of memory";
  else {
    unsigned char sum[32], extra;
    if (read_all(fd, data, (size_t)n) != 0 || read(fd, &extra, 1) != 0)
      why = "truncated or grown while read";
    else {
      oeq_sha256(data, (size_t)n, sum);
      if (memcmp(sum, header + 48, 32) != 0) why = "checksum mismatch";
    }
  }
  close(fd);
  if (why) {
    free(data);
    oeq_log("kernel cache: ignoring %s (%s)", path, why);
    return 0;
  }
  *image = data;
  *size = (size_t)n;
  return 1;
}

/* Removes this user's temporaries (".<hex>.<pid>.<n>.tmp") older than
 * STALE_TMP_SECONDS: what a writer killed between create and rename left. */
static void remove_stale_temporaries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  time_t now = time(NULL);
  struct dirent *ent;
  while ((ent = readdir(d))) {
    size_t len = strlen(ent->d_name);
    if (ent->d_name[0] != '.' || len < 5 || strcmp(ent->d_name + len - 4, ".tmp") != 0) continue;
    struct stat st;
    if (fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (st.st_uid != geteuid() || now - st.st_mtime < STALE_TMP_SECONDS) continue;
    if (unlinkat(dirfd(d), ent->d_name, 0) == 0)
      oeq_log("kernel cache: removed stale temporary %s/%s", dir, ent->d_name);
  }
  closedir(d);
}

static void write_file(const oeq_kcache_key_t *key, const void *image, size_t size) {
  static unsigned long counter; /* distinguishes threads' temporaries */
  char dir[PATH_BYTES], path[PATH_BYTES], tmp[PATH_BYTES], hex[65];
  usable_dir(dir, sizeof dir, 1);
  if (!dir[0]) return;
  remove_stale_temporaries(dir);
  key_hex(key, hex);
  unsigned long n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
  int lp = snprintf(path, sizeof path, "%s/%s.bin", dir, hex);
  int lt = snprintf(tmp, sizeof tmp, "%s/.%s.%ld.%lu.tmp", dir, hex, (long)getpid(), n);
  if (lp < 0 || lt < 0 || (size_t)lp >= sizeof path || (size_t)lt >= sizeof tmp) {
    oeq_log("kernel cache: the file path under %s does not fit; not writing", dir);
    return;
  }
  unsigned char header[HEADER_BYTES];
  memcpy(header, file_magic, 8);
  memcpy(header + 8, key->bytes, 32);
  put_u64(header + 40, size);
  oeq_sha256(image, size, header + 48);
  /* O_EXCL | O_NOFOLLOW: never write through a planted file or link. */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    oeq_log("kernel cache: cannot create %s (%s)", tmp, strerror(errno));
    return;
  }
  /* The umask only removes bits; fchmod makes it 0600 whatever it is. */
  int ok = fchmod(fd, 0600) == 0 && write_all(fd, header, sizeof header) == 0 &&
           write_all(fd, image, size) == 0;
  ok = (close(fd) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    oeq_log("kernel cache: could not write %s", path);
  }
}

static int store_in_memory(const oeq_kcache_key_t *key, const void *image, size_t size) {
  entry_t *e = malloc(sizeof *e);
  unsigned char *copy = malloc(size ? size : 1);
  if (!e || !copy) {
    free(e);
    free(copy);
    return 0;
  }
  memcpy(copy, image, size);
  *e = (entry_t){.key = *key, .size = size, .image = copy};
  pthread_mutex_lock(&lock);
  int present = 0;
  for (entry_t *o = entries; o; o = o->next) present |= memcmp(o->key.bytes, key->bytes, 32) == 0;
  if (!present) {
    e->next = entries;
    entries = e;
  }
  pthread_mutex_unlock(&lock);
  if (present) {
    free(copy);
    free(e);
  }
  return !present;
}

int oeq_kcache_lookup(const oeq_kcache_key_t *key, void **image, size_t *size) {
  pthread_mutex_lock(&lock);
  for (entry_t *e = entries; e; e = e->next) {
    if (memcmp(e->key.bytes, key->bytes, 32) != 0) continue;
    void *copy = malloc(e->size ? e->size : 1);
    if (copy) memcpy(copy, e->image, e->size);
    size_t n = e->size;
    pthread_mutex_unlock(&lock);
    if (!copy) return 0;
    *image = copy;
    *size = n;
    oeq_log("kernel cache: memory hit");
    return 1;
  }
  pthread_mutex_unlock(&lock);
  char dir[PATH_BYTES], path[PATH_BYTES], hex[65];
  usable_dir(dir, sizeof dir, 0);
  if (!dir[0]) return 0;
  key_hex(key, hex);
  int n = snprintf(path, sizeof path, "%s/%s.bin", dir, hex);
  if (n < 0 || (size_t)n >= sizeof path || !read_file(path, key, image, size)) return 0;
  oeq_log("kernel cache: disk hit %s", path);
  /* Keep it in memory too: later plans in this process skip the disk. */
  store_in_memory(key, *image, *size);
  return 1;
}

void oeq_kcache_store(const oeq_kcache_key_t *key, const void *image, size_t size) {
  store_in_memory(key, image, size);
  char path[PATH_BYTES];
  oeq_kcache_file_path(key, path, sizeof path);
  if (!path[0]) return;
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == size + HEADER_BYTES) {
    /* Same length already there: verify rather than rewrite. */
    void *old = NULL;
    size_t n = 0;
    if (read_file(path, key, &old, &n)) {
      int same = n == size && memcmp(old, image, size) == 0;
      free(old);
      if (same) return;
    }
  }
  write_file(key, image, size);
}

void oeq_kcache_evict(const oeq_kcache_key_t *key) {
  pthread_mutex_lock(&lock);
  for (entry_t **link = &entries; *link; link = &(*link)->next) {
    entry_t *e = *link;
    if (memcmp(e->key.bytes, key->bytes, 32) != 0) continue;
    *link = e->next;
    free(e->image);
    free(e);
    break;
  }
  pthread_mutex_unlock(&lock);
  char dir[PATH_BYTES], path[PATH_BYTES], hex[65];
  usable_dir(dir, sizeof dir, 0);
  if (!dir[0]) return;
  key_hex(key, hex);
  int n = snprintf(path, sizeof path, "%s/%s.bin", dir, hex);
  if (n < 0 || (size_t)n >= sizeof path) return;
  if (unlink(path) == 0) oeq_log("kernel cache: evicted %s", path);
}

void oeq_kcache_clear_memory(void) {
  pthread_mutex_lock(&lock);
  entry_t *e = entries;
  entries = NULL;
  pthread_mutex_unlock(&lock);
  while (e) {
    entry_t *next = e->next;
    free(e->image);
    free(e);
    e = next;
  }
}
