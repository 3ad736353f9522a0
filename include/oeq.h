/*
 * oeq.h: the whole public interface of oeq, version 1 of the C ABI.
 *
 * oeq computes the Clebsch-Gordan tensor products of rotation-equivariant
 * neural networks (e3nn's o3.TensorProduct and the fused graph convolution
 * built on it) with kernels generated and compiled at run time.
 *
 * Rules that hold for every function (see docs/abi.md for the contract):
 *  - Every function that can fail returns oeq_status_t. Results come back
 *    through out-pointers, written last and only on success. Nothing aborts,
 *    prints or exits on bad input; a failed call leaves a message for
 *    oeq_last_error() (thread-local, valid until this thread's next oeq call)
 *    and writes nothing to the caller's outputs.
 *  - Handles are opaque. *_destroy(NULL) is a no-op. A problem may be
 *    destroyed right after a plan is made from it: the plan keeps a copy.
 *  - Sizes and counts are int64_t, flags uint32_t, booleans int.
 *  - Arrays belong to the caller; oeq never frees them. For a GPU plan they
 *    are device pointers and `stream` is a CUstream / hipStream_t (NULL = the
 *    default stream); calls only enqueue work on that stream. For a CPU plan
 *    they are host pointers, `stream` must be NULL, the call is synchronous.
 *  - Arrays are row-major. Row b of x holds the blocks of irreps_in1 in order,
 *    each block [mul][2l+1] (e3nn's "mul_ir"), or [2l+1][mul] with
 *    OEQ_LAYOUT_IR_MUL. Weights use e3nn's flat layout exactly.
 *  - Outputs (z, dx, dy, dw) are overwritten, never accumulated into.
 *  - Thread safety: a problem must not be shared between threads while it is
 *    being built; plan creation is thread-safe; a finished plan is immutable
 *    and may execute from many threads at once (with distinct outputs).
 */
#ifndef OEQ_H
#define OEQ_H

#include <stddef.h>
#include <stdint.h>

#include "oeq_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(OEQ_BUILDING_LIBRARY) && defined(__GNUC__)
#define OEQ_API __attribute__((visibility("default")))
#else
#define OEQ_API
#endif

#define OEQ_ABI_VERSION 1

/* Opaque handles. */
typedef struct oeq_problem oeq_problem_t;
typedef struct oeq_plan oeq_plan_t;

/* Every enum value is written out: Fortran and Julia mirror them. */
typedef enum {
  OEQ_SUCCESS = 0,
  OEQ_ERROR_INVALID_ARGUMENT = 1,    /* NULL where a value is needed, bad enum, negative size */
  OEQ_ERROR_PARSE = 2,               /* an irreps string that does not parse */
  OEQ_ERROR_INVALID_PROBLEM = 3,     /* index out of range, selection rule broken, bad multiplicities */
  OEQ_ERROR_UNSUPPORTED = 4,         /* valid, but not implemented by this backend */
  OEQ_ERROR_BACKEND_UNAVAILABLE = 5, /* driver / GPU / run-time compiler not found */
  OEQ_ERROR_COMPILE = 6,             /* run-time compilation failed; the log is in oeq_last_error() */
  OEQ_ERROR_DEVICE = 7,              /* a driver call failed (launch, copy, module load) */
  OEQ_ERROR_OUT_OF_MEMORY = 8,
  OEQ_ERROR_IO = 9,                  /* kernel cache */
  OEQ_ERROR_INTERNAL = 10
} oeq_status_t;

typedef enum {
  OEQ_MODE_UVW = 0,
  OEQ_MODE_UVU = 1,
  OEQ_MODE_UVV = 2,
  OEQ_MODE_UUW = 3,
  OEQ_MODE_UUU = 4,
  OEQ_MODE_UVUV = 5
} oeq_mode_t;

typedef enum { OEQ_FLOAT32 = 0, OEQ_FLOAT64 = 1 } oeq_dtype_t;

