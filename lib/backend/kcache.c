/* kcache.c: compiled-kernel cache, in memory and on disk. */
#include "backend/kcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/sha256.h"
#include "oeq_version.h"
#include "status.h"

/* File layout: magic, key, payload length (little endian), payload
 * SHA-256, payload. */
static const char file_magic[8] = {'O', 'E', 'Q', 'K', 'C', 'A', 'C', '1'};
#define HEADER_BYTES (8 + 32 + 8 + 32)

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

/* The cache directory, or "" when the disk cache is off. */
static void cache_dir(char *dir, size_t len) {
  const char *env = getenv("OEQ_CACHE_DIR");
  dir[0] = '\0';
  if (env && strcmp(env, "off") == 0) return;
  if (env && *env) {
    snprintf(dir, len, "%s", env);
    return;
  }
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  if (xdg && *xdg)
    snprintf(dir, len, "%s/oeq", xdg);
  else if (home && *home)
    snprintf(dir, len, "%s/.cache/oeq", home);
}

void oeq_kcache_file_path(const oeq_kcache_key_t *key, char *path, size_t len) {
  char dir[3072], hex[65];
  cache_dir(dir, sizeof dir);
  if (!dir[0]) {
    if (len) path[0] = '\0';
    return;
  }
  key_hex(key, hex);
  snprintf(path, len, "%s/%s.bin", dir, hex);
}

/* mkdir -p; racing processes creating the same directory are fine. */
static int make_dirs(const char *dir) {
  char path[3072];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Read and verify a cache file; 1 with a malloc'ed image if it is sound. */
static int read_file(const char *path, const oeq_kcache_key_t *key, void **image, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  unsigned char header[HEADER_BYTES];
  int ok = fread(header, 1, sizeof header, f) == sizeof header &&
           memcmp(header, file_magic, 8) == 0 && memcmp(header + 8, key->bytes, 32) == 0;
  uint64_t n = ok ? get_u64(header + 40) : 0;
  unsigned char *data = NULL;
  if (ok && n > 0 && n < ((uint64_t)1 << 32) && (data = malloc((size_t)n))) {
    unsigned char sum[32];
    ok = fread(data, 1, (size_t)n, f) == n && fgetc(f) == EOF;
    if (ok) oeq_sha256(data, (size_t)n, sum);
    ok = ok && memcmp(sum, header + 48, 32) == 0;
  } else {
    ok = 0;
  }
  fclose(f);
  if (!ok) {
    free(data);
    oeq_log("kernel cache: ignoring unreadable or foreign file %s", path);
    return 0;
  }
  *image = data;
  *size = (size_t)n;
  return 1;
}

static void write_file(const oeq_kcache_key_t *key, const void *image, size_t size) {
  char dir[3072], path[3200], tmp[3300], hex[65];
  cache_dir(dir, sizeof dir);
  if (!dir[0] || make_dirs(dir) != 0) return;
  key_hex(key, hex);
  snprintf(path, sizeof path, "%s/%s.bin", dir, hex);
  /* Unique per process and call: pid plus the address of this frame. */
  snprintf(tmp, sizeof tmp, "%s/.%s.%ld.%lx.tmp", dir, hex, (long)getpid(),
           (unsigned long)(uintptr_t)&tmp);
  unsigned char header[HEADER_BYTES];
  memcpy(header, file_magic, 8);
  memcpy(header + 8, key->bytes, 32);
  put_u64(header + 40, size);
  oeq_sha256(image, size, header + 48);
  FILE *f = fopen(tmp, "wb");
  if (!f) return;
  int ok = fwrite(header, 1, sizeof header, f) == sizeof header &&
           fwrite(image, 1, size, f) == size;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    oeq_log("kernel cache: could not write %s", path);
  }
}

static int store_in_memory(const oeq_kcache_key_t *key, const void *image, size_t size) {
  entry_t *e = malloc(sizeof *e);
  unsigned char *copy = malloc(size);
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
    void *copy = malloc(e->size);
    if (copy) memcpy(copy, e->image, e->size);
    pthread_mutex_unlock(&lock);
    if (!copy) return 0;
    *image = copy;
    *size = e->size;
    oeq_log("kernel cache: memory hit");
    return 1;
  }
  pthread_mutex_unlock(&lock);
  char path[3200];
  oeq_kcache_file_path(key, path, sizeof path);
  if (!path[0] || !read_file(path, key, image, size)) return 0;
  oeq_log("kernel cache: disk hit %s", path);
  /* Keep it in memory too: later plans in this process skip the disk. */
  store_in_memory(key, *image, *size);
  return 1;
}

void oeq_kcache_store(const oeq_kcache_key_t *key, const void *image, size_t size) {
  store_in_memory(key, image, size);
  char path[3200];
  oeq_kcache_file_path(key, path, sizeof path);
  if (!path[0]) return;
  struct stat st;
  if (stat(path, &st) == 0 && (size_t)st.st_size == size + HEADER_BYTES) {
    /* Same length already there: verify rather than rewrite. */
    void *old = NULL;
    size_t n = 0;
    if (read_file(path, key, &old, &n)) {
      free(old);
      return;
    }
  }
  write_file(key, image, size);
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
