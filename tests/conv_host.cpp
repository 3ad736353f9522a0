/* conv_host.cpp: the fused graph convolution's kernels, generated for CUDA
 * or HIP and compiled for the host (tests/simt_host.h), against oeq's CPU
 * backend on a random graph.
 *
 * The launches are lib/backend/gpu_conv.c's, in its order and with its
 * arguments: z and dx zeroed first (every mode), the forward (split into
 * (segment, output group, chunk) items below 2048 segments), its fix-up in
 * deterministic mode; the backward, its fix-up, the shared-weight dw
 * reduction. Grids come from codegen's kernel table as in oeq_gpu_grid,
 * capped at GRID_MAX blocks (the "resident grid") so the kernels' grid-
 * stride loops turn. The launch facts (tests/conv_source.c) are included
 * as OEQ_LAUNCH_FACTS. Outputs, the workspace and shared memory start as
 * NaN, so anything read before it is written shows.
 *
 * The graph: NODES senders and receivers, CONV_EDGES edges, one hub
 * receiver and one hub sender whose edges span several segments (the
 * deterministic fix-ups' chains), a node with no edges (zero rows of z and
 * dx). Receivers are sorted (deterministic mode needs it; atomic mode runs
 * the same order), sender_perm is the stable sort of cols. Two edges are
 * out of range: a col of -1 in the middle (first in sender order) and a
 * row of NODES at the end (keeping rows sorted). The kernels must skip
 * them (their dy and dw rows stay NaN, they add nothing); the CPU refuses
 * such indices, so the reference is the CPU's on the other edges. Also
 * checked: the index-check kernel (OEQ_CONV_CHECK) flags exactly a bad row
 * and a bad col, and the unsplit forward (large graphs) gives z bitwise
 * equal to the split one in deterministic mode (within the tolerance in
 * atomic mode, whose adds come in any order).
 *
 * Prints relative norm errors and max-abs differences; exits 0 within
 * 1e-12 (float64) / 1e-5 (float32) relative, 1 otherwise.
 * Built by tests/test_conv_host.sh, the source compiled as
 * tests/conv_host_part.cpp. Usage: conv_host IN1 IN2 FILTER MODE NODES GRID_MAX
 * (MODE: a label for the output). */
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <type_traits>

#include "simt_host.h"

extern "C" {
#include "oeq.h"
}

#include OEQ_LAUNCH_FACTS

static_assert(CONV_WARP == SIMT_WARP, "the shim's warp is not the source's");
/* irrep and weight dtypes are equal here, so the compute type is theirs */
typedef std::conditional_t<CONV_COMPUTE_SIZE == 8, double, float> real;
typedef long long ll;

/* The generated kernels (conv_host_part.cpp). Weak: a mode without
 * fix-ups or dw_reduce has no such kernel, which the table must agree with. */
#define KERNEL extern "C" __attribute__((weak)) void
KERNEL host_conv_fwd(const real *x, const real *y, const real *w, const int *rows, const int *cols,
                     real *z, real *slots, ll x_rows, ll z_rows, ll edges, ll seg_len, ll n_seg,
                     int split);
KERNEL host_conv_bwd(const real *x, const real *y, const real *w, const real *dz, const int *rows,
                     const int *cols, const int *perm, real *dx, real *dy, real *dw, real *dx_slots,
                     real *dw_slots, ll x_rows, ll z_rows, ll edges, ll seg_len, ll n_seg);
KERNEL host_conv_fwd_fixup(const int *keys, const int *perm, real *out, const real *slots, ll n_rows,
                           ll edges, ll seg_len, ll n_seg);
KERNEL host_conv_bwd_fixup(const int *keys, const int *perm, real *out, const real *slots, ll n_rows,
                           ll edges, ll seg_len, ll n_seg);
KERNEL host_conv_dw_reduce(const real *slots, real *dw, ll n_seg);
KERNEL host_conv_check(const int *rows, const int *cols, const int *perm, unsigned *word, ll x_rows,
                       ll z_rows, ll edges);

static unsigned grid_max;

