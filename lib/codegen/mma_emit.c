/* mma_emit.c: the pieces the tensor-core kernels share (mma_emit.h). */
#include "codegen/mma_emit.h"

#include <stdio.h>

static const char primitives_f32[] =
    "__device__ __forceinline__ unsigned oeq_tf32(float v) {\n"
    "  unsigned r; asm(\"cvt.rna.tf32.f32 %0, %1;\" : \"=r\"(r) : \"f\"(v)); return r;\n"
    "}\n"
    "/* v = hi + lo, both TF32: hi carries 11 significant bits, lo the next 11. */\n"
    "__device__ __forceinline__ void oeq_split(float v, unsigned &hi, unsigned &lo) {\n"
    "  hi = oeq_tf32(v); lo = oeq_tf32(v - __uint_as_float(hi));\n"
    "}\n"
    "__device__ __forceinline__ void oeq_mma(float *c, const unsigned *a, const unsigned *b) {\n"
    "  asm volatile(\"mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 \"\n"
    "               \"{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\"\n"
    "               : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
    "               : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"r\"(b[0]), \"r\"(b[1]));\n"
    "}\n";

static const char primitives_f64[] =
    "__device__ __forceinline__ void oeq_mma(double *c, double a, double b) {\n"
    "  asm volatile(\"mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};\"\n"
    "               : \"+d\"(c[0]), \"+d\"(c[1]) : \"d\"(a), \"d\"(b));\n"
    "}\n";

static const char copy_helpers[] =
    "/* One element global -> shared without a register; zero-filled when !in\n"
    " * (src is then not read). */\n"
    "__device__ __forceinline__ void oeq_cp_async(oeq_it *dst, const oeq_it *src, bool in) {\n"
    "  const unsigned d = (unsigned)__cvta_generic_to_shared(dst);\n"
    "  asm volatile(\"cp.async.ca.shared.global [%0], [%1], %2, %3;\" ::\"r\"(d), \"l\"(src),\n"
    "               \"n\"(sizeof(oeq_it)), \"r\"(in ? (int)sizeof(oeq_it) : 0) : \"memory\");\n"
    "}\n"
    "__device__ __forceinline__ void oeq_cp_commit() { asm volatile(\"cp.async.commit_group;\" ::: \"memory\"); }\n"
    "/* every copy group but the newest complete (this thread's copies) */\n"
    "__device__ __forceinline__ void oeq_cp_wait_previous() {\n"
    "  asm volatile(\"cp.async.wait_group 1;\" ::: \"memory\");\n"
    "}\n";

void mma_emit_primitives(const emit_ctx_t *c, int is_double) {
  const oeq_schedule_t *s = c->s;
  oeq_sb_printf(c->sb,
                "// tensor-core kernels (mma_emit.c)\n"
                "#define OEQ_MMA_XDP %lld\n#define OEQ_MMA_YDP %lld\n#define OEQ_MMA_ZDP %lld\n",
                (long long)mma_padded_row(s->x_dim), (long long)mma_padded_row(s->y_dim),
                (long long)mma_padded_row(s->z_dim));
  oeq_sb_puts(c->sb, is_double ? primitives_f64 : primitives_f32);
  oeq_sb_puts(c->sb, copy_helpers);
}

void mma_emit_stage(const emit_ctx_t *c, const char *name, const char *rows_macro, int with_dz) {
  const oeq_schedule_t *s = c->s;
  oeq_sb_printf(c->sb,
                "__device__ __forceinline__ void %s(oeq_it *st, const oeq_it *__restrict__ x,\n"
                "    const oeq_it *__restrict__ y,%s long long r0, long long batch) {\n",
                name, with_dz ? " const oeq_it *__restrict__ dz," : "");
  const char *src[3] = {"x", "y", "dz"}, *stride[3] = {"OEQ_MMA_XDP", "OEQ_MMA_YDP", "OEQ_MMA_ZDP"};
  const long long dims[3] = {(long long)s->x_dim, (long long)s->y_dim, (long long)s->z_dim};
  const char *base[3] = {"st", "st + %s * OEQ_MMA_XDP", "st + %s * (OEQ_MMA_XDP + OEQ_MMA_YDP)"};
  for (int i = 0; i < (with_dz ? 3 : 2); i++) {
    char dst[128];
    snprintf(dst, sizeof dst, base[i], rows_macro);
    oeq_sb_printf(c->sb,
                  "  for (int i = threadIdx.x; i < %s * %lld; i += blockDim.x) {\n"
                  "    const int r = i / %lld, e = i - r * %lld; const bool in = r0 + r < batch;\n"
                  "    oeq_cp_async(%s + r * %s + e, %s + (in ? (r0 + r) * %lld + e : 0), in);\n"
                  "  }\n",
                  rows_macro, dims[i], dims[i], dims[i], dst, stride[i], src[i], dims[i]);
  }
  oeq_sb_puts(c->sb, "}\n");
}

