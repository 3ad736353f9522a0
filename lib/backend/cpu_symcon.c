/* cpu_symcon.c: the symmetric contraction on the host, in double precision
 * whatever the dtypes, OpenMP over rows. dw is summed per thread and the
 * thread partials are added in thread order, so a run is reproducible for
 * a given thread count. */
#include "cpu_symcon.h"

#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "cpu_threads.h"
#include "problem.h"
#include "symcon.h"

/* Every species index in range, before anything is written. */
static oeq_status_t check_species(const oeq_symcon_t *sc, int64_t batch, const int32_t *species,
                                  oeq_error_t *err) {
  for (int64_t b = 0; b < batch; b++)
    if (species[b] < 0 || species[b] >= sc->num_elements)
      return oeq_fail(err, OEQ_ERROR_INVALID_ARGUMENT,
                      "species[%lld] = %d is out of range [0, %lld) (num_elements)", (long long)b,
                      (int)species[b], (long long)sc->num_elements);
  return OEQ_SUCCESS;
}

/* Product of x over an entry's indices for channel row xc. */
static inline double monomial(const double *xc, const oeq_symcon_entry_t *e, int nu) {
  double p = xc[e->idx[0]];
  for (int j = 1; j < nu; j++) p *= xc[e->idx[j]];
  return p;
}

static void row_forward(const oeq_symcon_t *sc, const double *x, const double *W, int64_t s,
                        double *z) {
  const int64_t C = sc->channels, D = sc->in_dim;
  memset(z, 0, (size_t)sc->z_dim * sizeof *z);
  for (int o = 0; o < sc->n_out; o++) {
    const oeq_symcon_out_t *out = &sc->outs[o];
    for (int nu = sc->correlation; nu >= 1; nu--) {
      const oeq_symcon_block_t *blk = &out->blocks[nu - 1];
      const double *Ws = W + blk->w_offset + s * blk->K * C;
      for (int64_t i = 0; i < blk->n; i++) {
        const oeq_symcon_entry_t *e = &blk->e[i];
        const double *wk = Ws + (int64_t)e->k * C;
        double *zm = z + out->z_offset + e->m;
        for (int64_t c = 0; c < C; c++)
          zm[c * out->d] += e->value * wk[c] * monomial(x + c * D, e, nu);
      }
    }
  }
}

/* Accumulates dx (may be NULL) and the species' dW (dWs, may be NULL). */
static void row_backward(const oeq_symcon_t *sc, const double *x, const double *W, int64_t s,
                         const double *dz, double *dx, double *dW) {
  const int64_t C = sc->channels, D = sc->in_dim;
  for (int o = 0; o < sc->n_out; o++) {
    const oeq_symcon_out_t *out = &sc->outs[o];
    for (int nu = sc->correlation; nu >= 1; nu--) {
      const oeq_symcon_block_t *blk = &out->blocks[nu - 1];
      int64_t base = blk->w_offset + s * blk->K * C;
      for (int64_t i = 0; i < blk->n; i++) {
        const oeq_symcon_entry_t *e = &blk->e[i];
        for (int64_t c = 0; c < C; c++) {
          double g = dz[out->z_offset + c * out->d + e->m] * e->value;
          const double *xc = x + c * D;
          int64_t wi = base + (int64_t)e->k * C + c;
          if (dW) dW[wi] += g * monomial(xc, e, nu);
          if (!dx) continue;
          /* d/dx_{i_j}: the product of the other factors (prefix x suffix),
           * so repeated indices get every term of the product rule. */
          double pre[OEQ_SYMCON_MAX_CORRELATION + 1], suf[OEQ_SYMCON_MAX_CORRELATION + 1];
          pre[0] = 1.0;
          for (int j = 0; j < nu; j++) pre[j + 1] = pre[j] * xc[e->idx[j]];
          suf[nu] = 1.0;
          for (int j = nu - 1; j >= 0; j--) suf[j] = suf[j + 1] * xc[e->idx[j]];
          double gw = g * W[wi];
          for (int j = 0; j < nu; j++) dx[c * D + e->idx[j]] += gw * pre[j] * suf[j + 1];
        }
      }
    }
  }
}

static oeq_status_t load_weights(const oeq_symcon_t *sc, const void *w, double **out,
                                 oeq_error_t *err) {
  double *W = malloc((size_t)(sc->weight_numel > 0 ? sc->weight_numel : 1) * sizeof *W);
  if (!W) return oeq_fail(err, OEQ_ERROR_OUT_OF_MEMORY, "out of memory for the weights' copy");
  if (sc->weight_numel > 0 && w) oeq_cpu_load_flat(w, sc->weight_dtype, sc->weight_numel, W);
  *out = W;
  return OEQ_SUCCESS;
}

