/* sha256.h: SHA-256 (FIPS 180-4), for the kernel cache's keys and file
 * checksums. Small and self-contained. */
#ifndef OEQ_SHA256_H
#define OEQ_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct oeq_sha256 {
  uint32_t h[8];
  uint64_t length; /* bytes hashed so far */
  unsigned char block[64];
  size_t used; /* bytes waiting in block */
} oeq_sha256_t;

void oeq_sha256_init(oeq_sha256_t *s);
void oeq_sha256_update(oeq_sha256_t *s, const void *data, size_t n);
void oeq_sha256_final(oeq_sha256_t *s, unsigned char digest[32]);
/* One-shot helper. */
void oeq_sha256(const void *data, size_t n, unsigned char digest[32]);

#endif
