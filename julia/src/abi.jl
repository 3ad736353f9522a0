# abi.jl: GENERATED from include/oeq.h by bindings/genabi.py. Do not edit;
# run `python3 bindings/genabi.py` instead.
#
# The raw C ABI for module OEQ (included by OEQ.jl, which defines
# `fptr(name)`, the function pointer looked up when liboeq is loaded):
# every enum value and macro as a constant, the opaque handle types, and
# one wrapper per function of oeq.h whose ccall has the header's exact
# signature. Pointer arguments take what ccall converts (Arrays, Refs,
# C_NULL); handles take Problem / Plan through their unsafe_convert.

const OEQ_ABI_VERSION = Cint(1)

# oeq_status_t
const OEQ_SUCCESS = Cint(0)
const OEQ_ERROR_INVALID_ARGUMENT = Cint(1)
const OEQ_ERROR_PARSE = Cint(2)
const OEQ_ERROR_INVALID_PROBLEM = Cint(3)
const OEQ_ERROR_UNSUPPORTED = Cint(4)
const OEQ_ERROR_BACKEND_UNAVAILABLE = Cint(5)
const OEQ_ERROR_COMPILE = Cint(6)
const OEQ_ERROR_DEVICE = Cint(7)
const OEQ_ERROR_OUT_OF_MEMORY = Cint(8)
const OEQ_ERROR_IO = Cint(9)
const OEQ_ERROR_INTERNAL = Cint(10)
# oeq_mode_t
const OEQ_MODE_UVW = Cint(0)
const OEQ_MODE_UVU = Cint(1)
const OEQ_MODE_UVV = Cint(2)
const OEQ_MODE_UUW = Cint(3)
const OEQ_MODE_UUU = Cint(4)
const OEQ_MODE_UVUV = Cint(5)
# oeq_dtype_t
const OEQ_FLOAT32 = Cint(0)
const OEQ_FLOAT64 = Cint(1)
# oeq_backend_t
const OEQ_BACKEND_AUTO = Cint(0)
const OEQ_BACKEND_CPU = Cint(1)
const OEQ_BACKEND_CUDA = Cint(2)
const OEQ_BACKEND_HIP = Cint(3)
# oeq_irrep_norm_t
const OEQ_IRREP_NORM_COMPONENT = Cint(0)
const OEQ_IRREP_NORM_NORM = Cint(1)
const OEQ_IRREP_NORM_NONE = Cint(2)
# oeq_path_norm_t
const OEQ_PATH_NORM_ELEMENT = Cint(0)
const OEQ_PATH_NORM_PATH = Cint(1)
const OEQ_PATH_NORM_NONE = Cint(2)
# oeq_layout_t
const OEQ_LAYOUT_MUL_IR = Cint(0)
const OEQ_LAYOUT_IR_MUL = Cint(1)
# flags
const OEQ_CONV_DETERMINISTIC = UInt32(1)
const OEQ_CONV_KAHAN = UInt32(2)
const OEQ_INDEX_INT64 = UInt32(4)

# Opaque C structs: handles are Ptr{...} of these, never Ptr{Cvoid}.
mutable struct oeq_problem_s end  # oeq_problem_t
mutable struct oeq_plan_s end  # oeq_plan_t

# Every function of oeq.h, in header order (looked up by __init__).
const ABI_FUNCTIONS = (:oeq_abi_version, :oeq_version, :oeq_status_string, :oeq_last_error,
                       :oeq_backend_available, :oeq_problem_create, :oeq_problem_add_instruction,
                       :oeq_problem_set_dtypes, :oeq_problem_set_shared_weights,
                       :oeq_problem_set_normalization, :oeq_problem_set_layout,
                       :oeq_problem_set_variances, :oeq_problem_weight_numel, :oeq_problem_dims,
                       :oeq_problem_dtypes, :oeq_problem_shared_weights, :oeq_problem_irreps_count,
                       :oeq_problem_describe, :oeq_problem_destroy,
                       :oeq_problem_create_fully_connected, :oeq_problem_create_channelwise,
                       :oeq_plan_create_tp, :oeq_plan_create_conv, :oeq_plan_backend,
                       :oeq_plan_destroy, :oeq_tp_forward, :oeq_tp_backward,
                       :oeq_conv_workspace_size, :oeq_conv_forward, :oeq_conv_backward,
                       :oeq_tp_double_backward_workspace_size, :oeq_tp_double_backward,
                       :oeq_conv_double_backward_workspace_size, :oeq_conv_double_backward,
                       :oeq_problem_create_symmetric_contraction,
                       :oeq_plan_create_symmetric_contraction, :oeq_symcon_forward,
                       :oeq_symcon_backward)

