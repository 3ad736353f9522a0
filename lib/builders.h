/* builders.h: the instruction builders GNN potentials use. */
#ifndef OEQ_BUILDERS_H
#define OEQ_BUILDERS_H

#include "problem.h"

/* e3nn FullyConnectedTensorProduct: uvw for every allowed (i1, i2, i_out),
 * i1 outermost, then i2, then i_out. */
oeq_status_t oeq_build_fully_connected(const char *in1, const char *in2, const char *out,
                                       oeq_problem_t **problem, oeq_error_t *err);
/* MACE tp_out_irreps_with_instructions: see oeq.h. */
oeq_status_t oeq_build_channelwise(const char *in1, const char *in2, const char *filter_out,
                                   oeq_problem_t **problem, oeq_error_t *err);

#endif