typedef enum {
  OEQ_BACKEND_AUTO = 0,
  OEQ_BACKEND_CPU = 1,
  OEQ_BACKEND_CUDA = 2,
  OEQ_BACKEND_HIP = 3
} oeq_backend_t;

typedef enum {
  OEQ_IRREP_NORM_COMPONENT = 0,
  OEQ_IRREP_NORM_NORM = 1,
  OEQ_IRREP_NORM_NONE = 2
} oeq_irrep_norm_t;

typedef enum {
  OEQ_PATH_NORM_ELEMENT = 0,
  OEQ_PATH_NORM_PATH = 1,
  OEQ_PATH_NORM_NONE = 2
} oeq_path_norm_t;

/* Layout of the rows of x, y, z (and dx, dy, dz): e3nn / cuEquivariance. */
typedef enum { OEQ_LAYOUT_MUL_IR = 0, OEQ_LAYOUT_IR_MUL = 1 } oeq_layout_t;

/* Plan flags (oeq_plan_create_conv). */
#define OEQ_CONV_DETERMINISTIC (1u << 0) /* receivers sorted, sender_perm given: no atomics */
#define OEQ_CONV_KAHAN (1u << 1)         /* with DETERMINISTIC, float32: compensated sums */
#define OEQ_INDEX_INT64 (1u << 2)        /* rows/cols/perm are int64_t (default int32_t) */

/* ------------------------------------------------------------------ library */

/* OEQ_ABI_VERSION as the library was built. Never fails. */
OEQ_API int oeq_abi_version(void);
/* "MAJOR.MINOR.PATCH"; static storage owned by the library. */
OEQ_API const char *oeq_version(void);
/* Static text for a status; never NULL (unknown values give "unknown status"). */
OEQ_API const char *oeq_status_string(oeq_status_t s);
/* Detail of this thread's last failure, "" if none. The text is owned by the
 * library and stays valid until this thread's next oeq call. */
OEQ_API const char *oeq_last_error(void);
/* 1 if plans can be made on backend b now, else 0 (the reason is then in
 * oeq_last_error()). AUTO is always available (it falls back to the CPU). */
OEQ_API int oeq_backend_available(oeq_backend_t b);

/* ------------------------------------------------------------------ problem */

/* A problem is what to compute: e3nn's TensorProduct without internal weights.
 * The irreps strings follow e3nn's grammar ("16x0e+8x1o", "2 x 1y", "0e",
 * ""); the caller keeps ownership of the strings, *out is owned by the caller
 * and freed with oeq_problem_destroy. Defaults: float32 irreps and weights,
 * shared weights, component/element normalization, mul_ir layout.
 * Limits (OEQ_ERROR_INVALID_ARGUMENT beyond): 4096 entries per irreps string,
 * multiplicity <= 1000000, l <= 24. */
OEQ_API oeq_status_t oeq_problem_create(const char *irreps_in1, const char *irreps_in2,
                                        const char *irreps_out, oeq_problem_t **out);
/* Append one instruction (e3nn's (i_in1, i_in2, i_out, mode, has_weight,
 * path_weight)); path_weight is the user's value (1.0 by default in e3nn) and
 * enters inside the normalization's square root, as in e3nn.
 * Limits: 65536 instructions per problem (OEQ_ERROR_INVALID_PROBLEM);
 * 0 <= path_weight <= 1e200 and weight_numel < 2^63 (INVALID_ARGUMENT). */
OEQ_API oeq_status_t oeq_problem_add_instruction(oeq_problem_t *p, int i_in1, int i_in2, int i_out,
                                                 oeq_mode_t mode, int has_weight,
                                                 double path_weight);
OEQ_API oeq_status_t oeq_problem_set_dtypes(oeq_problem_t *p, oeq_dtype_t irrep_dtype,
                                            oeq_dtype_t weight_dtype);
/* shared != 0: w is one row of weight_numel values used by every batch row;
 * shared == 0: w has one row per batch row (per edge for a convolution). */
OEQ_API oeq_status_t oeq_problem_set_shared_weights(oeq_problem_t *p, int shared);
OEQ_API oeq_status_t oeq_problem_set_normalization(oeq_problem_t *p, oeq_irrep_norm_t irrep,
                                                   oeq_path_norm_t path);