oeq_status_t oeq_cpu_symcon_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                    const int32_t *species, const void *w, void *z, void *stream,
                                    oeq_error_t *err) {
  (void)stream;
  const oeq_symcon_t *sc = plan->symcon;
  oeq_status_t s = check_species(sc, batch, species, err);
  double *W = NULL;
  if (s == OEQ_SUCCESS) s = load_weights(sc, w, &W, err);
  if (s != OEQ_SUCCESS) return s;
  oeq_cpu_scratch_t scratch; /* a thread's rows: x, z */
  if ((s = oeq_cpu_scratch_alloc(0, sc->x_dim + sc->z_dim, 0, &scratch, err)) != OEQ_SUCCESS) {
    free(W);
    return s;
  }
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < batch; b++) {
    double *xr = oeq_cpu_scratch_of(&scratch, oeq_cpu_thread_id()), *zr = xr + sc->x_dim;
    oeq_cpu_load_flat(oeq_cpu_row(x, b, sc->x_dim, sc->irrep_dtype), sc->irrep_dtype, sc->x_dim, xr);
    row_forward(sc, xr, W, species[b], zr);
    oeq_cpu_store_flat(zr, sc->irrep_dtype, sc->z_dim, oeq_cpu_row_mut(z, b, sc->z_dim, sc->irrep_dtype));
  }
  free(scratch.block);
  free(W);
  return OEQ_SUCCESS;
}

oeq_status_t oeq_cpu_symcon_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                     const int32_t *species, const void *w, const void *dz,
                                     void *dx, void *dw, void *stream, oeq_error_t *err) {
  (void)stream;
  const oeq_symcon_t *sc = plan->symcon;
  oeq_status_t s = check_species(sc, batch, species, err);
  double *W = NULL;
  if (s == OEQ_SUCCESS) s = load_weights(sc, w, &W, err);
  if (s != OEQ_SUCCESS) return s;
  const int64_t nw = dw ? sc->weight_numel : 0;
  oeq_cpu_scratch_t scratch; /* a thread's rows: x, dz, dx, its dw partial */
  if ((s = oeq_cpu_scratch_alloc(nw, 2 * sc->x_dim + sc->z_dim, 1, &scratch, err)) != OEQ_SUCCESS) {
    free(W);
    return s;
  }
  const int64_t dw_at = 2 * sc->x_dim + sc->z_dim; /* the partial's offset in a thread's rows */
  for (int t = 0; t < scratch.threads; t++)
    memset(oeq_cpu_scratch_of(&scratch, t) + dw_at, 0, (size_t)nw * sizeof(double));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < batch; b++) {
    double *xr = oeq_cpu_scratch_of(&scratch, oeq_cpu_thread_id()), *dzr = xr + sc->x_dim,
           *dxr = dzr + sc->z_dim, *dW = dw ? xr + dw_at : NULL;
    oeq_cpu_load_flat(oeq_cpu_row(x, b, sc->x_dim, sc->irrep_dtype), sc->irrep_dtype, sc->x_dim, xr);
    oeq_cpu_load_flat(oeq_cpu_row(dz, b, sc->z_dim, sc->irrep_dtype), sc->irrep_dtype, sc->z_dim, dzr);
    if (dx) memset(dxr, 0, (size_t)sc->x_dim * sizeof *dxr);
    row_backward(sc, xr, W, species[b], dzr, dx ? dxr : NULL, dW);
    if (dx)
      oeq_cpu_store_flat(dxr, sc->irrep_dtype, sc->x_dim,
                         oeq_cpu_row_mut(dx, b, sc->x_dim, sc->irrep_dtype));
  }
  if (dw) {
    double *sum = oeq_cpu_scratch_of(&scratch, 0) + dw_at; /* thread 0's partial */
    for (int t = 1; t < scratch.threads; t++) {
      const double *part = oeq_cpu_scratch_of(&scratch, t) + dw_at;
      for (int64_t i = 0; i < nw; i++) sum[i] += part[i];
    }
    if (nw > 0) oeq_cpu_store_flat(sum, sc->weight_dtype, nw, dw);
  }
  free(scratch.block);
  free(W);
  return OEQ_SUCCESS;
}
