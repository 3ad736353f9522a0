"""
    OEQ

Julia binding of liboeq (include/oeq.h): e3nn's Clebsch-Gordan tensor
products and the fused graph convolution.

The library comes from `ENV["OEQ_LIBRARY"]` (a path), else
`Libdl.find_library("liboeq")`, when the module is loaded (`__init__`).

Layout: the C ABI is row-major, `x[batch][in1_dim]`; Julia is column-major,
so the same memory is a `Matrix` of size `(in1_dim, batch)`: one column per
row of the batch (node or edge). Weights are `(weight_numel, batch)`, or a
`Vector` of `weight_numel` with shared weights. Convolution `rows`/`cols`/
`sender_perm` hold 0-based indices (C's), `Int32` (or `Int64` with
`OEQ_INDEX_INT64`). `Array` methods need a CPU plan; `CuArray` methods
(extension OEQCUDAExt, loaded with CUDA.jl) need a CUDA plan and run on the
task's `CUDA.stream()`.
"""
module OEQ

using Libdl

export Problem, Plan, OEQError, fully_connected, channelwise, add_instruction!, set_dtypes!,
       set_shared_weights!, set_normalization!, set_layout!, set_variances!, weight_numel, dims,
       irreps_count, dtypes, shared_weights, describe, backend, destroy!, tp_forward!,
       tp_backward!, conv_forward!, conv_backward!, conv_workspace_size, backend_available,
       symmetric_contraction, symcon_forward!, symcon_backward!

# ------------------------------------------------------------ the C ABI (oeq.h)

# Constants, handle types (oeq_problem_s, oeq_plan_s) and one ccall wrapper
# per function, generated from include/oeq.h by bindings/genabi.py.
include("abi.jl")

const MODES = Dict(:uvw => OEQ_MODE_UVW, :uvu => OEQ_MODE_UVU, :uvv => OEQ_MODE_UVV,
                   :uuw => OEQ_MODE_UUW, :uuu => OEQ_MODE_UUU, :uvuv => OEQ_MODE_UVUV)

const DTYPES = Dict(OEQ_FLOAT32 => Float32, OEQ_FLOAT64 => Float64)

# ------------------------------------------------------------ the library

const library_path = Ref{String}("")
# Filled once in __init__ and only read afterwards (safe from any thread).
const FPTRS = Dict{Symbol,Ptr{Cvoid}}()

function find_library_path()
    p = get(ENV, "OEQ_LIBRARY", "")
    isempty(p) ? Libdl.find_library(["liboeq", "oeq"]) : p
end

function __init__()
    path = find_library_path()
    if isempty(path)
        @warn "OEQ: liboeq not found; set ENV[\"OEQ_LIBRARY\"] to its path and reload"
        return
    end
    handle = Libdl.dlopen(path)
    for name in ABI_FUNCTIONS
        FPTRS[name] = Libdl.dlsym(handle, name)
    end
    library_path[] = path
    abi = oeq_abi_version()
    abi == OEQ_ABI_VERSION || error("OEQ: $path has ABI version $abi, this package needs $OEQ_ABI_VERSION")
    return
end

@inline function fptr(name::Symbol)
    p = get(FPTRS, name, C_NULL)
    p == C_NULL && error("OEQ: liboeq is not loaded (set ENV[\"OEQ_LIBRARY\"])")
    return p
end

"""
    OEQError(status, message)

A failure reported by liboeq: `status` is the `oeq_status_t` value, `message`
the text of `oeq_last_error()`.
"""
struct OEQError <: Exception
    status::Cint
    message::String
end

status_string(s::Integer) = unsafe_string(oeq_status_string(s))

Base.showerror(io::IO, e::OEQError) =
    print(io, "OEQError(", e.status, ", ", status_string(e.status), "): ", e.message)

function check(status::Cint)
    status == OEQ_SUCCESS && return nothing
    # oeq_last_error is valid until this thread's next oeq call: read it first.
    msg = unsafe_string(oeq_last_error())
    throw(OEQError(status, msg))
end

version() = unsafe_string(oeq_version())
backend_available(b::Integer) = oeq_backend_available(b) != 0

dtype_code(::Type{Float32}) = OEQ_FLOAT32
dtype_code(::Type{Float64}) = OEQ_FLOAT64
dtype_code(T::Type) = throw(ArgumentError("oeq supports Float32 and Float64, not $T"))