# int oeq_abi_version(void)
oeq_abi_version() =
    ccall(fptr(:oeq_abi_version), Cint, ())

# const char *oeq_version(void)
oeq_version() =
    ccall(fptr(:oeq_version), Cstring, ())

# const char *oeq_status_string(oeq_status_t s)
oeq_status_string(s) =
    ccall(fptr(:oeq_status_string), Cstring, (Cint,), s)

# const char *oeq_last_error(void)
oeq_last_error() =
    ccall(fptr(:oeq_last_error), Cstring, ())

# int oeq_backend_available(oeq_backend_t b)
oeq_backend_available(b) =
    ccall(fptr(:oeq_backend_available), Cint, (Cint,), b)

# oeq_status_t oeq_problem_create(const char *irreps_in1, const char *irreps_in2, const char *irreps_out, oeq_problem_t **out)
oeq_problem_create(irreps_in1, irreps_in2, irreps_out, out) =
    ccall(fptr(:oeq_problem_create), Cint, (Cstring, Cstring, Cstring, Ref{Ptr{oeq_problem_s}}),
          irreps_in1, irreps_in2, irreps_out, out)

# oeq_status_t oeq_problem_add_instruction(oeq_problem_t *p, int i_in1, int i_in2, int i_out, oeq_mode_t mode, int has_weight, double path_weight)
oeq_problem_add_instruction(p, i_in1, i_in2, i_out, mode, has_weight, path_weight) =
    ccall(fptr(:oeq_problem_add_instruction), Cint, (Ptr{oeq_problem_s}, Cint, Cint, Cint, Cint,
                                                     Cint, Cdouble),
          p, i_in1, i_in2, i_out, mode, has_weight, path_weight)

# oeq_status_t oeq_problem_set_dtypes(oeq_problem_t *p, oeq_dtype_t irrep_dtype, oeq_dtype_t weight_dtype)
oeq_problem_set_dtypes(p, irrep_dtype, weight_dtype) =
    ccall(fptr(:oeq_problem_set_dtypes), Cint, (Ptr{oeq_problem_s}, Cint, Cint),
          p, irrep_dtype, weight_dtype)

# oeq_status_t oeq_problem_set_shared_weights(oeq_problem_t *p, int shared)
oeq_problem_set_shared_weights(p, shared) =
    ccall(fptr(:oeq_problem_set_shared_weights), Cint, (Ptr{oeq_problem_s}, Cint), p, shared)

# oeq_status_t oeq_problem_set_normalization(oeq_problem_t *p, oeq_irrep_norm_t irrep, oeq_path_norm_t path)
oeq_problem_set_normalization(p, irrep, path) =
    ccall(fptr(:oeq_problem_set_normalization), Cint, (Ptr{oeq_problem_s}, Cint, Cint),
          p, irrep, path)

# oeq_status_t oeq_problem_set_layout(oeq_problem_t *p, oeq_layout_t layout)
oeq_problem_set_layout(p, layout) =
    ccall(fptr(:oeq_problem_set_layout), Cint, (Ptr{oeq_problem_s}, Cint), p, layout)

# oeq_status_t oeq_problem_set_variances(oeq_problem_t *p, const double *in1_var, const double *in2_var, const double *out_var)
oeq_problem_set_variances(p, in1_var, in2_var, out_var) =
    ccall(fptr(:oeq_problem_set_variances), Cint, (Ptr{oeq_problem_s}, Ptr{Cdouble}, Ptr{Cdouble},
                                                   Ptr{Cdouble}), p, in1_var, in2_var, out_var)

# oeq_status_t oeq_problem_weight_numel(const oeq_problem_t *p, int64_t *out)
oeq_problem_weight_numel(p, out) =
    ccall(fptr(:oeq_problem_weight_numel), Cint, (Ptr{oeq_problem_s}, Ref{Int64}), p, out)

