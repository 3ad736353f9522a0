/* test_kcache.c: the on-disk kernel cache in a possibly shared directory
 * (oeq issue 14, case 4), without a GPU: kcache's functions directly, with
 * OEQ_CACHE_DIR / XDG_CACHE_HOME / HOME pointed at fresh temporary
 * directories. kcache reads the environment on every call, and Criterion
 * runs each test in its own process, so no state leaks between cases. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/kcache.h"

static char root[256]; /* this test's temporary directory */

static void make_root(void) {
  snprintf(root, sizeof root, "/tmp/oeq-kcache-test-XXXXXX");
  cr_assert_not_null(mkdtemp(root));
  unsetenv("OEQ_CACHE_DIR");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", root, 1);
}

static void remove_root(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
}

TestSuite(kcache, .init = make_root, .fini = remove_root);

static oeq_kcache_key_t test_key(const char *source) {
  oeq_kcache_key_t key;
  oeq_kcache_make_key(&key, source, "sm_80", "test compiler 1.0");
  return key;
}

static const char image_bytes[] = "\x7f" "ELF pretend kernel image";

static void set_cache_dir(const char *sub) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", root, sub);
  setenv("OEQ_CACHE_DIR", dir, 1);
}

/* 1 if the key's image comes back from the disk (memory cleared first). */
static int disk_has(const oeq_kcache_key_t *key, const void *want, size_t want_size) {
  oeq_kcache_clear_memory();
  void *image = NULL;
  size_t size = 0;
  if (!oeq_kcache_lookup(key, &image, &size)) return 0;
  int same = size == want_size && memcmp(image, want, size) == 0;
  free(image);
  cr_expect(same, "the disk returned a different image");
  return 1;
}

/* Writes a well-formed cache file for key (as a planted one would be). */
static void plant_file(const oeq_kcache_key_t *key, const void *image, size_t size, mode_t mode) {
  /* Let the cache write it, then move it aside and back: same bytes. */
  oeq_kcache_store(key, image, size);
  char path[4096];
  oeq_kcache_file_path(key, path, sizeof path);
  cr_assert(path[0]);
  cr_assert_eq(chmod(path, mode), 0);
}

Test(kcache, round_trip_memory_and_disk) {
  set_cache_dir("c");
  oeq_kcache_key_t key = test_key("kernel A"), other = test_key("kernel B");
  void *image = NULL;
  size_t size = 0;
  cr_expect_eq(oeq_kcache_lookup(&key, &image, &size), 0, "hit before any store");
  oeq_kcache_store(&key, image_bytes, sizeof image_bytes);
  cr_assert_eq(oeq_kcache_lookup(&key, &image, &size), 1);
  cr_expect_eq(size, sizeof image_bytes);
  cr_expect_eq(memcmp(image, image_bytes, size), 0);
  free(image);
  cr_expect(disk_has(&key, image_bytes, sizeof image_bytes), "not found on disk");
  cr_expect_eq(oeq_kcache_lookup(&other, &image, &size), 0, "another key hit");
}

/* Under umask 0 the old code made files 0666 and directories 0755. */
Test(kcache, modes_private_whatever_the_umask) {
  mode_t old = umask(0);
  set_cache_dir("a/b/c");
  oeq_kcache_key_t key = test_key("kernel");
  oeq_kcache_store(&key, image_bytes, sizeof image_bytes);
  umask(old);
  char path[4096], dir[512];
  oeq_kcache_file_path(&key, path, sizeof path);
  struct stat st;
  cr_assert_eq(stat(path, &st), 0, "no file %s", path);
  cr_expect_eq(st.st_mode & 0777, 0600, "file mode %03o", (unsigned)(st.st_mode & 0777));
  snprintf(dir, sizeof dir, "%s/a/b/c", root);
  cr_assert_eq(stat(dir, &st), 0);
  cr_expect_eq(st.st_mode & 0777, 0700, "directory mode %03o", (unsigned)(st.st_mode & 0777));
  snprintf(dir, sizeof dir, "%s/a", root);
  cr_assert_eq(stat(dir, &st), 0);
  cr_expect_eq(st.st_mode & 0777, 0700, "parent mode %03o", (unsigned)(st.st_mode & 0777));
}

/* A well-formed file that others can write may have been planted. */
Test(kcache, group_or_other_writable_file_ignored) {
  set_cache_dir("c");
  oeq_kcache_key_t key = test_key("kernel");
  plant_file(&key, image_bytes, sizeof image_bytes, 0666);
  cr_expect_eq(disk_has(&key, image_bytes, sizeof image_bytes), 0, "loaded a 0666 file");
  /* Storing again replaces it with a private one, which is then used. */
  oeq_kcache_store(&key, image_bytes, sizeof image_bytes);
  cr_expect(disk_has(&key, image_bytes, sizeof image_bytes));
}

