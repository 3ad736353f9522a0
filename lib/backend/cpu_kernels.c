/* cpu_kernels.c: the tensor product of one row, for every mode.
 *
 * For each path and each (u, v) pair the mode visits, the CG contraction
 *   s[c] = sum_nz C'[a,b,c] x[u,a] y[v,b]      (C' = C * coefficient)
 * is formed once, then scattered to the output channel(s) with the weight
 * (conventions.md A3 einsums). The backward pass uses the same pairs:
 *   g[c] = sum_w W(u,v,w) dz[w,c],  dW(u,v,w) = sum_c s[c] dz[w,c],
 *   dx[u,a] += sum_nz C' y[v,b] g[c],  dy[v,b] += sum_nz C' x[u,a] g[c]. */
#include "cpu_kernels.h"

#include <string.h>

#define DMAX (2 * OEQ_CG_LMAX + 1)

/* How a mode maps a pair (u, v) to weights and output channels. */
typedef struct {
  int64_t n_u, n_v;   /* pair ranges (n_v = 1 for uu modes: v = u) */
  int same_uv;        /* uu modes: the y channel is u */
  int fan_out;        /* 1: all output channels w (uvw, uuw) */
} pair_shape_t;

static pair_shape_t shape_of(const oeq_path_t *p) {
  switch (p->mode) {
    case OEQ_MODE_UVW: return (pair_shape_t){p->mul1, p->mul2, 0, 1};
    case OEQ_MODE_UUW: return (pair_shape_t){p->mul1, 1, 1, 1};
    case OEQ_MODE_UUU: return (pair_shape_t){p->mul1, 1, 1, 0};
    default: return (pair_shape_t){p->mul1, p->mul2, 0, 0};
  }
}

/* The single output channel of a pair for non-fan-out modes. */
static int64_t out_channel(const oeq_path_t *p, int64_t u, int64_t v) {
  switch (p->mode) {
    case OEQ_MODE_UVV: return v;
    case OEQ_MODE_UVUV: return u * p->mul2 + v;
    default: return u; /* uvu, uuu */
  }
}

/* Index of the pair's weight in the path's block (fan-out: of w = 0). */
static int64_t weight_index(const oeq_path_t *p, int64_t u, int64_t v) {
  switch (p->mode) {
    case OEQ_MODE_UVW: return (u * p->mul2 + v) * p->mul3;
    case OEQ_MODE_UUW: return u * p->mul3;
    case OEQ_MODE_UUU: return u;
    default: return u * p->mul2 + v;
  }
}

static void contract(const oeq_path_t *p, const double *xu, const double *yv, double *s) {
  for (int c = 0; c < p->d3; c++) s[c] = 0.0;
  for (int k = 0; k < p->nnz; k++) {
    const oeq_cg_nonzero_t *e = &p->nz[k];
    s[e->c] += e->value * xu[e->a] * yv[e->b];
  }
}

static void path_forward(const oeq_path_t *p, const double *x, const double *y, const double *w,
                         double *z) {
  pair_shape_t sh = shape_of(p);
  const double *wp = p->has_weight ? w + p->w_offset : NULL;
  double *zb = z + p->z_offset;
  double s[DMAX];
  for (int64_t u = 0; u < sh.n_u; u++)
    for (int64_t v = 0; v < sh.n_v; v++) {
      int64_t vy = sh.same_uv ? u : v;
      contract(p, x + p->x_offset + u * p->d1, y + p->y_offset + vy * p->d2, s);
      int64_t wi = wp ? weight_index(p, u, v) : 0;
      if (sh.fan_out) {
        for (int64_t o = 0; o < p->mul3; o++) {
          double f = wp ? wp[wi + o] : 1.0;
          for (int c = 0; c < p->d3; c++) zb[o * p->d3 + c] += f * s[c];
        }
      } else {
        double f = wp ? wp[wi] : 1.0;
        double *zo = zb + out_channel(p, u, v) * p->d3;
        for (int c = 0; c < p->d3; c++) zo[c] += f * s[c];
      }
    }
}

void oeq_cpu_row_forward(const oeq_schedule_t *s, const double *x, const double *y, const double *w,
                         double *z) {
  memset(z, 0, (size_t)s->z_dim * sizeof *z);
  for (int i = 0; i < s->n_paths; i++) path_forward(&s->paths[i], x, y, w, z);
}