# ------------------------------------------------------------ problems

"""
    Problem(irreps_in1, irreps_in2, irreps_out, instructions=())

e3nn's TensorProduct without internal weights. `instructions` are e3nn's
tuples `(i_in1, i_in2, i_out, mode[, has_weight[, path_weight]])` with
0-based indices and `mode` a Symbol (`:uvw`, `:uvu`, ...). See also
[`fully_connected`](@ref), [`channelwise`](@ref).
"""
mutable struct Problem
    ptr::Ptr{oeq_problem_s}
    function Problem(ptr::Ptr{oeq_problem_s})
        p = new(ptr)
        finalizer(destroy!, p)
        return p
    end
end

function Problem(in1::AbstractString, in2::AbstractString, out::AbstractString, instructions=())
    r = Ref{Ptr{oeq_problem_s}}(C_NULL)
    check(oeq_problem_create(in1, in2, out, r))
    p = Problem(r[])
    for ins in instructions
        add_instruction!(p, ins...)
    end
    return p
end

"""e3nn's FullyConnectedTensorProduct: every allowed uvw path, weighted."""
function fully_connected(in1::AbstractString, in2::AbstractString, out::AbstractString)
    r = Ref{Ptr{oeq_problem_s}}(C_NULL)
    check(oeq_problem_create_fully_connected(in1, in2, out, r))
    return Problem(r[])
end

"""MACE / NequIP channelwise (uvu) convolution TP with per-row weights."""
function channelwise(in1::AbstractString, in2::AbstractString, filter_out::AbstractString)
    r = Ref{Ptr{oeq_problem_s}}(C_NULL)
    check(oeq_problem_create_channelwise(in1, in2, filter_out, r))
    return Problem(r[])
end

"""
    symmetric_contraction(irreps_in_per_channel, irreps_out, correlation, num_elements, channels)

MACE's SymmetricContraction (legacy U basis) as a Problem: x columns are
`channels * dim(irreps_in)` (C's `[channels][dim]`), one 0-based Int32
species per column, weights one Vector of `weight_numel` (per output irrep
and nu = correlation..1, each C's `[num_elements][K][channels]`). Only
`set_dtypes!` applies; make its plan with `Plan(p; symcon=true)`.
"""
function symmetric_contraction(irreps_in::AbstractString, irreps_out::AbstractString,
                               correlation::Integer, num_elements::Integer, channels::Integer)
    r = Ref{Ptr{oeq_problem_s}}(C_NULL)
    check(oeq_problem_create_symmetric_contraction(irreps_in, irreps_out, correlation,
                                                   num_elements, channels, r))
    return Problem(r[])
end

function Base.unsafe_convert(::Type{Ptr{oeq_problem_s}}, p::Problem)
    p.ptr == C_NULL && throw(ArgumentError("the Problem has been destroyed"))
    return p.ptr
end

"""Frees the handle now (the finalizer does it otherwise). Never blocks; safe to repeat."""
function destroy!(p::Problem)
    ptr, p.ptr = p.ptr, Ptr{oeq_problem_s}(C_NULL)
    ptr == C_NULL || oeq_problem_destroy(ptr)
    return nothing
end

function add_instruction!(p::Problem, i_in1::Integer, i_in2::Integer, i_out::Integer, mode,
                          has_weight::Bool=true, path_weight::Real=1.0)
    m = mode isa Symbol ? get(MODES, mode, nothing) : Cint(mode)
    m === nothing && throw(ArgumentError("mode $mode is not one of $(sort(collect(keys(MODES))))"))
    check(oeq_problem_add_instruction(p, i_in1, i_in2, i_out, m, has_weight ? 1 : 0, path_weight))
    return p
end

function set_dtypes!(p::Problem, ::Type{T}, ::Type{W}=T) where {T,W}
    check(oeq_problem_set_dtypes(p, dtype_code(T), dtype_code(W)))
    return p
end

function set_shared_weights!(p::Problem, shared::Bool)
    check(oeq_problem_set_shared_weights(p, shared ? 1 : 0))
    return p
end

function set_normalization!(p::Problem, irrep::Integer, path::Integer)
    check(oeq_problem_set_normalization(p, irrep, path))
    return p
end

function set_layout!(p::Problem, layout::Integer)
    check(oeq_problem_set_layout(p, layout))
    return p
end