OEQ_API oeq_status_t oeq_problem_set_layout(oeq_problem_t *p, oeq_layout_t layout);
/* e3nn's in1_var / in2_var / out_var, one value per irreps entry (copied).
 * Any of them NULL means all ones (the default). */
OEQ_API oeq_status_t oeq_problem_set_variances(oeq_problem_t *p, const double *in1_var,
                                               const double *in2_var, const double *out_var);
/* Number of weights per row (e3nn's weight_numel). */
OEQ_API oeq_status_t oeq_problem_weight_numel(const oeq_problem_t *p, int64_t *out);
/* Row widths of x, y and z in elements (any out-pointer may be NULL). */
OEQ_API oeq_status_t oeq_problem_dims(const oeq_problem_t *p, int64_t *in1, int64_t *in2,
                                      int64_t *out);
/* Getters of what the setters recorded, so that a binding never reads it back
 * from oeq_problem_describe's text. Each fails only on a NULL problem (or a
 * NULL `shared`); an out-pointer documented as NULL-able is then skipped. */
/* The irrep and weight dtypes (either out-pointer may be NULL). */
OEQ_API oeq_status_t oeq_problem_dtypes(const oeq_problem_t *p, oeq_dtype_t *irrep_dtype,
                                        oeq_dtype_t *weight_dtype);
/* 1 if the weights are shared (one row for the whole batch), else 0. */
OEQ_API oeq_status_t oeq_problem_shared_weights(const oeq_problem_t *p, int *shared);
/* Entries of irreps_in1, irreps_in2, irreps_out ("8x0e+8x1o" has 2, "" has 0,
 * a 0x entry counts): the lengths oeq_problem_set_variances reads. Any
 * out-pointer may be NULL. */
OEQ_API oeq_status_t oeq_problem_irreps_count(const oeq_problem_t *p, int64_t *in1, int64_t *in2,
                                              int64_t *out);
/* A JSON description into buf (len bytes, NUL-terminated, truncated if short;
 * buf may be NULL when len is 0). *needed (may be NULL) receives the length
 * without the NUL, so a caller can size the buffer with a first call.
 * Fails (OEQ_ERROR_INVALID_PROBLEM, nothing written) if a normalization
 * coefficient is not finite (huge path weights or variances); so does plan
 * creation. */
OEQ_API oeq_status_t oeq_problem_describe(const oeq_problem_t *p, char *buf, size_t len,
                                          size_t *needed);
OEQ_API void oeq_problem_destroy(oeq_problem_t *p);

/* e3nn's FullyConnectedTensorProduct: one weighted uvw instruction for every
 * (i1, i2, i_out) allowed by the selection rules, in e3nn's loop order. */
OEQ_API oeq_status_t oeq_problem_create_fully_connected(const char *in1, const char *in2,
                                                        const char *out, oeq_problem_t **p);
/* MACE / NequIP channelwise convolution TP: a weighted uvu instruction with
 * one output block (mul of in1) per path whose output irrep appears in
 * filter_out (its multiplicities are ignored); outputs sorted and
 * instructions ordered exactly as MACE's tp_out_irreps_with_instructions.
 * Per-row weights (shared = 0), as MACE and NequIP use them. At most 4096
 * paths (the output's entry limit), else OEQ_ERROR_INVALID_ARGUMENT. */
OEQ_API oeq_status_t oeq_problem_create_channelwise(const char *in1, const char *in2,
                                                    const char *filter_out, oeq_problem_t **p);

/* -------------------------------------------------------------------- plans */

/* Compile problem p for backend b on `device` (an ordinal; ignored by the
 * CPU). The plan copies what it needs from p. Thread-safe. *out is owned by
 * the caller and freed with oeq_plan_destroy. */
OEQ_API oeq_status_t oeq_plan_create_tp(const oeq_problem_t *p, oeq_backend_t b, int device,
                                        oeq_plan_t **out);