static void path_backward(const oeq_path_t *p, const double *x, const double *y, const double *w,
                          const double *dz, double *dx, double *dy, double *dw) {
  pair_shape_t sh = shape_of(p);
  const double *wp = p->has_weight ? w + p->w_offset : NULL;
  double *dwp = p->has_weight ? dw + p->w_offset : NULL;
  const double *dzb = dz + p->z_offset;
  double s[DMAX], g[DMAX];
  for (int64_t u = 0; u < sh.n_u; u++)
    for (int64_t v = 0; v < sh.n_v; v++) {
      int64_t vy = sh.same_uv ? u : v;
      const double *xu = x + p->x_offset + u * p->d1, *yv = y + p->y_offset + vy * p->d2;
      double *dxu = dx + p->x_offset + u * p->d1, *dyv = dy + p->y_offset + vy * p->d2;
      int64_t wi = wp ? weight_index(p, u, v) : 0;
      if (wp) contract(p, xu, yv, s);
      for (int c = 0; c < p->d3; c++) g[c] = 0.0;
      if (sh.fan_out) {
        for (int64_t o = 0; o < p->mul3; o++) {
          const double *dzo = dzb + o * p->d3;
          double f = wp ? wp[wi + o] : 1.0, dot = 0.0;
          for (int c = 0; c < p->d3; c++) {
            g[c] += f * dzo[c];
            if (wp) dot += s[c] * dzo[c];
          }
          if (wp) dwp[wi + o] += dot;
        }
      } else {
        const double *dzo = dzb + out_channel(p, u, v) * p->d3;
        double f = wp ? wp[wi] : 1.0, dot = 0.0;
        for (int c = 0; c < p->d3; c++) {
          g[c] = f * dzo[c];
          if (wp) dot += s[c] * dzo[c];
        }
        if (wp) dwp[wi] += dot;
      }
      for (int k = 0; k < p->nnz; k++) {
        const oeq_cg_nonzero_t *e = &p->nz[k];
        double cg = e->value * g[e->c];
        dxu[e->a] += cg * yv[e->b];
        dyv[e->b] += cg * xu[e->a];
      }
    }
}

void oeq_cpu_row_backward(const oeq_schedule_t *s, const double *x, const double *y,
                          const double *w, const double *dz, double *dx, double *dy, double *dw) {
  for (int i = 0; i < s->n_paths; i++) path_backward(&s->paths[i], x, y, w, dz, dx, dy, dw);
}

static double read_elem(const void *src, oeq_dtype_t dtype, int64_t i) {
  return dtype == OEQ_FLOAT64 ? ((const double *)src)[i] : (double)((const float *)src)[i];
}

static void write_elem(void *dst, oeq_dtype_t dtype, int64_t i, double v) {
  if (dtype == OEQ_FLOAT64)
    ((double *)dst)[i] = v;
  else
    ((float *)dst)[i] = (float)v;
}

void oeq_cpu_load_flat(const void *src, oeq_dtype_t dtype, int64_t n, double *dst) {
  if (n <= 0) return; /* src may be NULL for an empty row (memcpy(NULL) is UB) */
  if (dtype == OEQ_FLOAT64) {
    memcpy(dst, src, (size_t)n * sizeof *dst);
    return;
  }
  for (int64_t i = 0; i < n; i++) dst[i] = read_elem(src, dtype, i);
}

void oeq_cpu_store_flat(const double *src, oeq_dtype_t dtype, int64_t n, void *dst) {
  if (n <= 0) return; /* dst may be NULL for an empty row (memcpy(NULL) is UB) */
  if (dtype == OEQ_FLOAT64) {
    memcpy(dst, src, (size_t)n * sizeof *src);
    return;
  }
  for (int64_t i = 0; i < n; i++) write_elem(dst, dtype, i, src[i]);
}

void oeq_cpu_load_row(const void *src, oeq_dtype_t dtype, oeq_layout_t layout,
                      const oeq_block_t *blocks, int n_blocks, int64_t dim, double *dst) {
  if (layout == OEQ_LAYOUT_MUL_IR) {
    oeq_cpu_load_flat(src, dtype, dim, dst);
    return;
  }
  for (int i = 0; i < n_blocks; i++) {
    const oeq_block_t *b = &blocks[i];
    for (int64_t u = 0; u < b->mul; u++)
      for (int a = 0; a < b->d; a++)
        dst[oeq_block_index(OEQ_LAYOUT_MUL_IR, b->offset, b->mul, b->d, u, a)] =
            read_elem(src, dtype, oeq_block_index(layout, b->offset, b->mul, b->d, u, a));
  }
}

void oeq_cpu_store_row(const double *src, oeq_dtype_t dtype, oeq_layout_t layout,
                       const oeq_block_t *blocks, int n_blocks, int64_t dim, void *dst) {
  if (layout == OEQ_LAYOUT_MUL_IR) {
    oeq_cpu_store_flat(src, dtype, dim, dst);
    return;
  }
  for (int i = 0; i < n_blocks; i++) {
    const oeq_block_t *b = &blocks[i];
    for (int64_t u = 0; u < b->mul; u++)
      for (int a = 0; a < b->d; a++)
        write_elem(dst, dtype, oeq_block_index(layout, b->offset, b->mul, b->d, u, a),
                   src[oeq_block_index(OEQ_LAYOUT_MUL_IR, b->offset, b->mul, b->d, u, a)]);
  }
}