# oeq_status_t oeq_problem_dims(const oeq_problem_t *p, int64_t *in1, int64_t *in2, int64_t *out)
oeq_problem_dims(p, in1, in2, out) =
    ccall(fptr(:oeq_problem_dims), Cint, (Ptr{oeq_problem_s}, Ref{Int64}, Ref{Int64}, Ref{Int64}),
          p, in1, in2, out)

# oeq_status_t oeq_problem_dtypes(const oeq_problem_t *p, oeq_dtype_t *irrep_dtype, oeq_dtype_t *weight_dtype)
oeq_problem_dtypes(p, irrep_dtype, weight_dtype) =
    ccall(fptr(:oeq_problem_dtypes), Cint, (Ptr{oeq_problem_s}, Ref{Cint}, Ref{Cint}),
          p, irrep_dtype, weight_dtype)

# oeq_status_t oeq_problem_shared_weights(const oeq_problem_t *p, int *shared)
oeq_problem_shared_weights(p, shared) =
    ccall(fptr(:oeq_problem_shared_weights), Cint, (Ptr{oeq_problem_s}, Ref{Cint}), p, shared)

# oeq_status_t oeq_problem_irreps_count(const oeq_problem_t *p, int64_t *in1, int64_t *in2, int64_t *out)
oeq_problem_irreps_count(p, in1, in2, out) =
    ccall(fptr(:oeq_problem_irreps_count), Cint, (Ptr{oeq_problem_s}, Ref{Int64}, Ref{Int64},
                                                  Ref{Int64}), p, in1, in2, out)

# oeq_status_t oeq_problem_describe(const oeq_problem_t *p, char *buf, size_t len, size_t *needed)
oeq_problem_describe(p, buf, len, needed) =
    ccall(fptr(:oeq_problem_describe), Cint, (Ptr{oeq_problem_s}, Ptr{UInt8}, Csize_t,
                                              Ref{Csize_t}), p, buf, len, needed)

# void oeq_problem_destroy(oeq_problem_t *p)
oeq_problem_destroy(p) =
    ccall(fptr(:oeq_problem_destroy), Cvoid, (Ptr{oeq_problem_s},), p)

# oeq_status_t oeq_problem_create_fully_connected(const char *in1, const char *in2, const char *out, oeq_problem_t **p)
oeq_problem_create_fully_connected(in1, in2, out, p) =
    ccall(fptr(:oeq_problem_create_fully_connected), Cint, (Cstring, Cstring, Cstring,
                                                            Ref{Ptr{oeq_problem_s}}),
          in1, in2, out, p)

# oeq_status_t oeq_problem_create_channelwise(const char *in1, const char *in2, const char *filter_out, oeq_problem_t **p)
oeq_problem_create_channelwise(in1, in2, filter_out, p) =
    ccall(fptr(:oeq_problem_create_channelwise), Cint, (Cstring, Cstring, Cstring,
                                                        Ref{Ptr{oeq_problem_s}}),
          in1, in2, filter_out, p)

# oeq_status_t oeq_plan_create_tp(const oeq_problem_t *p, oeq_backend_t b, int device, oeq_plan_t **out)
oeq_plan_create_tp(p, b, device, out) =
    ccall(fptr(:oeq_plan_create_tp), Cint, (Ptr{oeq_problem_s}, Cint, Cint, Ref{Ptr{oeq_plan_s}}),
          p, b, device, out)

# oeq_status_t oeq_plan_create_conv(const oeq_problem_t *p, oeq_backend_t b, int device, uint32_t flags, oeq_plan_t **out)
oeq_plan_create_conv(p, b, device, flags, out) =
    ccall(fptr(:oeq_plan_create_conv), Cint, (Ptr{oeq_problem_s}, Cint, Cint, UInt32,
                                              Ref{Ptr{oeq_plan_s}}), p, b, device, flags, out)

# oeq_status_t oeq_plan_backend(const oeq_plan_t *plan, oeq_backend_t *out)
oeq_plan_backend(plan, out) =
    ccall(fptr(:oeq_plan_backend), Cint, (Ptr{oeq_plan_s}, Ref{Cint}), plan, out)

