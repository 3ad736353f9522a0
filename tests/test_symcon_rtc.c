/* test_symcon_rtc.c: the symmetric contraction's generated GPU source
 * (lib/codegen/symcon_codegen.c, both layouts: terms and pairs) compiles
 * with NVRTC (sm_80, sm_90) and hiprtc (gfx90a, gfx908) without warnings or
 * register spills, each OEQ_PART
 * on its own, for MACE's fixture problems and MACE-large's product basis
 * (channels 128, 0e+1o+2e+3o -> 0e+1o+2e, correlation 3, 10 species), in
 * float32 and float64; and the kernel table says what the source holds.
 * Skips where a compiler cannot be loaded or OEQ_SKIP_RTC_TESTS is set. No
 * GPU is needed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_api.h"
#include "backend/hip_api.h"
#include "codegen/symcon_codegen.h"
#include "codegen/tuning.h"
#include "oeq.h"
#include "problem.h"
#include "support.h"
#include "symcon.h"

TestSuite(symcon_rtc, .timeout = 1200);

typedef struct {
  const char *in, *out;
  int correlation;
  int64_t E, C;
} case_t;

static const case_t cases[] = {
    {"0e+1o", "0e+1o", 2, 2, 4},
    {"0e+1o+2e", "0e", 3, 2, 4},
    {"0e+1o+2e+3o", "0e+1o+2e", 3, 3, 8},
    {"0e+1o+2e", "0e+1o+2e", 1, 2, 3},
    {"0e+1o+2e+3o", "0e+1o+2e", 3, 10, 128}, /* MACE-large */
    {"0e+1o+2e+3o", "0e", 3, 10, 128},        /* MACE-large, last layer */
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static oeq_symcon_t *basis(const case_t *k, oeq_dtype_t dt) {
  oeq_symcon_t *sc = NULL;
  oeq_error_t err;
  cr_assert_eq(oeq_symcon_build(k->in, k->out, k->correlation, k->E, k->C, &sc, &err), OEQ_SUCCESS,
               "%s", err.message);
  sc->irrep_dtype = sc->weight_dtype = dt;
  return sc;
}

/* The source in a layout; PAIRS where its tables do not fit gives a NULL
 * text (OEQ_ERROR_UNSUPPORTED, checked). */
static oeq_symcon_source_t source(const oeq_symcon_t *sc, oeq_dialect_t d, size_t max_shared,
                                  int sm, oeq_symcon_layout_t layout) {
  oeq_codegen_target_t t = {d, 4, max_shared, sm};
  oeq_symcon_source_t src;
  oeq_error_t err;
  oeq_status_t st = oeq_codegen_symcon_layout(sc, &t, layout, &src, &err);
  if (layout == OEQ_SYMCON_LAYOUT_PAIRS && st == OEQ_ERROR_UNSUPPORTED) {
    memset(&src, 0, sizeof src);
    return src;
  }
  cr_assert_eq(st, OEQ_SUCCESS, "%s", err.message);
  cr_assert_eq(src.pairs, layout == OEQ_SYMCON_LAYOUT_PAIRS);
  return src;
}