OEQ_API oeq_status_t oeq_plan_create_conv(const oeq_problem_t *p, oeq_backend_t b, int device,
                                          uint32_t flags, oeq_plan_t **out);
/* The backend the plan runs on (what AUTO chose). */
OEQ_API oeq_status_t oeq_plan_backend(const oeq_plan_t *plan, oeq_backend_t *out);
/* Frees the plan. Safe from any thread (e.g. a garbage collector's
 * finalizer); the caller must not use the plan on any stream afterwards. */
OEQ_API void oeq_plan_destroy(oeq_plan_t *plan);

/* ------------------------------------------------------ batched tensor product */

/* z[b] = TP(x[b], y[b], w[b] or w) for b < batch. x: batch x in1 dim,
 * y: batch x in2 dim, w: batch x weight_numel (or weight_numel if shared;
 * may be NULL when weight_numel is 0), z: batch x out dim. A batch whose
 * arrays' byte sizes overflow is OEQ_ERROR_INVALID_ARGUMENT (also below). */
OEQ_API oeq_status_t oeq_tp_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                    const void *y, const void *w, void *z, void *stream);
/* Gradients of <dz, TP(x, y, w)>: dx, dy like x, y; dw like w (with shared
 * weights one row: the sum over the batch). All three are written. */
OEQ_API oeq_status_t oeq_tp_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                     const void *y, const void *w, const void *dz, void *dx,
                                     void *dy, void *dw, void *stream);

/* ------------------------------------------------------ fused graph convolution */

/* z[rows[e]] += TP(x[cols[e]], y[e], w[e]) over edges e (z overwritten first).
 * x has x_rows rows and z has z_rows rows; cols[e] < x_rows, rows[e] < z_rows.
 * sender_perm (DETERMINISTIC only) is the permutation that sorts edges by cols.
 * Workspace: oeq_conv_workspace_size bytes, or NULL to let the library
 * allocate it stream-ordered. Counts whose array or workspace sizes overflow
 * are OEQ_ERROR_INVALID_ARGUMENT. */
OEQ_API oeq_status_t oeq_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows,
                                             int64_t z_rows, int64_t edges, size_t *bytes);
OEQ_API oeq_status_t oeq_conv_forward(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                      int64_t edges, const void *x, const void *y, const void *w,
                                      const void *rows, const void *cols,
                                      const void *sender_perm, void *z, void *workspace,
                                      size_t workspace_bytes, void *stream);
OEQ_API oeq_status_t oeq_conv_backward(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows,
                                       int64_t edges, const void *x, const void *y,
                                       const void *w, const void *dz, const void *rows,
                                       const void *cols, const void *sender_perm, void *dx,
                                       void *dy, void *dw, void *workspace,
                                       size_t workspace_bytes, void *stream);

/* ------------------------------------------- second derivatives (double backward) */

/* For training on forces: the gradients of
 *   L = <ddx, dx> + <ddy, dy> + <ddw, dw>,
 * dx, dy, dw being oeq_tp_backward's outputs for (x, y, w, dz), with respect
 * to x, y, w and dz: gx like x, gy like y, gw like w (shared weights: one
 * row, the sum over the batch, written even for batch 0), gdz like dz. The
 * cotangents ddx (like x), ddy (like y), ddw (like w) may each be NULL,
 * meaning zero. All four outputs are written. Workspace:
 * oeq_tp_double_backward_workspace_size bytes (0 on the CPU, which ignores
 * it), or NULL to let the library allocate it (GPU: stream-ordered).
 * Sums run in a fixed order: results are as reproducible as the backward's. */
OEQ_API oeq_status_t oeq_tp_double_backward_workspace_size(const oeq_plan_t *plan, int64_t batch,
                                                           size_t *bytes);
OEQ_API oeq_status_t oeq_tp_double_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                            const void *y, const void *w, const void *dz,
                                            const void *ddx, const void *ddy, const void *ddw,
                                            void *gx, void *gy, void *gw, void *gdz,
                                            void *workspace, size_t workspace_bytes, void *stream);