# void oeq_plan_destroy(oeq_plan_t *plan)
oeq_plan_destroy(plan) =
    ccall(fptr(:oeq_plan_destroy), Cvoid, (Ptr{oeq_plan_s},), plan)

# oeq_status_t oeq_tp_forward(const oeq_plan_t *plan, int64_t batch, const void *x, const void *y, const void *w, void *z, void *stream)
oeq_tp_forward(plan, batch, x, y, w, z, stream) =
    ccall(fptr(:oeq_tp_forward), Cint, (Ptr{oeq_plan_s}, Int64, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                        Ptr{Cvoid}, Ptr{Cvoid}), plan, batch, x, y, w, z, stream)

# oeq_status_t oeq_tp_backward(const oeq_plan_t *plan, int64_t batch, const void *x, const void *y, const void *w, const void *dz, void *dx, void *dy, void *dw, void *stream)
oeq_tp_backward(plan, batch, x, y, w, dz, dx, dy, dw, stream) =
    ccall(fptr(:oeq_tp_backward), Cint, (Ptr{oeq_plan_s}, Int64, Ptr{Cvoid}, Ptr{Cvoid},
                                         Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                         Ptr{Cvoid}, Ptr{Cvoid}),
          plan, batch, x, y, w, dz, dx, dy, dw, stream)

# oeq_status_t oeq_conv_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows, int64_t edges, size_t *bytes)
oeq_conv_workspace_size(plan, x_rows, z_rows, edges, bytes) =
    ccall(fptr(:oeq_conv_workspace_size), Cint, (Ptr{oeq_plan_s}, Int64, Int64, Int64,
                                                 Ref{Csize_t}), plan, x_rows, z_rows, edges, bytes)

# oeq_status_t oeq_conv_forward(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows, int64_t edges, const void *x, const void *y, const void *w, const void *rows, const void *cols, const void *sender_perm, void *z, void *workspace, size_t workspace_bytes, void *stream)
oeq_conv_forward(plan, x_rows, z_rows, edges, x, y, w, rows, cols, sender_perm, z, workspace,
                 workspace_bytes, stream) =
    ccall(fptr(:oeq_conv_forward), Cint, (Ptr{oeq_plan_s}, Int64, Int64, Int64, Ptr{Cvoid},
                                          Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                          Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Csize_t, Ptr{Cvoid}),
          plan, x_rows, z_rows, edges, x, y, w, rows, cols, sender_perm, z, workspace,
          workspace_bytes, stream)

# oeq_status_t oeq_conv_backward(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows, int64_t edges, const void *x, const void *y, const void *w, const void *dz, const void *rows, const void *cols, const void *sender_perm, void *dx, void *dy, void *dw, void *workspace, size_t workspace_bytes, void *stream)
oeq_conv_backward(plan, x_rows, z_rows, edges, x, y, w, dz, rows, cols, sender_perm, dx, dy, dw,
                  workspace, workspace_bytes, stream) =
    ccall(fptr(:oeq_conv_backward), Cint, (Ptr{oeq_plan_s}, Int64, Int64, Int64, Ptr{Cvoid},
                                           Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                           Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                           Ptr{Cvoid}, Ptr{Cvoid}, Csize_t, Ptr{Cvoid}),
          plan, x_rows, z_rows, edges, x, y, w, dz, rows, cols, sender_perm, dx, dy, dw, workspace,
          workspace_bytes, stream)

# oeq_status_t oeq_tp_double_backward_workspace_size(const oeq_plan_t *plan, int64_t batch, size_t *bytes)
oeq_tp_double_backward_workspace_size(plan, batch, bytes) =
    ccall(fptr(:oeq_tp_double_backward_workspace_size), Cint, (Ptr{oeq_plan_s}, Int64,
Ref{Csize_t}), plan, batch, bytes)

