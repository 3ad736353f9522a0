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
 * Thread-safe.
 *
 * Shared machines: the directory must belong to the user and not be
 * writable by group or others (one oeq creates is 0700), else the disk is
 * not used (OEQ_LOG says why); files are created 0600 through O_EXCL |
 * O_NOFOLLOW temporaries, and a file is loaded only if it is a regular
 * file of the user's that group and others cannot write. A relative
 * XDG_CACHE_HOME is ignored (XDG spec), a path too long is refused, and
 * temporaries an hour old (a writer that crashed) are removed on store. */
#ifndef OEQ_KCACHE_H
#define OEQ_KCACHE_H

#include <stddef.h>

#include "status.h"

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

/* Forget one entry, in memory and on disk: for an image the driver refused
 * to load, so that the next lookup misses and the kernel is recompiled. */
void oeq_kcache_evict(const oeq_kcache_key_t *key);


/* One compile behind the cache: source -> image for (target, compiler). */
typedef struct oeq_kcache_job {
  const char *source, *target, *compiler;
  const char *what; /* names the kernels in the OEQ_LOG line */
  /* The compiler, called on a miss; `arg` is passed through. */
  oeq_status_t (*build)(const char *source, void *arg, void **image, size_t *size,
                        oeq_error_t *err);
  void *arg;
  /* 1: the cached image was refused by the runtime: drop it, build anew */
  int refresh;
} oeq_kcache_job_t;

/* The image of a job (malloc'ed, the caller's to free()): from memory or
 * disk, else built and stored. *cached (may be NULL) says it came from the
 * cache. Every GPU runtime compiles through this one function. */
oeq_status_t oeq_kcache_compile(const oeq_kcache_job_t *job, void **image, size_t *size,
                                int *cached, oeq_error_t *err);

#endif