Test(kcache, file_of_another_user_ignored) {
  if (geteuid() != 0) cr_skip_test("needs root to give a file to another user");
  set_cache_dir("c");
  oeq_kcache_key_t key = test_key("kernel");
  plant_file(&key, image_bytes, sizeof image_bytes, 0644);
  char path[4096];
  oeq_kcache_file_path(&key, path, sizeof path);
  cr_assert_eq(chown(path, 65534, 65534), 0);
  cr_expect_eq(disk_has(&key, image_bytes, sizeof image_bytes), 0, "loaded another user's file");
}

/* A world-writable directory: neither read from nor written to. */
Test(kcache, writable_directory_refused) {
  set_cache_dir("c");
  oeq_kcache_key_t key = test_key("kernel");
  plant_file(&key, image_bytes, sizeof image_bytes, 0600);
  char dir[512];
  snprintf(dir, sizeof dir, "%s/c", root);
  cr_assert_eq(chmod(dir, 0777), 0);
  cr_expect_eq(disk_has(&key, image_bytes, sizeof image_bytes), 0, "read from a 0777 directory");
  oeq_kcache_key_t fresh = test_key("another kernel");
  oeq_kcache_store(&fresh, image_bytes, sizeof image_bytes);
  char path[4096];
  oeq_kcache_file_path(&fresh, path, sizeof path);
  cr_expect_neq(access(path, F_OK), 0, "wrote into a 0777 directory");
  /* The memory cache still works. */
  void *image = NULL;
  size_t size = 0;
  cr_expect_eq(oeq_kcache_lookup(&fresh, &image, &size), 1);
  free(image);
}

Test(kcache, directory_of_another_user_refused) {
  if (geteuid() != 0) cr_skip_test("needs root to give a directory to another user");
  set_cache_dir("c");
  oeq_kcache_key_t key = test_key("kernel");
  plant_file(&key, image_bytes, sizeof image_bytes, 0600);
  char dir[512];
  snprintf(dir, sizeof dir, "%s/c", root);
  cr_assert_eq(chown(dir, 65534, 65534), 0);
  cr_expect_eq(disk_has(&key, image_bytes, sizeof image_bytes), 0, "read from another user's directory");
}

/* The temporary is created with O_EXCL | O_NOFOLLOW: a link planted at its
 * name is not written through. */
Test(kcache, temporary_never_follows_a_link) {
  set_cache_dir("c");
  char dir[512], victim[512], link[1024], hex[65], path[4096];
  snprintf(dir, sizeof dir, "%s/c", root);
  cr_assert_eq(mkdir(dir, 0700), 0);
  snprintf(victim, sizeof victim, "%s/victim", root);
  FILE *f = fopen(victim, "w");
  cr_assert(f);
  fputs("precious", f);
  fclose(f);
  oeq_kcache_key_t key = test_key("kernel");
  oeq_kcache_file_path(&key, path, sizeof path);
  const char *base = strrchr(path, '/') + 1;
  snprintf(hex, sizeof hex, "%.64s", base);
  for (int n = 1; n <= 8; n++) {
    snprintf(link, sizeof link, "%s/.%s.%ld.%d.tmp", dir, hex, (long)getpid(), n);
    cr_assert_eq(symlink(victim, link), 0);
  }
  oeq_kcache_store(&key, image_bytes, sizeof image_bytes);
  f = fopen(victim, "r");
  char text[64] = {0};
  cr_assert(f);
  cr_expect(fgets(text, sizeof text, f) != NULL);
  fclose(f);
  cr_expect_str_eq(text, "precious", "the victim was overwritten");
}

/* A path longer than the buffers: refused, not truncated to another one. */
Test(kcache, long_path_refused) {
  char *dir = malloc(6000);
  cr_assert(dir);
  int n = snprintf(dir, 6000, "%s/", root);
  memset(dir + n, 'd', 5000);
  dir[n + 5000] = '\0';
  setenv("OEQ_CACHE_DIR", dir, 1);
  oeq_kcache_key_t key = test_key("kernel");
  char path[8192];
  oeq_kcache_file_path(&key, path, sizeof path);
  cr_expect_str_eq(path, "", "a %zu-byte path was accepted", strlen(path));
  oeq_kcache_store(&key, image_bytes, sizeof image_bytes);
  void *image = NULL;
  size_t size = 0;
  cr_expect_eq(oeq_kcache_lookup(&key, &image, &size), 1, "the memory cache still works");
  free(image);
  free(dir);
}

