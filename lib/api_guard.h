/* api_guard.h: how an exported oeq_* function reports its result (api.c,
 * api_query.c). One place, so every entry point keeps the same contract:
 * the thread's last error is cleared on success and set on failure.
 *
 * Every exported function that can fail starts with BEGIN and returns
 * through oeq_api_finish (FAIL, RETURN). Only the message's first byte is
 * cleared: zero-filling all 8 KB cost every launch a memset. */
#ifndef OEQ_API_GUARD_H
#define OEQ_API_GUARD_H

#include "status.h"

#define BEGIN                 \
  oeq_error_t err_;           \
  err_.status = OEQ_SUCCESS;  \
  err_.message[0] = '\0'

#define FAIL(status, ...) oeq_api_finish(oeq_fail(&err_, status, __VA_ARGS__), &err_)
#define RETURN(expr) return oeq_api_finish((expr), &err_)

static inline oeq_status_t oeq_api_finish(oeq_status_t s, const oeq_error_t *err) {
  if (s == OEQ_SUCCESS)
    oeq_last_error_clear();
  else
    oeq_last_error_set(err->message[0] ? err->message : oeq_status_string(s));
  return s;
}

#define CHECK_PROBLEM(p)                                                       \
  do {                                                                         \
    if (!(p)) return FAIL(OEQ_ERROR_INVALID_ARGUMENT, "problem is NULL");      \
  } while (0)

#endif
