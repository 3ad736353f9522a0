/* kernel_table.h: what a code generator tells the launch layer about the
 * kernels of one translation unit.
 *
 * Codegen decides every launch parameter (it alone knows how much shared
 * memory a kernel uses and how many rows a block takes), so the launch
 * layer (lib/backend/gpu.c) never derives one of its own: it loads each
 * listed kernel, asks the runtime how many blocks of it fit on the device,
 * and launches grid-stride grids of at most that many blocks. The same
 * table drives CUDA and HIP.
 *
 * A source may be cut into parts (`#if OEQ_PART == n` sections) that are
 * compiled as separate programs, at once: a plan then waits for the longest
 * compile instead of their sum. A kernel names the part that holds it. */
#ifndef OEQ_KERNEL_TABLE_H
#define OEQ_KERNEL_TABLE_H

#include <stddef.h>

#define OEQ_MAX_KERNELS 8
#define OEQ_MAX_PARTS 2

typedef struct oeq_kernel_desc {
  const char *name;    /* entry point; NULL: the source has no such kernel */
  int part;            /* 1..n_parts: the OEQ_PART section that holds it */
  int threads;         /* block size */
  int rows_per_block;  /* work items (rows, warps) a block takes at a time */
  size_t shared_bytes; /* dynamic shared memory per block */
  int grid_y;          /* gridDim.y (independent groups); 1 for most kernels */
} oeq_kernel_desc_t;

/* Kernels indexed by role (the generator's own enum: OEQ_TP_K_*,
 * OEQ_CONV_K_*); the order of a call's launches is the call's business. */
typedef struct oeq_kernel_table {
  int n_parts; /* programs to compile: 1 (no OEQ_PART sections) or more */
  int count;   /* roles in use: kernel[0 .. count) */
  oeq_kernel_desc_t kernel[OEQ_MAX_KERNELS];
} oeq_kernel_table_t;

#endif