void mma_emit_pair_t(const emit_ctx_t *c, const oeq_path_t *p, const char *q_lo, int64_t n,
                     const char *ts_off, int64_t ldq, const char *rows_macro, int64_t xdp,
                     int64_t ydp) {
  int ua[64], ub[64], uc[64];
  emit_used_indices(p, ua, ub, uc);
  const long long qn = (long long)n;
  char idx[128], lit[64];
  oeq_sb_printf(c->sb,
                "  // t of instruction %d (%s, l=%d,%d->%d), pairs %s + 0..%lld\n"
                "  for (int item = threadIdx.x; item < %s * %lld; item += blockDim.x) {\n"
                "  const int r = item / %lld, ql = item - r * %lld, q = %s + ql;\n",
                p->instruction, oeq_mode_name(p->mode), p->l1, p->l2, p->l3, q_lo, qn - 1,
                rows_macro, qn, qn, qn, q_lo);
  if (p->mode == OEQ_MODE_UVW)
    oeq_sb_printf(c->sb, "  const int u = q / %lld, v = q %% %lld;\n", (long long)p->mul2,
                  (long long)p->mul2);
  else
    oeq_sb_puts(c->sb, "  const int u = q, v = q;\n");
  oeq_sb_printf(c->sb, "  const oeq_it *xr = xs + r * %lld; const oeq_it *yr = ys + r * %lld;\n",
                (long long)xdp, (long long)ydp);
  for (int a = 0; a < p->d1; a++)
    if (ua[a])
      oeq_sb_printf(c->sb, "  const oeq_ct xa%d = (oeq_ct)xr[%s];\n", a,
                    emit_block_index(c->s->layout, p->x_offset, p->mul1, p->d1, "u", a, idx));
  for (int b = 0; b < p->d2; b++)
    if (ub[b])
      oeq_sb_printf(c->sb, "  const oeq_ct yb%d = (oeq_ct)yr[%s];\n", b,
                    emit_block_index(c->s->layout, p->y_offset, p->mul2, p->d2, "v", b, idx));
  for (int k = 0; k < p->d3; k++) {
    if (!uc[k]) continue; /* left alone: zero from the start */
    oeq_sb_puts(c->sb, "  { oeq_ct t = (oeq_ct)0;");
    for (int i = 0; i < p->nnz; i++)
      if (p->nz[i].c == k)
        oeq_sb_printf(c->sb, " t += %s * xa%d * yb%d;", emit_literal(c, p->nz[i].value, lit),
                      p->nz[i].a, p->nz[i].b);
    oeq_sb_printf(c->sb, "\n    ts[%s + (%d * %s + r) * %lld + ql] = t; }\n", ts_off, k, rows_macro,
                  (long long)ldq);
  }
  oeq_sb_puts(c->sb, "  }\n");
}

void mma_emit_block_setup(const emit_ctx_t *c) {
  oeq_sb_puts(c->sb,
              "  extern __shared__ __align__(16) unsigned char oeq_smem[];\n"
              "  const int lane = threadIdx.x % OEQ_WARP, warp = threadIdx.x / OEQ_WARP;\n"
              "  const int fg = lane >> 2, ft = lane & 3; /* fragment row group, thread in group */\n"
              "  oeq_it *stage = reinterpret_cast<oeq_it *>(oeq_smem);\n");
}

void mma_emit_tile_loop(const emit_ctx_t *c, const char *stage_fn, const char *rows_macro,
                        const char *stage_macro, int with_dz, const char *while_loading) {
  const char *dz = with_dz ? " dz," : "";
  oeq_sb_printf(c->sb,
                "  const long long step = (long long)gridDim.x * %s;\n"
                "  long long r0 = (long long)blockIdx.x * %s;\n"
                "  if (r0 < batch) %s(stage, x, y,%s r0, batch);\n"
                "  oeq_cp_commit();\n"
                "  for (int it = 0; r0 < batch; ++it, r0 += step) {\n"
                "  __syncthreads(); /* the previous tile's readers are done */\n"
                "  if (r0 + step < batch)\n"
                "    %s(stage + ((it + 1) & 1) * %s, x, y,%s r0 + step, batch);\n"
                "  oeq_cp_commit();\n"
                "%s"
                "  oeq_cp_wait_previous();\n"
                "  __syncthreads(); /* tile i staged by every thread */\n"
                "  const oeq_it *xs = stage + (it & 1) * %s;\n"
                "  const oeq_it *ys = xs + %s * OEQ_MMA_XDP;\n",
                rows_macro, rows_macro, stage_fn, dz, stage_fn, stage_macro, dz,
                while_loading ? while_loading : "", stage_macro, rows_macro);
  if (with_dz) oeq_sb_printf(c->sb, "  [[maybe_unused]] const oeq_it *dzs = ys + %s * OEQ_MMA_YDP;\n", rows_macro);
}