Test(symcon_rtc, kernel_table_matches_source) {
  for (int i = 0; i < N_CASES; i++)
    for (int dt = 0; dt < 2; dt++) {
      oeq_symcon_t *sc = basis(&cases[i], (oeq_dtype_t)dt);
      for (int d = 0; d < 2; d++) {
        const size_t max_shared = d ? 64 * 1024 : 163 * 1024;
        oeq_symcon_source_t s = source(sc, (oeq_dialect_t)d, max_shared, d ? 0 : 80, OEQ_SYMCON_LAYOUT_TERMS);
        const oeq_kernel_table_t *t = &s.kernels;
        cr_assert_eq(t->count, OEQ_SYMCON_K_COUNT);
        cr_assert_eq(t->n_parts, 2);
        cr_expect_eq(s.warp_size, d ? 64 : 32);
        for (int k = 0; k < t->count; k++) {
          char decl[128];
          snprintf(decl, sizeof decl, "void __launch_bounds__(%d, 1) %s(", t->kernel[k].threads,
                   t->kernel[k].name);
          cr_expect(strstr(s.text, decl) != NULL, "case %d: %s not in the source", i, decl);
          cr_expect_eq(t->kernel[k].part, k == OEQ_SYMCON_K_FORWARD ? 1 : 2);
        }
        const oeq_kernel_desc_t *dw = &t->kernel[OEQ_SYMCON_K_DW];
        cr_expect_eq(dw->grid_y, s.dw_groups);
        cr_expect_leq(dw->shared_bytes, max_shared);
        if (s.dw_in_shared)
          cr_expect_eq(dw->shared_bytes, (size_t)(s.dw_group_size * sc->num_elements * sc->channels *
                                                  (dt == OEQ_FLOAT64 ? 8 : 4)));
        /* every basis element is in exactly one group */
        int64_t n_el = 0;
        for (int o = 0; o < sc->n_out; o++)
          for (int nu = 1; nu <= sc->correlation; nu++) n_el += sc->outs[o].blocks[nu - 1].K;
        cr_expect_eq((int64_t)s.dw_groups, (n_el + s.dw_group_size - 1) / s.dw_group_size);
        free(s.text);

        /* pairs: a block per channel (grid y), shared tables within the device's limit */
        s = source(sc, (oeq_dialect_t)d, max_shared, d ? 0 : 80, OEQ_SYMCON_LAYOUT_PAIRS);
        if (!s.text) continue;
        t = &s.kernels;
        cr_assert_eq(t->count, OEQ_SYMCON_K_COUNT);
        cr_assert_eq(t->n_parts, 2);
        for (int k = 0; k < t->count; k++) {
          char decl[128];
          snprintf(decl, sizeof decl, ") %s(", t->kernel[k].name);
          cr_expect(strstr(s.text, decl) != NULL, "case %d: %s not in the source", i, decl);
          cr_expect_eq(t->kernel[k].part, k == OEQ_SYMCON_K_FORWARD ? 1 : 2);
          /* a block per (channel, species group), at most SYMCON_PAIR_MAX_GROUPS groups */
          cr_expect_eq(t->kernel[k].grid_y % (int)sc->channels, 0);
          cr_expect_leq(t->kernel[k].grid_y / (int)sc->channels, SYMCON_PAIR_MAX_GROUPS);
          cr_expect_gt(t->kernel[k].shared_bytes, 0);
          cr_expect_leq(t->kernel[k].shared_bytes, max_shared);
        }
        free(s.text);
      }
      oeq_symcon_free(sc);
    }
}

/* AUTO takes the pair layout where its [pairs][species] tables fit in at
 * most SYMCON_PAIR_MAX_GROUPS species groups (MACE-MP's 89 species: two
 * groups of a 227 KB block in float32) and the terms layout beyond. */
Test(symcon_rtc, auto_layout_follows_shared_memory) {
  case_t large = cases[4], mp = {"0e+1o+2e+3o", "0e+1o+2e", 3, 89, 128},
         many = {"0e+1o+2e+3o", "0e+1o+2e", 3, 400, 128};
  oeq_symcon_t *a = basis(&large, OEQ_FLOAT32), *b = basis(&mp, OEQ_FLOAT32), *m = basis(&many, OEQ_FLOAT32);
  oeq_codegen_target_t t = {OEQ_DIALECT_CUDA, 4, 227 * 1024, 90};
  oeq_symcon_source_t sa, sb, sm;
  oeq_error_t err;
  cr_assert_eq(oeq_codegen_symcon(a, &t, &sa, &err), OEQ_SUCCESS, "%s", err.message);
  cr_assert_eq(oeq_codegen_symcon(b, &t, &sb, &err), OEQ_SUCCESS, "%s", err.message);
  cr_assert_eq(oeq_codegen_symcon(m, &t, &sm, &err), OEQ_SUCCESS, "%s", err.message);
  cr_expect_eq(sa.pairs, 1);
  cr_expect_eq(sa.kernels.kernel[OEQ_SYMCON_K_FORWARD].grid_y, 128);
  cr_expect_eq(sb.pairs, 1);
  cr_expect_eq(sb.kernels.kernel[OEQ_SYMCON_K_FORWARD].grid_y, 2 * 128);
  cr_expect(strstr(sb.text, "89 species in 2 group(s)") != NULL);
  cr_expect_eq(sm.pairs, 0);
  free(sm.text);
  cr_expect_eq(oeq_codegen_symcon_layout(m, &t, OEQ_SYMCON_LAYOUT_PAIRS, &sm, &err), OEQ_ERROR_UNSUPPORTED);
  free(sa.text);
  free(sb.text);
  oeq_symcon_free(a);
  oeq_symcon_free(b);
  oeq_symcon_free(m);
}

