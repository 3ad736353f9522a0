/* conv_host_part.cpp: a generated conv source (OEQ_GENERATED_SOURCE)
 * compiled for the host (tests/simt_host.h), its kernels renamed host_*;
 * see tests/conv_host.cpp. Compiled on its own, with warnings off: it is
 * generated code, and the host program keeps -Wall -Wextra -Werror. */
#include <mutex>

#include "simt_host.h"

/* What the conv source uses beyond the symmetric contraction's share of
 * the device model. HIP's OEQ_SYNCWARP is fence + wave barrier + fence:
 * the barrier is the shim's warp barrier (lanes here are free-running
 * threads, as on a GPU without lockstep), whose own synchronisation makes
 * the fences redundant. */
#define __builtin_amdgcn_fence(order, scope) ((void)0)
#define __builtin_amdgcn_wave_barrier() simt_warp_sync()
static inline int min(int a, int b) { return a < b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline unsigned atomicOr(unsigned *p, unsigned v) {
  std::lock_guard<std::mutex> g(simt_atomic_lock);
  const unsigned old = *p;
  *p = old | v;
  return old;
}

#define oeq_conv_fwd host_conv_fwd
#define oeq_conv_bwd host_conv_bwd
#define oeq_conv_fwd_fixup host_conv_fwd_fixup
#define oeq_conv_bwd_fixup host_conv_bwd_fixup
#define oeq_conv_dw_reduce host_conv_dw_reduce
#define oeq_conv_check host_conv_check
#define oeq_add_i host_add_i
#define oeq_add_w host_add_w
#include OEQ_GENERATED_SOURCE
