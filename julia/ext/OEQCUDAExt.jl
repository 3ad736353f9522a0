"""
OEQCUDAExt: CuArray methods of OEQ (loaded with `using CUDA`).

Device arrays go to C as `CuPtr{T}`, so a host pointer cannot reach a GPU
plan by mistake, and every call is enqueued on the calling task's
`CUDA.stream()` (asynchronous, like any CUDA.jl kernel). Outputs are
overwritten. Sizes, eltypes and the plan's backend are checked before C is
called, exactly as for Arrays.
"""
module OEQCUDAExt

using CUDA
using OEQ
using OEQ: Plan, check, fptr, oeq_plan_s, Real32or64, check_tp, check_tp_backward, check_conv,
           check_conv_backward

# The task-local stream as the C ABI's `void *stream` (a CUstream).
task_stream() = reinterpret(Ptr{Cvoid}, CUDA.stream().handle)

devptr(a::Union{Nothing,CuArray{I}}, ::Type{I}) where {I} = a === nothing ? CuPtr{I}(0) : pointer(a)

function OEQ.tp_forward!(z::CuMatrix{T}, p::Plan, x::CuMatrix{T}, y::CuMatrix{T},
                         w::CuVecOrMat{W}) where {T<:Real32or64,W<:Real32or64}
    batch = check_tp(p, true, x, y, w, z)
    check(ccall(fptr(:oeq_tp_forward), Cint,
                (Ptr{oeq_plan_s}, Int64, CuPtr{T}, CuPtr{T}, CuPtr{W}, CuPtr{T}, Ptr{Cvoid}),
                p, batch, x, y, w, z, task_stream()))
    return z
end

function OEQ.tp_backward!(dx::CuMatrix{T}, dy::CuMatrix{T}, dw::CuVecOrMat{W}, p::Plan,
                          x::CuMatrix{T}, y::CuMatrix{T}, w::CuVecOrMat{W},
                          dz::CuMatrix{T}) where {T<:Real32or64,W<:Real32or64}
    batch = check_tp_backward(p, true, x, y, w, dz, dx, dy, dw)
    check(ccall(fptr(:oeq_tp_backward), Cint,
                (Ptr{oeq_plan_s}, Int64, CuPtr{T}, CuPtr{T}, CuPtr{W}, CuPtr{T}, CuPtr{T}, CuPtr{T},
                 CuPtr{W}, Ptr{Cvoid}),
                p, batch, x, y, w, dz, dx, dy, dw, task_stream()))
    return dx, dy, dw
end

# workspace: a CuVector{UInt8} of at least conv_workspace_size bytes, or
# nothing to let the library allocate it stream-ordered.
function OEQ.conv_forward!(z::CuMatrix{T}, p::Plan, x::CuMatrix{T}, y::CuMatrix{T},
                           w::CuVecOrMat{W}, rows::CuVector{I}, cols::CuVector{I};
                           sender_perm::Union{Nothing,CuVector{I}}=nothing,
                           workspace::Union{Nothing,CuVector{UInt8}}=nothing) where {T<:Real32or64,W<:Real32or64,I<:Union{Int32,Int64}}
    x_rows, z_rows, edges = check_conv(p, true, x, y, w, rows, cols, sender_perm, z)
    GC.@preserve sender_perm workspace begin
        check(ccall(fptr(:oeq_conv_forward), Cint,
                    (Ptr{oeq_plan_s}, Int64, Int64, Int64, CuPtr{T}, CuPtr{T}, CuPtr{W}, CuPtr{I},
                     CuPtr{I}, CuPtr{I}, CuPtr{T}, CuPtr{UInt8}, Csize_t, Ptr{Cvoid}),
                    p, x_rows, z_rows, edges, x, y, w, rows, cols, devptr(sender_perm, I), z,
                    devptr(workspace, UInt8), workspace === nothing ? 0 : sizeof(workspace),
                    task_stream()))
    end
    return z
end

function OEQ.conv_backward!(dx::CuMatrix{T}, dy::CuMatrix{T}, dw::CuVecOrMat{W}, p::Plan,
                            x::CuMatrix{T}, y::CuMatrix{T}, w::CuVecOrMat{W}, dz::CuMatrix{T},
                            rows::CuVector{I}, cols::CuVector{I};
                            sender_perm::Union{Nothing,CuVector{I}}=nothing,
                            workspace::Union{Nothing,CuVector{UInt8}}=nothing) where {T<:Real32or64,W<:Real32or64,I<:Union{Int32,Int64}}
    x_rows, z_rows, edges = check_conv_backward(p, true, x, y, w, dz, rows, cols, sender_perm,
                                                dx, dy, dw)
    GC.@preserve sender_perm workspace begin
        check(ccall(fptr(:oeq_conv_backward), Cint,
                    (Ptr{oeq_plan_s}, Int64, Int64, Int64, CuPtr{T}, CuPtr{T}, CuPtr{W}, CuPtr{T},
                     CuPtr{I}, CuPtr{I}, CuPtr{I}, CuPtr{T}, CuPtr{T}, CuPtr{W}, CuPtr{UInt8},
                     Csize_t, Ptr{Cvoid}),
                    p, x_rows, z_rows, edges, x, y, w, dz, rows, cols, devptr(sender_perm, I),
                    dx, dy, dw, devptr(workspace, UInt8),
                    workspace === nothing ? 0 : sizeof(workspace), task_stream()))
    end
    return dx, dy, dw
end

end # module OEQCUDAExt