/* XDG: a relative XDG_CACHE_HOME is invalid and ignored. */
Test(kcache, relative_xdg_cache_home_ignored) {
  setenv("XDG_CACHE_HOME", "relative/cache", 1);
  oeq_kcache_key_t key = test_key("kernel");
  char path[4096], want[512];
  oeq_kcache_file_path(&key, path, sizeof path);
  snprintf(want, sizeof want, "%s/.cache/oeq/", root);
  cr_expect_eq(strncmp(path, want, strlen(want)), 0, "path %s, want it under %s", path, want);
  setenv("XDG_CACHE_HOME", root, 1);
  oeq_kcache_file_path(&key, path, sizeof path);
  snprintf(want, sizeof want, "%s/oeq/", root);
  cr_expect_eq(strncmp(path, want, strlen(want)), 0, "path %s, want it under %s", path, want);
}

/* A header whose length disagrees with the file's size is not trusted
 * (it used to size an allocation of up to 4 GB). */
Test(kcache, corrupt_header_ignored) {
  set_cache_dir("c");
  oeq_kcache_key_t key = test_key("kernel");
  plant_file(&key, image_bytes, sizeof image_bytes, 0600);
  char path[4096];
  oeq_kcache_file_path(&key, path, sizeof path);
  int fd = open(path, O_WRONLY);
  cr_assert_geq(fd, 0);
  unsigned char huge[8] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}; /* ~2 GB */
  cr_assert_eq(pwrite(fd, huge, 8, 40), 8);
  close(fd);
  cr_expect_eq(disk_has(&key, image_bytes, sizeof image_bytes), 0);
  /* and a file grown past its header's length */
  plant_file(&key, image_bytes, sizeof image_bytes, 0600);
  fd = open(path, O_WRONLY | O_APPEND);
  cr_assert_eq(write(fd, "x", 1), 1);
  close(fd);
  cr_expect_eq(disk_has(&key, image_bytes, sizeof image_bytes), 0);
}

/* Temporaries a crashed writer left an hour ago are removed by the next
 * store; a fresh one (a writer at work) is left alone. */
Test(kcache, stale_temporaries_removed) {
  set_cache_dir("c");
  char dir[512], stale[1024], fresh[1024];
  snprintf(dir, sizeof dir, "%s/c", root);
  cr_assert_eq(mkdir(dir, 0700), 0);
  snprintf(stale, sizeof stale, "%s/.deadbeef.123.1.tmp", dir);
  snprintf(fresh, sizeof fresh, "%s/.cafe.456.1.tmp", dir);
  for (int i = 0; i < 2; i++) {
    int fd = open(i ? fresh : stale, O_WRONLY | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
  }
  struct timespec old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
  cr_assert_eq(utimensat(AT_FDCWD, stale, old, 0), 0);
  oeq_kcache_key_t key = test_key("kernel");
  oeq_kcache_store(&key, image_bytes, sizeof image_bytes);
  cr_expect_neq(access(stale, F_OK), 0, "the stale temporary is still there");
  cr_expect_eq(access(fresh, F_OK), 0, "a fresh temporary was removed");
}

/* Evict: the entry is gone from memory and disk, so the next lookup
 * misses (and the caller recompiles); other entries stay. */
Test(kcache, evict_forgets_memory_and_disk) {
  set_cache_dir("c");
  oeq_kcache_key_t key = test_key("kernel"), other = test_key("other");
  oeq_kcache_store(&key, image_bytes, sizeof image_bytes);
  oeq_kcache_store(&other, image_bytes, sizeof image_bytes);
  oeq_kcache_evict(&key);
  void *image = NULL;
  size_t size = 0;
  cr_expect_eq(oeq_kcache_lookup(&key, &image, &size), 0, "hit after evict");
  char path[4096];
  oeq_kcache_file_path(&key, path, sizeof path);
  cr_expect_neq(access(path, F_OK), 0, "the file is still there");
  cr_expect_eq(oeq_kcache_lookup(&other, &image, &size), 1, "evict took another entry");
  free(image);
  cr_expect(disk_has(&other, image_bytes, sizeof image_bytes));
  /* Store again after evict: back in business. */
  oeq_kcache_store(&key, image_bytes, sizeof image_bytes);
  cr_expect(disk_has(&key, image_bytes, sizeof image_bytes));
}

Test(kcache, disk_off) {
  setenv("OEQ_CACHE_DIR", "off", 1);
  oeq_kcache_key_t key = test_key("kernel");
  char path[4096];
  oeq_kcache_file_path(&key, path, sizeof path);
  cr_expect_str_eq(path, "");
  oeq_kcache_store(&key, image_bytes, sizeof image_bytes);
  cr_expect_eq(disk_has(&key, image_bytes, sizeof image_bytes), 0);
}
