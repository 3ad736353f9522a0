/* simt_host.h: just enough of CUDA's and HIP's device model to run a
 * generated kernel on the host, for tests on machines without a GPU
 * (tests/test_symcon_host.sh).
 *
 * A block's threads are std::threads, started for each block in turn;
 * __syncthreads is a barrier of the block, and the warp primitives
 * (shuffles, ballots) meet at a barrier of the warp, so every lane must
 * reach them together, as on a GPU where they are called by the full warp.
 * Shared memory is one static buffer (blocks run one at a time), atomics
 * take a lock. The warp size is SIMT_WARP (32: CUDA, 64: HIP wavefronts).
 * Include after the standard headers; then the generated source. */
#ifndef OEQ_SIMT_HOST_H
#define OEQ_SIMT_HOST_H

#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#ifndef SIMT_WARP
#define SIMT_WARP 32
#endif
#define SIMT_MAX_THREADS 1024

struct simt_dim3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local simt_dim3 threadIdx;
inline simt_dim3 blockIdx, blockDim, gridDim;
inline std::barrier<> *simt_block_barrier;
inline std::barrier<> *simt_warp_barrier[SIMT_MAX_THREADS / SIMT_WARP];
inline double simt_exchange[SIMT_MAX_THREADS]; /* one slot a thread, for warp primitives */
inline std::mutex simt_atomic_lock;
alignas(16) inline unsigned char simt_shared[256 * 1024];

static inline void simt_warp_sync() { simt_warp_barrier[threadIdx.x / SIMT_WARP]->arrive_and_wait(); }

/* The value of lane `src` of the caller's warp (all lanes call together). */
template <class T> T simt_from_lane(T v, unsigned src) {
  const unsigned t = threadIdx.x, base = t / SIMT_WARP * SIMT_WARP;
  simt_exchange[t] = (double)v;
  simt_warp_sync();
  T r = (T)simt_exchange[base + src % SIMT_WARP];
  simt_warp_sync();
  return r;
}
static inline unsigned long long simt_ballot(bool p) {
  const unsigned t = threadIdx.x, base = t / SIMT_WARP * SIMT_WARP;
  simt_exchange[t] = p ? 1.0 : 0.0;
  simt_warp_sync();
  unsigned long long m = 0;
  for (unsigned i = 0; i < SIMT_WARP; i++) m |= (simt_exchange[base + i] != 0.0 ? 1ull : 0ull) << i;
  simt_warp_sync();
  return m;
}

/* CUDA */
template <class T> T __shfl_sync(unsigned, T v, int lane) { return simt_from_lane(v, (unsigned)lane); }
template <class T> T __shfl_xor_sync(unsigned, T v, int m) {
  return simt_from_lane(v, (threadIdx.x % SIMT_WARP) ^ (unsigned)m);
}
static inline unsigned __ballot_sync(unsigned, bool p) { return (unsigned)simt_ballot(p); }
static inline int __ffs(unsigned m) { return __builtin_ffs((int)m); }
static inline void __syncwarp() { simt_warp_sync(); }
template <class T> T __ldcs(const T *p) { return *p; } /* cache hints: plain here */
template <class T> void __stcs(T *p, T v) { *p = v; }
/* HIP */
template <class T> T __shfl(T v, int lane, int) { return simt_from_lane(v, (unsigned)lane); }
template <class T> T __shfl_xor(T v, int m, int) {
  return simt_from_lane(v, (threadIdx.x % SIMT_WARP) ^ (unsigned)m);
}
static inline unsigned long long __ballot(bool p) { return simt_ballot(p); }
static inline int __ffsll(unsigned long long m) { return __builtin_ffsll((long long)m); }
template <class T> T __builtin_nontemporal_load(const T *p) { return *p; }
template <class T> void __builtin_nontemporal_store(T v, T *p) { *p = v; }

template <class T> T atomicAdd(T *p, T v) {
  std::lock_guard<std::mutex> g(simt_atomic_lock);
  T old = *p;
  *p = old + v;
  return old;
}

/* CUDA's vector types, aligned as on the device. */
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) double2 {
  double x, y;
};
struct alignas(32) double4 {
  double x, y, z, w;
};
/* What the shared prelude mentions (its row copies are templates the
 * symmetric contraction never instantiates). */
struct alignas(16) int4 {
  int x, y, z, w;
};
static inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
static inline double __hiloint2double(int hi, int lo) {
  long long b = ((long long)hi << 32) | (unsigned)lo;
  double d;
  std::memcpy(&d, &b, sizeof d);
  return d;
}

/* Run `kernel` over a grid, block after block. */
static inline void simt_launch(unsigned grid_x, unsigned grid_y, unsigned threads,
                               const std::function<void()> &kernel) {
  blockDim.x = threads;
  gridDim.x = grid_x;
  gridDim.y = grid_y;
  for (unsigned by = 0; by < grid_y; by++)
    for (unsigned bx = 0; bx < grid_x; bx++) {
      blockIdx.x = bx;
      blockIdx.y = by;
      std::barrier<> block(threads);
      std::vector<std::unique_ptr<std::barrier<>>> warps;
      for (unsigned w = 0; w < threads / SIMT_WARP; w++) {
        warps.emplace_back(new std::barrier<>(SIMT_WARP));
        simt_warp_barrier[w] = warps.back().get();
      }
      simt_block_barrier = &block;
      std::vector<std::thread> lanes;
      for (unsigned t = 0; t < threads; t++)
        lanes.emplace_back([t, &kernel] {
          threadIdx.x = t;
          kernel();
        });
      for (auto &l : lanes) l.join();
    }
}

/* The device dialect's words, for the generated source that follows. An
 * inline asm fence (`asm volatile("" : "+f"(v))`: a compiler barrier on
 * the GPU) becomes an empty statement. */
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __align__(n)
#define __shared__
#define __syncthreads() simt_block_barrier->arrive_and_wait()
#define oeq_smem simt_shared
#define asm
#define volatile(...)

#endif
