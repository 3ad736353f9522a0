/* status.c: status strings, the thread-local last error, and logging. */
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[OEQ_ERROR_MESSAGE_MAX];

oeq_status_t oeq_vfail(oeq_error_t *err, oeq_status_t s, const char *fmt, va_list ap) {
  if (err) {
    err->status = s;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
  }
  return s;
}

oeq_status_t oeq_fail(oeq_error_t *err, oeq_status_t s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  oeq_vfail(err, s, fmt, ap);
  va_end(ap);
  return s;
}

/* Append n bytes of text to buf (length *len, capacity cap), cutting. */
static void append(char *buf, size_t *len, size_t cap, const char *text, size_t n) {
  if (*len + 1 >= cap) return;
  if (n > cap - 1 - *len) n = cap - 1 - *len;
  memcpy(buf + *len, text, n);
  *len += n;
  buf[*len] = '\0';
}

static int line_has(const char *line, size_t n, const char *word) {
  const size_t w = strlen(word);
  for (size_t i = 0; i + w <= n; i++)
    if (!memcmp(line + i, word, w)) return 1;
  return 0;
}

oeq_status_t oeq_fail_with_log(oeq_error_t *err, oeq_status_t s, const char *header,
                               const char *log) {
  if (!err) return s;
  err->status = s;
  err->message[0] = '\0';
  size_t len = 0;
  const size_t cap = sizeof err->message;
  append(err->message, &len, cap, header, strlen(header));
  if (!log || !*log) {
    append(err->message, &len, cap, "\n(no log)", strlen("\n(no log)"));
    return s;
  }
  int errors = 0;
  for (const char *line = log; *line;) {
    const char *end = strchr(line, '\n');
    const size_t n = end ? (size_t)(end - line) : strlen(line);
    /* ptxas error, error:, fatal error; not a warning naming the word */
    if (line_has(line, n, "error") && !line_has(line, n, "warning")) {
      const char *sep = errors++ ? "\n" : "\nerrors:\n";
      append(err->message, &len, cap, sep, strlen(sep));
      append(err->message, &len, cap, line, n);
    }
    line += n + (end ? 1 : 0);
  }
  append(err->message, &len, cap, "\nlog:\n", strlen("\nlog:\n"));
  append(err->message, &len, cap, log, strlen(log));
  return s;
}

void oeq_error_prefix(oeq_error_t *err, const char *fmt, ...) {
  if (!err) return;
  char prefix[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  /* Shift the message right and put the prefix in front (truncating). */
  size_t plen = strlen(prefix), mlen = strlen(err->message);
  if (plen >= sizeof err->message) plen = sizeof err->message - 1;
  if (plen + mlen >= sizeof err->message) mlen = sizeof err->message - 1 - plen;
  memmove(err->message + plen, err->message, mlen);
  memcpy(err->message, prefix, plen);
  err->message[plen + mlen] = '\0';
}

void oeq_last_error_clear(void) { last_error[0] = '\0'; }

void oeq_last_error_set(const char *message) {
  snprintf(last_error, sizeof last_error, "%s", message ? message : "");
}

OEQ_API const char *oeq_last_error(void) { return last_error; }

OEQ_API const char *oeq_status_string(oeq_status_t s) {
  switch (s) {
    case OEQ_SUCCESS: return "success";
    case OEQ_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case OEQ_ERROR_PARSE: return "irreps parse error";
    case OEQ_ERROR_INVALID_PROBLEM: return "invalid problem";
    case OEQ_ERROR_UNSUPPORTED: return "unsupported";
    case OEQ_ERROR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case OEQ_ERROR_COMPILE: return "run-time compilation failed";
    case OEQ_ERROR_DEVICE: return "device error";
    case OEQ_ERROR_OUT_OF_MEMORY: return "out of memory";
    case OEQ_ERROR_IO: return "I/O error";
    case OEQ_ERROR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

int oeq_log_enabled(void) {
  const char *v = getenv("OEQ_LOG");
  return v && *v && strcmp(v, "0") != 0;
}

void oeq_log(const char *fmt, ...) {
  if (!oeq_log_enabled()) return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "oeq: %s\n", line);
}
