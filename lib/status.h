/* status.h: how lower layers report failure.
 *
 * Layers below api never touch the thread-local last error. A function that
 * can fail takes an oeq_error_t * and returns a status; on failure it fills
 * the error with the status and a message (oeq_fail). api.c then records the
 * message as this thread's oeq_last_error(). */
#ifndef OEQ_STATUS_H
#define OEQ_STATUS_H

#include <stdarg.h>
#include <stddef.h>

#include "oeq.h"

/* Big enough for a compiler log's useful head. */
#define OEQ_ERROR_MESSAGE_MAX 8192

typedef struct oeq_error {
  oeq_status_t status;
  char message[OEQ_ERROR_MESSAGE_MAX];
} oeq_error_t;

/* Fill *err (if not NULL) and return s. printf-style message. */
oeq_status_t oeq_fail(oeq_error_t *err, oeq_status_t s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
oeq_status_t oeq_vfail(oeq_error_t *err, oeq_status_t s, const char *fmt, va_list ap);

/* Fail with a compiler's log: header, then the log's error lines (a log
 * of warnings can fill the message and hide them), then the whole log, cut
 * at OEQ_ERROR_MESSAGE_MAX. */
oeq_status_t oeq_fail_with_log(oeq_error_t *err, oeq_status_t s, const char *header,
                               const char *log);

/* Prefix an existing message with context ("instruction 3: ..."). */
void oeq_error_prefix(oeq_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The thread-local last error (api layer only). */
void oeq_last_error_clear(void);
void oeq_last_error_set(const char *message);

/* OEQ_LOG=1: one line per event on stderr; silent otherwise. */
int oeq_log_enabled(void);
void oeq_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