"""
    set_variances!(p; in1=nothing, in2=nothing, out=nothing)

e3nn's in1_var / in2_var / out_var: one value per irreps entry (nothing: all ones).
"""
function set_variances!(p::Problem; in1=nothing, in2=nothing, out=nothing)
    counts = irreps_count(p)
    vals = map(((in1, "in1", counts[1]), (in2, "in2", counts[2]), (out, "out", counts[3]))) do (v, key, n)
        v === nothing && return nothing
        length(v) == n || throw(ArgumentError("$(key)_var has $(length(v)) values; irreps_$key has $n entries"))
        return Vector{Cdouble}(v)
    end
    ptr(v) = v === nothing ? Ptr{Cdouble}(C_NULL) : pointer(v)
    GC.@preserve vals begin
        check(oeq_problem_set_variances(p, ptr(vals[1]), ptr(vals[2]), ptr(vals[3])))
    end
    return p
end

function weight_numel(p::Problem)
    n = Ref{Int64}(0)
    check(oeq_problem_weight_numel(p, n))
    return Int(n[])
end

"""`(in1_dim, in2_dim, out_dim)`: the row widths of x, y and z."""
function dims(p::Problem)
    a, b, c = Ref{Int64}(0), Ref{Int64}(0), Ref{Int64}(0)
    check(oeq_problem_dims(p, a, b, c))
    return (Int(a[]), Int(b[]), Int(c[]))
end

"""`(in1, in2, out)`: the entries of each irreps (`"8x0e+8x1o"` has 2), as `set_variances!` takes them."""
function irreps_count(p::Problem)
    a, b, c = Ref{Int64}(0), Ref{Int64}(0), Ref{Int64}(0)
    check(oeq_problem_irreps_count(p, a, b, c))
    return (Int(a[]), Int(b[]), Int(c[]))
end

"""`(irrep_type, weight_type)`: `Float32` or `Float64` each."""
function dtypes(p::Problem)
    i, w = Ref{Cint}(0), Ref{Cint}(0)
    check(oeq_problem_dtypes(p, i, w))
    return (DTYPES[i[]], DTYPES[w[]])
end

"""Whether the weights are shared (one row for the whole batch)."""
function shared_weights(p::Problem)
    s = Ref{Cint}(0)
    check(oeq_problem_shared_weights(p, s))
    return s[] != 0
end

"""The problem as JSON text."""
function describe(p::Problem)
    needed = Ref{Csize_t}(0)
    check(oeq_problem_describe(p, C_NULL, 0, needed))
    buf = Vector{UInt8}(undef, needed[] + 1)
    check(oeq_problem_describe(p, buf, length(buf), needed))
    return String(buf[1:needed[]])
end

# ------------------------------------------------------------ plans

"""
    Plan(problem; conv=false, backend=OEQ.OEQ_BACKEND_AUTO, device=0, flags=0)

`problem` compiled for one backend and device: a tensor-product plan, or a
convolution plan with `conv=true` (flags: `OEQ_CONV_DETERMINISTIC`,
`OEQ_CONV_KAHAN`, `OEQ_INDEX_INT64`). The problem may be destroyed afterwards.
"""
mutable struct Plan
    ptr::Ptr{oeq_plan_s}
    conv::Bool
    backend::Cint
    device::Int
    flags::UInt32
    x_dim::Int
    y_dim::Int
    z_dim::Int
    weight_numel::Int
    irrep_type::DataType
    weight_type::DataType
    index_type::DataType
    shared_weights::Bool
    symcon::Bool
end

function Plan(p::Problem; conv::Bool=false, backend::Integer=OEQ_BACKEND_AUTO, device::Integer=0,
              flags::Integer=0, symcon::Bool=false)
    r = Ref{Ptr{oeq_plan_s}}(C_NULL)
    if symcon
        check(oeq_plan_create_symmetric_contraction(p, backend, device, r))
    elseif conv
        check(oeq_plan_create_conv(p, backend, device, flags, r))
    else
        check(oeq_plan_create_tp(p, backend, device, r))
    end
    ptr = r[]
    b = Ref{Cint}(0)
    st = oeq_plan_backend(ptr, b)
    if st != OEQ_SUCCESS
        oeq_plan_destroy(ptr)
        check(st)
    end
    d1, d2, d3 = dims(p)
    irrep, weight = dtypes(p)
    index = (UInt32(flags) & OEQ_INDEX_INT64) != 0 ? Int64 : Int32
    plan = Plan(ptr, conv, b[], device, flags, d1, d2, d3, weight_numel(p), irrep, weight, index,
                shared_weights(p), symcon)
    finalizer(destroy!, plan)
    return plan