# oeq_status_t oeq_tp_double_backward(const oeq_plan_t *plan, int64_t batch, const void *x, const void *y, const void *w, const void *dz, const void *ddx, const void *ddy, const void *ddw, void *gx, void *gy, void *gw, void *gdz, void *workspace, size_t workspace_bytes, void *stream)
oeq_tp_double_backward(plan, batch, x, y, w, dz, ddx, ddy, ddw, gx, gy, gw, gdz, workspace,
                       workspace_bytes, stream) =
    ccall(fptr(:oeq_tp_double_backward), Cint, (Ptr{oeq_plan_s}, Int64, Ptr{Cvoid}, Ptr{Cvoid},
                                                Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                                Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                                Ptr{Cvoid}, Ptr{Cvoid}, Csize_t, Ptr{Cvoid}),
          plan, batch, x, y, w, dz, ddx, ddy, ddw, gx, gy, gw, gdz, workspace, workspace_bytes,
          stream)

# oeq_status_t oeq_conv_double_backward_workspace_size(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows, int64_t edges, size_t *bytes)
oeq_conv_double_backward_workspace_size(plan, x_rows, z_rows, edges, bytes) =
    ccall(fptr(:oeq_conv_double_backward_workspace_size), Cint, (Ptr{oeq_plan_s}, Int64, Int64,
Int64, Ref{Csize_t}), plan, x_rows, z_rows, edges, bytes)

# oeq_status_t oeq_conv_double_backward(const oeq_plan_t *plan, int64_t x_rows, int64_t z_rows, int64_t edges, const void *x, const void *y, const void *w, const void *dz, const void *ddx, const void *ddy, const void *ddw, const void *rows, const void *cols, const void *sender_perm, void *gx, void *gy, void *gw, void *gdz, void *workspace, size_t workspace_bytes, void *stream)
oeq_conv_double_backward(plan, x_rows, z_rows, edges, x, y, w, dz, ddx, ddy, ddw, rows, cols,
                         sender_perm, gx, gy, gw, gdz, workspace, workspace_bytes, stream) =
    ccall(fptr(:oeq_conv_double_backward), Cint, (Ptr{oeq_plan_s}, Int64, Int64, Int64, Ptr{Cvoid},
                                                  Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                                  Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                                  Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                                  Ptr{Cvoid}, Ptr{Cvoid}, Csize_t, Ptr{Cvoid}),
          plan, x_rows, z_rows, edges, x, y, w, dz, ddx, ddy, ddw, rows, cols, sender_perm, gx, gy,
          gw, gdz, workspace, workspace_bytes, stream)

# oeq_status_t oeq_problem_create_symmetric_contraction(const char *irreps_in_per_channel, const char *irreps_out, int correlation, int64_t num_elements, int64_t channels, oeq_problem_t **out)
oeq_problem_create_symmetric_contraction(irreps_in_per_channel, irreps_out, correlation,
                                         num_elements, channels, out) =
    ccall(fptr(:oeq_problem_create_symmetric_contraction), Cint, (Cstring, Cstring, Cint, Int64,
Int64, Ref{Ptr{oeq_problem_s}}),
          irreps_in_per_channel, irreps_out, correlation, num_elements, channels, out)

# oeq_status_t oeq_plan_create_symmetric_contraction(const oeq_problem_t *p, oeq_backend_t b, int device, oeq_plan_t **out)
oeq_plan_create_symmetric_contraction(p, b, device, out) =
    ccall(fptr(:oeq_plan_create_symmetric_contraction), Cint, (Ptr{oeq_problem_s}, Cint, Cint,
Ref{Ptr{oeq_plan_s}}), p, b, device, out)

# oeq_status_t oeq_symcon_forward(const oeq_plan_t *plan, int64_t batch, const void *x, const int32_t *species, const void *w, void *z, void *stream)
oeq_symcon_forward(plan, batch, x, species, w, z, stream) =
    ccall(fptr(:oeq_symcon_forward), Cint, (Ptr{oeq_plan_s}, Int64, Ptr{Cvoid}, Ptr{Int32},
                                            Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}),
          plan, batch, x, species, w, z, stream)

# oeq_status_t oeq_symcon_backward(const oeq_plan_t *plan, int64_t batch, const void *x, const int32_t *species, const void *w, const void *dz, void *dx, void *dw, void *stream)
oeq_symcon_backward(plan, batch, x, species, w, dz, dx, dw, stream) =
    ccall(fptr(:oeq_symcon_backward), Cint, (Ptr{oeq_plan_s}, Int64, Ptr{Cvoid}, Ptr{Int32},
                                             Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                             Ptr{Cvoid}),
          plan, batch, x, species, w, dz, dx, dw, stream)