static void fail(const char *what) {
  std::fprintf(stderr, "%s\n", what);
  std::exit(2);
}

/* oeq_gpu_launch: ceil(items / rows_per_block) blocks, at least one, at most
 * the resident grid; dynamic shared memory as the table says, poisoned. */
static void launch(int role, ll items, bool present, const std::function<void()> &kernel) {
  const conv_kernel &k = conv_kernels[role];
  if (!k.name || !present) fail("a kernel the launch sequence needs is missing");
  if (k.shared_bytes > sizeof simt_shared) fail("more shared memory than the shim has");
  std::memset(simt_shared, 0xff, k.shared_bytes);
  const ll blocks = std::max<ll>(1, (items + k.rows_per_block - 1) / k.rows_per_block);
  simt_launch((unsigned)std::min<ll>(blocks, grid_max), (unsigned)k.grid_y, (unsigned)k.threads, kernel);
}

static const real poison = (real)NAN;

struct diff {
  double rel, max_abs;
  bool ok;
};

/* Relative norm error and max-abs difference; where `want` is NaN (a row
 * the kernels must leave alone) `got` must be NaN too. */
static diff compare(const std::vector<real> &got, const std::vector<real> &want, double tol) {
  double num = 0, den = 0, mx = 0;
  for (size_t i = 0; i < got.size(); i++) {
    const double g = (double)got[i], w = (double)want[i];
    if (std::isnan(w) || std::isnan(g)) {
      if (std::isnan(w) != std::isnan(g)) return {INFINITY, INFINITY, false};
      continue;
    }
    num += (g - w) * (g - w);
    den += w * w;
    mx = std::max(mx, std::fabs(g - w));
  }
  const double rel = std::sqrt(num / (den > 0 ? den : 1));
  return {rel, mx, rel <= tol};
}

