/* symcon_host.cpp: the pair-layout symmetric-contraction kernels, generated
 * for CUDA or HIP and compiled for the host (tests/simt_host.h), against
 * oeq's CPU backend on random rows (species 0 absent, so its dw stays
 * zero). One row in the middle has a species out of range: the kernels
 * must skip it (its z and dx rows stay as they were, NaN here; it adds
 * nothing to dw), so the reference is the CPU's on the other rows.
 * Outputs are poisoned with NaN first. Prints the relative errors; exits 0
 * within 1e-12 (float64) / 1e-5 (float32), 1 otherwise.
 *
 * Built by tests/test_symcon_host.sh with the generated source compiled as
 * two more translation units (OEQ_PART 1 and 2; kernels renamed
 * host_forward, host_dx, host_dw) and SIMT_WARP, OEQ_HOST_DOUBLE set.
 * Usage: symcon_host IN OUT CORRELATION ELEMENTS CHANNELS ROWS THREADS GRID_X */
#include <cstdio>
#include <algorithm>
#include <cstdlib>

#include "simt_host.h"

extern "C" {
#include "oeq.h"
}

#ifdef OEQ_HOST_DOUBLE
typedef double real;
#else
typedef float real;
#endif

extern "C" void host_forward(const real *, const int *, const real *, real *, long long);
extern "C" void host_dx(const real *, const int *, const real *, const real *, real *, long long);
extern "C" void host_dw(const real *, const int *, const real *, real *, long long);

static double rel_error(const std::vector<real> &got, const std::vector<real> &want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); i++) {
    if (std::isnan((double)want[i])) { /* a row the kernels must leave alone */
      if (!std::isnan((double)got[i])) return INFINITY;
      continue;
    }
    double d = (double)got[i] - (double)want[i];
    if (std::isnan(d)) return INFINITY;
    num += d * d;
    den += (double)want[i] * (double)want[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

int main(int argc, char **argv) {
  if (argc != 9) {
    std::fprintf(stderr, "usage: %s IN OUT CORRELATION ELEMENTS CHANNELS ROWS THREADS GRID_X\n", argv[0]);
    return 2;
  }
  const int64_t E = std::atoll(argv[4]), C = std::atoll(argv[5]), B = std::atoll(argv[6]);
  const unsigned threads = (unsigned)std::atoi(argv[7]), grid_x = (unsigned)std::atoi(argv[8]);
  const oeq_dtype_t dt = sizeof(real) == 8 ? OEQ_FLOAT64 : OEQ_FLOAT32;
  oeq_problem_t *p = NULL;
  oeq_plan_t *plan = NULL;
  int64_t nw = 0, xd = 0, yd = 0, zd = 0;
  if (oeq_problem_create_symmetric_contraction(argv[1], argv[2], std::atoi(argv[3]), E, C, &p) ||
      oeq_problem_set_dtypes(p, dt, dt) || oeq_plan_create_symmetric_contraction(p, OEQ_BACKEND_CPU, 0, &plan) ||
      oeq_problem_weight_numel(p, &nw) || oeq_problem_dims(p, &xd, &yd, &zd)) {
    std::fprintf(stderr, "%s\n", oeq_last_error());
    return 2;
  }
  std::vector<real> x(B * xd), w(nw), dz(B * zd);
  std::vector<int> species(B);
  unsigned seed = 12345;
  auto uniform = [&seed] { seed = seed * 1103515245u + 12345u; return (real)((seed >> 8) / 8388608.0 - 1.0); };
  for (auto &v : x) v = uniform();
  for (auto &v : w) v = uniform();
  for (auto &v : dz) v = uniform();
  for (auto &s : species) s = E > 1 ? 1 + (int)((uniform() + 1) * 0.5 * (double)(E - 1)) % (int)(E - 1) : 0;
  const int64_t bad = B / 2; /* out of range: skipped by the kernels */
  species[bad] = (int)E;
  /* the reference: the other rows, on the CPU */
  std::vector<real> xs, dzs;
  std::vector<int> ss;
  for (int64_t b = 0; b < B; b++)
    if (b != bad) {
      xs.insert(xs.end(), x.begin() + b * xd, x.begin() + (b + 1) * xd);
      dzs.insert(dzs.end(), dz.begin() + b * zd, dz.begin() + (b + 1) * zd);
      ss.push_back(species[b]);
    }
  std::vector<real> zs((B - 1) * zd), dxs((B - 1) * xd), dw_ref(nw);
  if (oeq_symcon_forward(plan, B - 1, xs.data(), ss.data(), w.data(), zs.data(), NULL) ||
      oeq_symcon_backward(plan, B - 1, xs.data(), ss.data(), w.data(), dzs.data(), dxs.data(),
                          dw_ref.data(), NULL)) {
    std::fprintf(stderr, "%s\n", oeq_last_error());
    return 2;
  }
  /* back to B rows, NaN in the skipped one */
  std::vector<real> z_ref(B * zd, (real)NAN), dx_ref(B * xd, (real)NAN);
  for (int64_t b = 0, k = 0; b < B; b++)
    if (b != bad) {
      std::copy(zs.begin() + k * zd, zs.begin() + (k + 1) * zd, z_ref.begin() + b * zd);
      std::copy(dxs.begin() + k * xd, dxs.begin() + (k + 1) * xd, dx_ref.begin() + b * xd);
      k++;
    }
  std::vector<real> z(B * zd, (real)NAN), dx(B * xd, (real)NAN), dw(nw, (real)0); /* dw: memset first */
  const long long rows = B;
  simt_launch(grid_x, (unsigned)C, threads, [&] { host_forward(x.data(), species.data(), w.data(), z.data(), rows); });
  simt_launch(grid_x, (unsigned)C, threads,
              [&] { host_dx(x.data(), species.data(), w.data(), dz.data(), dx.data(), rows); });
  simt_launch(grid_x, (unsigned)C, threads, [&] { host_dw(x.data(), species.data(), dz.data(), dw.data(), rows); });
  const double ez = rel_error(z, z_ref), ex = rel_error(dx, dx_ref), ew = rel_error(dw, dw_ref);
  const double tol = sizeof(real) == 8 ? 1e-12 : 1e-5;
  std::printf("%s -> %s c%s E%lld C%lld %s warp %d, %lld rows, %u threads x %u: z %.2e dx %.2e dw %.2e\n",
              argv[1], argv[2], argv[3], (long long)E, (long long)C, sizeof(real) == 8 ? "f64" : "f32",
              SIMT_WARP, (long long)B, threads, grid_x, ez, ex, ew);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
  return ez <= tol && ex <= tol && ew <= tol ? 0 : 1;
}
