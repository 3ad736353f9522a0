/* strbuf.c: a growable string for the source emitters. */
#include "codegen/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oeq_sb_init(oeq_strbuf_t *sb) { *sb = (oeq_strbuf_t){0}; }

static int reserve(oeq_strbuf_t *sb, size_t extra) {
  if (sb->failed) return 0;
  if (sb->len + extra + 1 <= sb->cap) return 1;
  size_t cap = sb->cap ? sb->cap : 4096;
  while (cap < sb->len + extra + 1) cap *= 2;
  char *p = realloc(sb->data, cap);
  if (!p) {
    sb->failed = 1;
    return 0;
  }
  sb->data = p;
  sb->cap = cap;
  return 1;
}

void oeq_sb_printf(oeq_strbuf_t *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    sb->failed = 1;
    return;
  }
  if (!reserve(sb, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb->len += (size_t)n;
}

void oeq_sb_puts(oeq_strbuf_t *sb, const char *s) {
  size_t n = strlen(s);
  if (!reserve(sb, n)) return;
  memcpy(sb->data + sb->len, s, n + 1);
  sb->len += n;
}

char *oeq_sb_take(oeq_strbuf_t *sb) {
  if (sb->failed || !reserve(sb, 0)) {
    oeq_sb_free(sb);
    return NULL;
  }
  char *s = sb->data;
  s[sb->len] = '\0';
  *sb = (oeq_strbuf_t){0};
  return s;
}

void oeq_sb_free(oeq_strbuf_t *sb) {
  free(sb->data);
  *sb = (oeq_strbuf_t){0};
}
