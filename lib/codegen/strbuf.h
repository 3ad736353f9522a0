/* strbuf.h: a growable string for the source emitters. An allocation
 * failure is remembered (failed = 1) and later appends do nothing, so the
 * emitters check once at the end instead of after every line. */
#ifndef OEQ_STRBUF_H
#define OEQ_STRBUF_H

#include <stddef.h>

typedef struct oeq_strbuf {
  char *data;
  size_t len, cap;
  int failed;
} oeq_strbuf_t;

void oeq_sb_init(oeq_strbuf_t *sb);
void oeq_sb_printf(oeq_strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void oeq_sb_puts(oeq_strbuf_t *sb, const char *s);
/* Hand the text to the caller (free() it); NULL if an append failed. */
char *oeq_sb_take(oeq_strbuf_t *sb);
void oeq_sb_free(oeq_strbuf_t *sb);

#endif