end

function Base.unsafe_convert(::Type{Ptr{oeq_plan_s}}, p::Plan)
    p.ptr == C_NULL && throw(ArgumentError("the Plan has been destroyed"))
    return p.ptr
end

"""Frees the plan now. oeq_plan_destroy is safe from any thread and never blocks."""
function destroy!(p::Plan)
    ptr, p.ptr = p.ptr, Ptr{oeq_plan_s}(C_NULL)
    ptr == C_NULL || oeq_plan_destroy(ptr)
    return nothing
end

backend(p::Plan) = p.backend
is_gpu(p::Plan) = p.backend == OEQ_BACKEND_CUDA || p.backend == OEQ_BACKEND_HIP

function conv_workspace_size(p::Plan, x_rows::Integer, z_rows::Integer, edges::Integer)
    n = Ref{Csize_t}(0)
    check(oeq_conv_workspace_size(p, x_rows, z_rows, edges, n))
    return Int(n[])
end

# ------------------------------------------------------------ checks (before C)

function check_plan(p::Plan, conv::Bool, gpu::Bool, T::Type, W::Type)
    p.ptr == C_NULL && throw(ArgumentError("the Plan has been destroyed"))
    p.conv == conv || throw(ArgumentError(p.conv ?
        "this is a convolution plan: use conv_forward!/conv_backward!" :
        "this is a tensor-product plan: use tp_forward!/tp_backward!"))
    if gpu != is_gpu(p)
        throw(ArgumentError(gpu ? "device arrays passed to a CPU plan" :
                            "host Arrays passed to a GPU plan: use CuArrays"))
    end
    T === p.irrep_type || throw(ArgumentError("arrays have eltype $T, the plan needs $(p.irrep_type)"))
    W === p.weight_type || throw(ArgumentError("weights have eltype $W, the plan needs $(p.weight_type)"))
    return nothing
end

function check_size(name, a, d::Integer, rows::Integer)
    size(a) == (d, rows) || throw(ArgumentError(
        "$name has size $(size(a)), expected ($d, $rows) (Julia (dim, rows) is C's [rows][dim])"))
    return nothing
end

# w: a Vector (or one column) with shared weights, else (weight_numel, rows).
function check_weights(p::Plan, name, w, rows::Integer)
    if p.shared_weights
        ok = w isa AbstractVector ? length(w) == p.weight_numel : size(w) == (p.weight_numel, 1)
        ok || throw(ArgumentError("$name has size $(size(w)), expected ($(p.weight_numel),) (shared weights)"))
    else
        check_size(name, w, p.weight_numel, rows)
    end
    return nothing
end

function check_indices(p::Plan, edges::Integer, idx...)
    for (name, a) in idx
        a === nothing && continue
        eltype(a) === p.index_type || throw(ArgumentError(
            "$name has eltype $(eltype(a)), the plan needs $(p.index_type)"))
        length(a) == edges || throw(ArgumentError("$name has $(length(a)) entries, expected $edges"))
    end
    if (p.flags & OEQ_CONV_DETERMINISTIC) != 0 && idx[end][2] === nothing
        throw(ArgumentError("an OEQ_CONV_DETERMINISTIC plan needs sender_perm"))
    end
    return nothing
end

# The checks shared by the CPU and GPU methods; return the counts.
function check_tp(p::Plan, gpu, x, y, w, z)
    check_plan(p, false, gpu, eltype(x), eltype(w))
    batch = size(x, 2)
    check_size("x", x, p.x_dim, batch)
    check_size("y", y, p.y_dim, batch)
    check_weights(p, "w", w, batch)
    check_size("z", z, p.z_dim, batch)
    eltype(y) === eltype(z) === eltype(x) || throw(ArgumentError("x, y and z need one eltype"))
    return batch
end

