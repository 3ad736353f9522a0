/* kcache.h: the compiled-kernel cache shared by the GPU backends.
 *
 * Images (CUBIN, code objects) are kept in memory for the life of the
 * process and on disk under OEQ_CACHE_DIR (default $XDG_CACHE_HOME/oeq or
 * ~/.cache/oeq; "off" disables the disk). The key is a SHA-256 of
 * everything that determines the image: generated source, target
 * architecture, compiler version and oeq's version. Disk files are written
 * to a temporary name and renamed into place, so many processes (MPI ranks)
 * can share one directory; each file carries a magic, its key, its length
 * and a checksum, and one that does not check out is ignored (and later
 * replaced). The cache is best-effort: disk problems never fail a plan.
 * Thread-safe. */
#ifndef OEQ_KCACHE_H
#define OEQ_KCACHE_H

#include <stddef.h>

typedef struct oeq_kcache_key {
  unsigned char bytes[32];
} oeq_kcache_key_t;

/* The key of (source, target, compiler version) plus oeq's version. */
void oeq_kcache_make_key(oeq_kcache_key_t *key, const char *source, const char *target,
                         const char *compiler_version);

/* 1 and a malloc'ed copy of the image if memory or disk has it, else 0. */
int oeq_kcache_lookup(const oeq_kcache_key_t *key, void **image, size_t *size);

/* Remember an image in memory and (if enabled) on disk. */
void oeq_kcache_store(const oeq_kcache_key_t *key, const void *image, size_t size);

/* The file a key is stored in ("" if the disk cache is off); for tests. */
void oeq_kcache_file_path(const oeq_kcache_key_t *key, char *path, size_t len);

/* Forget the in-memory entries (tests: exercise the disk path). */
void oeq_kcache_clear_memory(void);

#endif