int main(int argc, char **argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s IN1 IN2 FILTER MODE NODES GRID_MAX\n", argv[0]);
    return 2;
  }
  const ll N = std::atoll(argv[5]), E = CONV_EDGES, n_seg = CONV_N_SEG, len = CONV_SEG_LEN;
  /* the backward's own segments (interleaved in atomic mode) */
  const ll n_bwd = CONV_N_SEG_BWD, len_bwd = CONV_SEG_LEN_BWD;
  grid_max = (unsigned)std::atoi(argv[6]);
  if (N < 4 || E < 8 || grid_max < 1) fail("NODES >= 4, EDGES >= 8, GRID_MAX >= 1");
  const bool det = CONV_DETERMINISTIC, shared = CONV_SHARED_WEIGHTS;
  const oeq_dtype_t dt = sizeof(real) == 8 ? OEQ_FLOAT64 : OEQ_FLOAT32;
  oeq_problem_t *p = NULL;
  oeq_plan_t *plan = NULL;
  int64_t nw = 0, xd = 0, yd = 0, zd = 0;
  if (oeq_problem_create_channelwise(argv[1], argv[2], argv[3], &p) || oeq_problem_set_dtypes(p, dt, dt) ||
      oeq_problem_set_shared_weights(p, shared) || oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, 0, &plan) ||
      oeq_problem_weight_numel(p, &nw) || oeq_problem_dims(p, &xd, &yd, &zd))
    fail(oeq_last_error());
  const ll wrows = shared ? 1 : E;

  /* ---- the graph and the data */
  unsigned seed = 2024;
  auto next = [&seed] { seed = seed * 1103515245u + 12345u; return seed >> 8; };
  auto uniform = [&next] { return (real)(next() / 8388608.0 - 1.0); };
  const int hub_in = (int)(N / 3), hub_out = (int)(N / 2); /* node N - 1: no edges */
  auto node = [&](int hub) { return next() % 3 == 0 ? hub : (int)(next() % (unsigned)(N - 1)); };
  std::vector<int> rows(E), cols(E);
  for (ll e = 0; e < E; e++) rows[e] = node(hub_in), cols[e] = node(hub_out);
  std::sort(rows.begin(), rows.end());
  const ll bad_col = E / 2, bad_row = E - 1;
  cols[bad_col] = -1;
  rows[bad_row] = (int)N;
  std::vector<int> perm(E);
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int a, int b) { return cols[a] < cols[b]; });
  /* segments the hubs' runs touch (3 or more: a fix-up adds several slots) */
  auto span = [&](auto key) {
    ll first = -1, last = -1;
    for (ll i = 0; i < E; i++)
      if (key(i)) last = i, first = first < 0 ? i : first;
    return first < 0 ? 0 : last / len - first / len + 1;
  };
  const ll span_in = span([&](ll i) { return rows[i] == hub_in; });
  const ll span_out = span([&](ll i) { return cols[perm[i]] == hub_out; });
  std::vector<real> x(N * xd), y(E * yd), w(wrows * nw), dz(N * zd);
  for (auto *v : {&x, &y, &w, &dz})
    for (auto &a : *v) a = uniform();

  /* ---- the reference: the CPU on the edges in range */
  auto good = [&](ll e) { return e != bad_col && e != bad_row; };
  std::vector<int> rg, cg;
  std::vector<real> yg, wg;
  for (ll e = 0; e < E; e++)
    if (good(e)) {
      rg.push_back(rows[e]);
      cg.push_back(cols[e]);
      yg.insert(yg.end(), y.begin() + e * yd, y.begin() + (e + 1) * yd);
      if (!shared) wg.insert(wg.end(), w.begin() + e * nw, w.begin() + (e + 1) * nw);
    }
  if (shared) wg = w;
  const ll G = (ll)rg.size();
  std::vector<real> z_ref(N * zd), dx_ref(N * xd), dyg(G * yd), dwg(shared ? nw : G * nw);
  if (oeq_conv_forward(plan, N, N, G, x.data(), yg.data(), wg.data(), rg.data(), cg.data(), NULL,
                       z_ref.data(), NULL, 0, NULL) ||
      oeq_conv_backward(plan, N, N, G, x.data(), yg.data(), wg.data(), dz.data(), rg.data(), cg.data(),
                        NULL, dx_ref.data(), dyg.data(), dwg.data(), NULL, 0, NULL))
    fail(oeq_last_error());
  /* back to all edges: NaN in the skipped ones' rows */
  std::vector<real> dy_ref(E * yd, poison), dw_ref(shared ? dwg : std::vector<real>(E * nw, poison));
  for (ll e = 0, k = 0; e < E; e++)
    if (good(e)) {
      std::copy(dyg.begin() + k * yd, dyg.begin() + (k + 1) * yd, dy_ref.begin() + e * yd);
      if (!shared) std::copy(dwg.begin() + k * nw, dwg.begin() + (k + 1) * nw, dw_ref.begin() + e * nw);
      k++;
    }

  /* ---- the kernels, in gpu_conv.c's order */
  const int *perm_arg = det ? perm.data() : nullptr;
  /* the workspace as gpu_conv.c lays it out; a part the mode lacks is
   * NULL here, so a kernel that touched it would crash */
  std::vector<unsigned char> ws(CONV_WS_TOTAL, 0xff);
  real *slots = det ? (real *)(ws.data() + CONV_WS_SLOTS_OFF) : nullptr;
  real *dw_slots = shared ? (real *)(ws.data() + CONV_WS_DW_OFF) : nullptr;
  std::vector<real> z(N * zd, 0), z_unsplit(N * zd, 0); /* memset0(z) */
  for (int split = 1; split >= 0; split--) {
    std::vector<real> &out = split ? z : z_unsplit;
    launch(CONV_K_FORWARD, split ? n_seg * CONV_FORWARD_ITEMS : n_seg, host_conv_fwd, [&] {
      host_conv_fwd(x.data(), y.data(), w.data(), rows.data(), cols.data(), out.data(), slots, N, N, E, len,
                    n_seg, split);
    });
    if (det && n_seg > 1)
      launch(CONV_K_FORWARD_FIXUP, n_seg * CONV_FIXUP_ITEMS_FWD, host_conv_fwd_fixup, [&] {
        host_conv_fwd_fixup(rows.data(), nullptr, out.data(), slots, N, E, len, n_seg);
      });
    std::fill(ws.begin(), ws.end(), 0xff);
  }
  /* deterministic: the same bits; atomic: the same sums in another order */
  const double tol = sizeof(real) == 8 ? 1e-12 : 1e-5;
  const bool split_ok = det ? std::memcmp(z.data(), z_unsplit.data(), z.size() * sizeof(real)) == 0
                            : compare(z_unsplit, z_ref, tol).ok;
  std::vector<real> dx(N * xd, 0), dy(E * yd, poison), dw(wrows * nw, poison); /* memset0(dx) */
  launch(CONV_K_BACKWARD, n_bwd * CONV_BACKWARD_ITEMS, host_conv_bwd, [&] {
    host_conv_bwd(x.data(), y.data(), w.data(), dz.data(), rows.data(), cols.data(), perm_arg, dx.data(),
                  dy.data(), dw.data(), slots, dw_slots, N, N, E, len_bwd, n_bwd);
  });
  if (det && n_bwd > 1)
    launch(CONV_K_BACKWARD_FIXUP, n_bwd * CONV_FIXUP_ITEMS_BWD, host_conv_bwd_fixup, [&] {
      host_conv_bwd_fixup(cols.data(), perm_arg, dx.data(), slots, N, E, len_bwd, n_bwd);
    });
  if (shared && nw > 0)
    launch(CONV_K_DW_REDUCE, (nw + 31) / 32, host_conv_dw_reduce,
           [&] { host_conv_dw_reduce(dw_slots, dw.data(), n_bwd); });
  /* the table and the source agree on which optional kernels exist */
  const bool fixups = conv_kernels[CONV_K_FORWARD_FIXUP].name && host_conv_fwd_fixup &&
                      conv_kernels[CONV_K_BACKWARD_FIXUP].name && host_conv_bwd_fixup;
  const bool reduce = conv_kernels[CONV_K_DW_REDUCE].name && host_conv_dw_reduce;
  const bool kernels_ok = fixups == det && reduce == (shared && nw > 0);
  /* OEQ_CONV_CHECK's validation: word at the workspace's start, zeroed */
  unsigned *word = (unsigned *)ws.data();
  *word = 0;
  launch(CONV_K_CHECK, (E + 1023) / 1024, host_conv_check,
         [&] { host_conv_check(rows.data(), cols.data(), perm_arg, word, N, N, E); });
  const bool check_ok = *word == (CONV_BAD_ROW | CONV_BAD_COL);

  const diff ez = compare(z, z_ref, tol), ex = compare(dx, dx_ref, tol), ey = compare(dy, dy_ref, tol),
             ew = compare(dw, dw_ref, tol);
  std::printf("%s x %s -> %s %s %s %s warp %d x %d: %lld nodes %lld edges %lld / %lld segments (hubs span %lld, %lld), grid <= %u:"
              " z %.2e (%.1e) dx %.2e (%.1e) dy %.2e (%.1e) dw %.2e (%.1e)\n",
              argv[1], argv[2], argv[3], sizeof(real) == 8 ? "f64" : "f32", argv[4],
              shared ? "shared-w" : "edge-w", SIMT_WARP, CONV_WARPS_PER_BLOCK, N, E, n_seg, n_bwd,
              span_in, span_out, grid_max, ez.rel, ez.max_abs, ex.rel,
              ex.max_abs, ey.rel, ey.max_abs, ew.rel, ew.max_abs);
  if (!split_ok) std::printf("  FAIL: the unsplit forward's z differs from the split one's\n");
  if (!kernels_ok) std::printf("  FAIL: the kernel table and the source disagree on the optional kernels\n");
  if (!check_ok) std::printf("  FAIL: the index check set 0x%x, not bad row | bad col\n", *word);
  oeq_plan_destroy(plan);
  oeq_problem_destroy(p);
  return ez.ok && ex.ok && ey.ok && ew.ok && split_ok && kernels_ok && check_ok ? 0 : 1;
}
