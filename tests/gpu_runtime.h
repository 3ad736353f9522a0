/* gpu_runtime.h: what the GPU suites need from a runtime (CUDA or HIP), one
 * set of calls for both, so that every GPU case is written once and run for
 * each (tests/test_gpu.c, tests/test_gpu_conv.c).
 *
 * The runtime is named by its oeq_backend_t (OEQ_BACKEND_CUDA or
 * OEQ_BACKEND_HIP) and reached through oeq's own dlopen tables
 * (backend/cuda_api.h, backend/hip_api.h): the suites build without CUDA or
 * ROCm and skip themselves. Device addresses and streams are plain pointers
 * on both sides. Calls return 0 or the runtime's error code; TEST_RT_MISSING
 * means the driver lacks the entry point (the loader treats memory copies,
 * streams and graphs as optional: only tests and benchmarks use them). */
#ifndef OEQ_TEST_GPU_RUNTIME_H
#define OEQ_TEST_GPU_RUNTIME_H

#include <stddef.h>

#include "oeq.h"

#define TEST_RT_MISSING (-1000)

/* What a case uses beyond plans (bits for test_rt_lacks). */
enum { TEST_RT_MEMORY = 1, TEST_RT_STREAMS = 2, TEST_RT_GRAPHS = 4 };

/* "CUDA" or "HIP". */
const char *test_rt_name(oeq_backend_t rt);

/* 1 where plans of `rt` can be made and run here; else 0 with the reason
 * in why (the backend's own message). */
int test_rt_available(oeq_backend_t rt, char *why, size_t len);

/* NULL if the runtime has every entry point `needs` asks for, else a
 * sentence naming the first one missing (static text). Graph capture is
 * CUDA's alone: on HIP it always says so. */
const char *test_rt_lacks(oeq_backend_t rt, unsigned needs);

/* Device 0 current for the calling thread (CUDA: the primary context
 * retained and pushed; HIP: hipSetDevice). test_rt_leave undoes it. */
int test_rt_enter(oeq_backend_t rt);
void test_rt_leave(oeq_backend_t rt);

int test_rt_alloc(oeq_backend_t rt, void **dev, size_t bytes);
int test_rt_free(oeq_backend_t rt, void *dev);
int test_rt_to_device(oeq_backend_t rt, void *dev, const void *host, size_t bytes);
int test_rt_to_host(oeq_backend_t rt, void *host, const void *dev, size_t bytes);

/* Streams that do not synchronise with the legacy default stream; NULL is
 * the default stream for test_rt_sync. */
int test_rt_stream_create(oeq_backend_t rt, void **stream);
int test_rt_stream_destroy(oeq_backend_t rt, void *stream);
int test_rt_sync(oeq_backend_t rt, void *stream);

/* Graph capture of the work queued on `stream` between begin and end;
 * *graph is an executable graph for test_rt_graph_launch. */
int test_rt_capture_begin(oeq_backend_t rt, void *stream);
int test_rt_capture_end(oeq_backend_t rt, void *stream, void **graph);
int test_rt_graph_launch(oeq_backend_t rt, void *graph, void *stream);
void test_rt_graph_destroy(oeq_backend_t rt, void *graph);

/* The text of an error code from the calls above (thread-local or static). */
const char *test_rt_error(oeq_backend_t rt, int code);

/* For Criterion suites (include criterion.h first): a call that must
 * succeed, with the runtime, the call and the error in the message; a
 * missing entry point skips the test instead of failing it. */
#define RT_CK(rt, call)                                                                       \
  do {                                                                                        \
    const int rc_ = (call);                                                                   \
    if (rc_ == TEST_RT_MISSING)                                                               \
      cr_skip_test("%s: the driver lacks an entry point of %s", test_rt_name(rt), #call);     \
    cr_assert_eq(rc_, 0, "%s: %s: %s", test_rt_name(rt), #call, test_rt_error(rt, rc_));      \
  } while (0)

/* At the top of a case: skip (with the reason) unless `rt` can run plans
 * and has the entry points `needs` asks for; then make device 0 current. */
#define RT_REQUIRE(rt, needs)                                                                 \
  do {                                                                                        \
    char why_[512];                                                                           \
    if (!test_rt_available(rt, why_, sizeof why_))                                            \
      cr_skip_test("no %s device: %s", test_rt_name(rt), why_);                               \
    const char *lacks_ = test_rt_lacks(rt, needs);                                            \
    if (lacks_) cr_skip_test("%s", lacks_);                                                   \
    RT_CK(rt, test_rt_enter(rt));                                                             \
  } while (0)

/* One case body run for both runtimes: RT_TEST(suite_cuda, suite_hip, name)
 * { ... rt ... } defines Test(suite_cuda, name) and Test(suite_hip, name),
 * each calling the body with its runtime. */
#define RT_TEST(suite_cuda, suite_hip, name)                                                  \
  static void name##_body(oeq_backend_t rt);                                                  \
  Test(suite_cuda, name) { name##_body(OEQ_BACKEND_CUDA); }                                   \
  Test(suite_hip, name) { name##_body(OEQ_BACKEND_HIP); }                                     \
  static void name##_body(oeq_backend_t rt)

#endif