/* A [E][group][C] partial that cannot fit makes the dw kernel use global
 * atomics, never an oversized block. */
Test(symcon_rtc, dw_falls_back_to_global_atomics) {
  case_t big = {"0e+1o", "0e", 2, 200, 512};
  oeq_symcon_t *sc = basis(&big, OEQ_FLOAT64);
  oeq_symcon_source_t s = source(sc, OEQ_DIALECT_CUDA, 163 * 1024, 90, OEQ_SYMCON_LAYOUT_TERMS);
  cr_expect_eq(s.dw_in_shared, 0);
  cr_expect_eq(s.kernels.kernel[OEQ_SYMCON_K_DW].shared_bytes, 0);
  cr_expect(strstr(s.text, "atomicAdd(&dw[") != NULL);
  free(s.text);
  oeq_symcon_free(sc);
}

static void compile_all(oeq_backend_t rt) {
  if (getenv("OEQ_SKIP_RTC_TESTS")) cr_skip_test("OEQ_SKIP_RTC_TESTS is set");
  oeq_error_t err;
  int cuda = rt == OEQ_BACKEND_CUDA;
  if (cuda ? !oeq_nvrtc_api(&err) : !oeq_hiprtc_api(&err)) cr_skip_test("%s", err.message);
  static const int sms[2] = {80, 90};
  static const char *const archs[2] = {"gfx90a", "gfx908"};
  for (int i = 0; i < N_CASES; i++)
    for (int dt = 0; dt < 2; dt++) {
      oeq_symcon_t *sc = basis(&cases[i], (oeq_dtype_t)dt);
      for (int t = 0; t < 4; t++) { /* two targets x two layouts */
        oeq_symcon_layout_t layout = t < 2 ? OEQ_SYMCON_LAYOUT_TERMS : OEQ_SYMCON_LAYOUT_PAIRS;
        oeq_symcon_source_t s = source(sc, cuda ? OEQ_DIALECT_CUDA : OEQ_DIALECT_HIP,
                                       cuda ? 163 * 1024 : 64 * 1024, cuda ? sms[t % 2] : 0, layout);
        if (!s.text) continue;
        for (int part = 1; part <= 2; part++) {
          char def[32];
          snprintf(def, sizeof def, "-DOEQ_PART=%d", part);
          const char *opts[2] = {def, "--ptxas-options=-v"};
          void *bin = NULL;
          size_t size = 0;
          char *log = NULL;
          oeq_status_t st = cuda ? oeq_nvrtc_compile(s.text, sms[t % 2], opts, 2, &bin, &size, &log, &err)
                                 : oeq_hiprtc_compile(s.text, archs[t % 2], opts, 1, &bin, &size, &log, &err);
          const char *lname = s.pairs ? "pairs" : "terms";
          cr_assert_eq(st, OEQ_SUCCESS, "%s %s -> %s c%d %s, %s %s part %d: %s", lname, cases[i].in,
                       cases[i].out, cuda ? "sm" : "gfx", cases[i].correlation,
                       dt ? "f64" : "f32", cuda ? "" : archs[t % 2], part, err.message);
          const char *w = test_first_warning(log);
          cr_expect_null(w, "case %d %s part %d: compiler warning: %.200s", i, lname, part, w ? w : "");
          if (cuda)
            cr_expect_eq(test_spill_bytes(log), 0, "case %d %s part %d (%s): register spills", i, lname, part,
                         dt ? "f64" : "f32");
          free(bin);
          free(log);
        }
        free(s.text);
      }
      oeq_symcon_free(sc);
    }
}

Test(symcon_rtc, nvrtc_compiles) { compile_all(OEQ_BACKEND_CUDA); }
Test(symcon_rtc, hiprtc_compiles) { compile_all(OEQ_BACKEND_HIP); }