function check_tp_backward(p::Plan, gpu, x, y, w, dz, dx, dy, dw)
    batch = check_tp(p, gpu, x, y, w, dz)
    check_size("dx", dx, p.x_dim, batch)
    check_size("dy", dy, p.y_dim, batch)
    check_weights(p, "dw", dw, batch)
    eltype(dx) === eltype(dy) === eltype(x) || throw(ArgumentError("dx, dy need x's eltype"))
    eltype(dw) === eltype(w) || throw(ArgumentError("dw needs w's eltype"))
    return batch
end

function check_conv(p::Plan, gpu, x, y, w, rows, cols, sender_perm, z)
    check_plan(p, true, gpu, eltype(x), eltype(w))
    edges = length(rows)
    check_indices(p, edges, ("rows", rows), ("cols", cols), ("sender_perm", sender_perm))
    check_size("x", x, p.x_dim, size(x, 2))
    check_size("y", y, p.y_dim, edges)
    check_weights(p, "w", w, edges)
    check_size("z", z, p.z_dim, size(z, 2))
    eltype(y) === eltype(z) === eltype(x) || throw(ArgumentError("x, y and z need one eltype"))
    return size(x, 2), size(z, 2), edges
end

function check_conv_backward(p::Plan, gpu, x, y, w, dz, rows, cols, sender_perm, dx, dy, dw)
    x_rows, z_rows, edges = check_conv(p, gpu, x, y, w, rows, cols, sender_perm, dz)
    check_size("dx", dx, p.x_dim, x_rows)
    check_size("dy", dy, p.y_dim, edges)
    check_weights(p, "dw", dw, edges)
    eltype(dx) === eltype(dy) === eltype(x) || throw(ArgumentError("dx, dy need x's eltype"))
    eltype(dw) === eltype(w) || throw(ArgumentError("dw needs w's eltype"))
    return x_rows, z_rows, edges
end

# ------------------------------------------------------------ CPU (Array) methods

const Real32or64 = Union{Float32,Float64}

"""
    tp_forward!(z, plan, x, y, w) -> z

`z[:, b] = TP(x[:, b], y[:, b], w[:, b] or w)`. Sizes `(dim, batch)`; z is overwritten.
"""
function tp_forward!(z::Matrix{T}, p::Plan, x::Matrix{T}, y::Matrix{T},
                     w::VecOrMat{W}) where {T<:Real32or64,W<:Real32or64}
    batch = check_tp(p, false, x, y, w, z)
    check(oeq_tp_forward(p, batch, x, y, w, z, C_NULL))
    return z
end

"""
    tp_backward!(dx, dy, dw, plan, x, y, w, dz) -> (dx, dy, dw)

Gradients of `<dz, TP(x, y, w)>`; with shared weights dw is the batch sum.
"""
function tp_backward!(dx::Matrix{T}, dy::Matrix{T}, dw::VecOrMat{W}, p::Plan, x::Matrix{T},
                      y::Matrix{T}, w::VecOrMat{W}, dz::Matrix{T}) where {T<:Real32or64,W<:Real32or64}
    batch = check_tp_backward(p, false, x, y, w, dz, dx, dy, dw)
    check(oeq_tp_backward(p, batch, x, y, w, dz, dx, dy, dw, C_NULL))
    return dx, dy, dw
end

nullable(a::Union{Nothing,Array}, ::Type{I}) where {I} = a === nothing ? Ptr{I}(C_NULL) : pointer(a)

function check_symcon(p::Plan, x, species, w, z)
    p.ptr == C_NULL && throw(ArgumentError("the Plan has been destroyed"))
    p.symcon || throw(ArgumentError("not a symmetric-contraction plan: make it with Plan(p; symcon=true)"))
    is_gpu(p) && throw(ArgumentError("host Arrays passed to a GPU plan"))
    eltype(x) === p.irrep_type || throw(ArgumentError("x has eltype $(eltype(x)), the plan needs $(p.irrep_type)"))
    eltype(w) === p.weight_type || throw(ArgumentError("w has eltype $(eltype(w)), the plan needs $(p.weight_type)"))
    batch = size(x, 2)
    check_size("x", x, p.x_dim, batch)
    check_size("z", z, p.z_dim, batch)
    eltype(z) === eltype(x) || throw(ArgumentError("z needs x's eltype"))
    length(species) == batch || throw(ArgumentError("species has $(length(species)) entries, x has $batch columns"))
    length(w) == p.weight_numel || throw(ArgumentError("w has $(length(w)) entries, expected $(p.weight_numel)"))
    return batch
end

