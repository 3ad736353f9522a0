# gpu.jl: CuArray methods against the CPU backend (included by runtests.jl
# when CUDA.jl is functional and oeq has a CUDA backend).
@testset "CUDA" begin
    prob = channelwise("8x0e+8x1o", "0e+1o", "0e+1o+1e")
    cpu = Plan(prob; conv=true, backend=OEQ.OEQ_BACKEND_CPU)
    gpu = Plan(prob; conv=true, backend=OEQ.OEQ_BACKEND_CUDA)
    n1, n2, n3 = dims(prob)
    x_rows, z_rows, edges = 12, 10, 64
    rows = Int32.(sort(rand(0:z_rows-1, edges)))
    cols = Int32.(rand(0:x_rows-1, edges))
    x, y, w = randn(Float32, n1, x_rows), randn(Float32, n2, edges), randn(Float32, weight_numel(prob), edges)
    z = conv_forward!(zeros(Float32, n3, z_rows), cpu, x, y, w, rows, cols)
    zd = conv_forward!(CUDA.zeros(Float32, n3, z_rows), gpu, CuArray(x), CuArray(y), CuArray(w),
                       CuArray(rows), CuArray(cols))
    @test Array(zd) ≈ z rtol = 1e-4
    # host arrays to a GPU plan, device arrays to a CPU plan: refused before C
    @test_throws ArgumentError conv_forward!(zeros(Float32, n3, z_rows), gpu, x, y, w, rows, cols)
    @test_throws ArgumentError conv_forward!(CUDA.zeros(Float32, n3, z_rows), cpu, CuArray(x), CuArray(y),
                                             CuArray(w), CuArray(rows), CuArray(cols))
    dz = randn(Float32, n3, z_rows)
    dx, dy, dw = conv_backward!(similar(x), similar(y), similar(w), cpu, x, y, w, dz, rows, cols)
    dxd, dyd, dwd = conv_backward!(CuArray(similar(x)), CuArray(similar(y)), CuArray(similar(w)), gpu,
                                   CuArray(x), CuArray(y), CuArray(w), CuArray(dz), CuArray(rows), CuArray(cols))
    @test Array(dxd) ≈ dx rtol = 1e-4
    @test Array(dyd) ≈ dy rtol = 1e-4
    @test Array(dwd) ≈ dw rtol = 1e-4
end