/* The same for the convolution (arguments as oeq_conv_backward): gx like x
 * (x_rows rows), gy like y and gw like w (per edge, or one shared row),
 * gdz like dz (z_rows rows); ddx has x_rows rows, ddy and ddw one per edge
 * (ddw one row if shared). DETERMINISTIC plans give bitwise reproducible
 * results. Workspace: oeq_conv_double_backward_workspace_size bytes (it
 * includes oeq_conv_workspace_size's), or NULL as above. */
OEQ_API oeq_status_t oeq_conv_double_backward_workspace_size(const oeq_plan_t *plan,
                                                             int64_t x_rows, int64_t z_rows,
                                                             int64_t edges, size_t *bytes);
OEQ_API oeq_status_t oeq_conv_double_backward(
    const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows, int64_t edges, const void *x,
    const void *y, const void *w, const void *dz, const void *ddx, const void *ddy,
    const void *ddw, const void *rows, const void *cols, const void *sender_perm, void *gx,
    void *gy, void *gw, void *gdz, void *workspace, size_t workspace_bytes, void *stream);

/* ------------------------------------------------ MACE symmetric contraction */

/* MACE's SymmetricContraction (legacy U basis of mace.tools.cg.U_matrix_real,
 * e3nn >= 0.5 conventions) as its own problem kind. Per row b with species
 * s = species[b], channel c and output irrep o:
 *   z[b][o][c][m] = sum_{nu=1..correlation} sum_k W_{o,nu}[s][k][c]
 *                   sum_{i_1..i_nu} U_{o,nu}[m][i_1..i_nu][k] x[b][c][i_1]...x[b][c][i_nu].
 * x rows are [channels][dim(irreps_in_per_channel)]; z rows are the
 * concatenation over output irreps of [channels][2l+1]; the flat weights hold,
 * per output irrep (in order) and nu = correlation..1, W_{o,nu} as
 * [num_elements][K_{o,nu}][channels] (K as MACE's U shapes). irreps_in_per_channel
 * has multiplicity 1 per entry; irreps_out entries have multiplicity 1 or
 * `channels`. correlation 1 to 4; the U tensors are capped at 4M nonzeros
 * (correlation 4 on large inputs fails with OEQ_ERROR_UNSUPPORTED).
 * channels 1 to 10^6, num_elements >= 1. On the problem, only
 * oeq_problem_set_dtypes (float32 default), _weight_numel, _dims (x row width,
 * 0, z row width), _describe and _destroy apply; the other setters and the
 * tp / conv plans fail with OEQ_ERROR_INVALID_ARGUMENT. */
OEQ_API oeq_status_t oeq_problem_create_symmetric_contraction(const char *irreps_in_per_channel,
                                                              const char *irreps_out,
                                                              int correlation,
                                                              int64_t num_elements,
                                                              int64_t channels,
                                                              oeq_problem_t **out);
/* A plan for a symmetric-contraction problem. A backend without these
 * kernels gives OEQ_ERROR_UNSUPPORTED; AUTO then falls back to the CPU. */
OEQ_API oeq_status_t oeq_plan_create_symmetric_contraction(const oeq_problem_t *p,
                                                           oeq_backend_t b, int device,
                                                           oeq_plan_t **out);
/* z for batch rows. x: batch x (channels * dim(in)), species: batch int32
 * indices in [0, num_elements) (an index out of range fails on the CPU, with
 * nothing written), w: weight_numel values, z: batch x z width. */
OEQ_API oeq_status_t oeq_symcon_forward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                        const int32_t *species, const void *w, void *z,
                                        void *stream);
/* Gradients of <dz, z>: dx like x; dw like w, the sum over the rows of each
 * species (species without rows get zeros), written even for batch 0.
 * Either of dx, dw may be NULL to skip that gradient. */
OEQ_API oeq_status_t oeq_symcon_backward(const oeq_plan_t *plan, int64_t batch, const void *x,
                                         const int32_t *species, const void *w, const void *dz,
                                         void *dx, void *dw, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* OEQ_H */