"""
    symcon_forward!(z, plan, x, species, w) -> z

MACE's symmetric contraction of each column of x with the weights of its
species (0-based); z is overwritten.
"""
function symcon_forward!(z::Matrix{T}, p::Plan, x::Matrix{T}, species::Vector{Int32},
                         w::Vector{W}) where {T<:Real32or64,W<:Real32or64}
    batch = check_symcon(p, x, species, w, z)
    check(oeq_symcon_forward(p, batch, x, species, w, z, C_NULL))
    return z
end

"""
    symcon_backward!(dx, dw, plan, x, species, w, dz) -> (dx, dw)

Gradients of `<dz, z>`: dx like x, dw like w (summed over the columns of each
species). Either may be `nothing` to skip it.
"""
function symcon_backward!(dx::Union{Nothing,Matrix{T}}, dw::Union{Nothing,Vector{W}}, p::Plan,
                          x::Matrix{T}, species::Vector{Int32}, w::Vector{W},
                          dz::Matrix{T}) where {T<:Real32or64,W<:Real32or64}
    batch = check_symcon(p, x, species, w, dz)
    dx === nothing || check_size("dx", dx, p.x_dim, batch)
    dw === nothing || length(dw) == p.weight_numel ||
        throw(ArgumentError("dw has $(length(dw)) entries, expected $(p.weight_numel)"))
    check(oeq_symcon_backward(p, batch, x, species, w, dz, nullable(dx, T), nullable(dw, W), C_NULL))
    return dx, dw
end

"""
    conv_forward!(z, plan, x, y, w, rows, cols; sender_perm=nothing) -> z

`z[:, rows[e]+1] += TP(x[:, cols[e]+1], y[:, e], w[:, e])` over edges e, z
overwritten first; rows/cols are 0-based. x may have more columns than z
(ghost atoms that only send).
"""
function conv_forward!(z::Matrix{T}, p::Plan, x::Matrix{T}, y::Matrix{T}, w::VecOrMat{W},
                       rows::Vector{I}, cols::Vector{I};
                       sender_perm::Union{Nothing,Vector{I}}=nothing) where {T<:Real32or64,W<:Real32or64,I<:Union{Int32,Int64}}
    x_rows, z_rows, edges = check_conv(p, false, x, y, w, rows, cols, sender_perm, z)
    GC.@preserve sender_perm begin
        check(oeq_conv_forward(p, x_rows, z_rows, edges, x, y, w, rows, cols,
                               nullable(sender_perm, I), z, C_NULL, 0, C_NULL))
    end
    return z
end

"""
    conv_backward!(dx, dy, dw, plan, x, y, w, dz, rows, cols; sender_perm=nothing)

Gradients of `<dz, conv(x, y, w)>`: dx for every x column (ghosts included), dy and dw per edge.
"""
function conv_backward!(dx::Matrix{T}, dy::Matrix{T}, dw::VecOrMat{W}, p::Plan, x::Matrix{T},
                        y::Matrix{T}, w::VecOrMat{W}, dz::Matrix{T}, rows::Vector{I}, cols::Vector{I};
                        sender_perm::Union{Nothing,Vector{I}}=nothing) where {T<:Real32or64,W<:Real32or64,I<:Union{Int32,Int64}}
    x_rows, z_rows, edges = check_conv_backward(p, false, x, y, w, dz, rows, cols, sender_perm,
                                                dx, dy, dw)
    GC.@preserve sender_perm begin
        check(oeq_conv_backward(p, x_rows, z_rows, edges, x, y, w, dz, rows, cols,
                                nullable(sender_perm, I), dx, dy, dw, C_NULL, 0, C_NULL))
    end
    return dx, dy, dw
end

# Any other array type (a view, a CuArray without CUDA.jl loaded, ...): say why.
tp_forward!(z, p::Plan, x, y, w) = throw(ArgumentError(
    "tp_forward! takes contiguous Arrays (CPU plan) or CuArrays (CUDA plan, `using CUDA`) " *
    "of one Float32/Float64 eltype; got $(typeof(x))"))
conv_forward!(z, p::Plan, x, y, w, rows, cols; kw...) = throw(ArgumentError(
    "conv_forward! takes contiguous Arrays (CPU plan) or CuArrays (CUDA plan, `using CUDA`), " *
    "Int32/Int64 index vectors; got $(typeof(x)), $(typeof(rows))"))

end # module OEQ
