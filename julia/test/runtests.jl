# runtests.jl: OEQ's tests. CPU tests always; GPU tests when CUDA.jl is
# functional. Needs ENV["OEQ_LIBRARY"] (or liboeq on the library path).
# NOTE: written for Julia >= 1.9 but not run where it was written (no Julia
# there); it was parsed and its ccalls checked against oeq.h instead.
using Test
using OEQ
using Random

Random.seed!(7)

# <dz, f(x)> differences against the backward pass, in Float64.
fd_dot(f, a, da, dz; h=1e-6) = (sum(dz .* f(a .+ h .* da)) - sum(dz .* f(a .- h .* da))) / (2h)

@testset "OEQ" begin
    @testset "library" begin
        @test occursin(r"^\d+\.\d+\.\d+$", OEQ.version())
        @test backend_available(OEQ.OEQ_BACKEND_CPU)
    end

    @testset "problem facts (ABI getters)" begin
        prob = Problem("2x0e+0x1o+3x1o", "0e+1o", "2x0e+3x1o", [(0, 0, 0, :uvw)])
        @test dtypes(prob) == (Float32, Float32) && shared_weights(prob)
        @test irreps_count(prob) == (3, 2, 2)
        set_shared_weights!(set_dtypes!(prob, Float64, Float32), false)
        @test dtypes(prob) == (Float64, Float32) && !shared_weights(prob)
        @test_throws ArgumentError set_variances!(prob; in1=[1.0, 1.0])
        set_variances!(prob; in1=[1.0, 2.0, 1.0], out=[1.0, 0.5])
        plan = Plan(prob; backend=OEQ.OEQ_BACKEND_CPU)
        @test plan.irrep_type === Float64 && plan.weight_type === Float32 && !plan.shared_weights
    end

    @testset "tensor product, Float64, shared weights" begin
        prob = set_dtypes!(fully_connected("2x0e+2x1o", "1x0e+1x1o", "2x0e+1x1o+1x1e"), Float64)
        plan = Plan(prob; backend=OEQ.OEQ_BACKEND_CPU)
        @test plan.shared_weights && plan.irrep_type === Float64
        n1, n2, n3 = dims(prob)
        batch = 6
        x, y, w = randn(n1, batch), randn(n2, batch), randn(weight_numel(prob))
        z = tp_forward!(zeros(n3, batch), plan, x, y, w)
        # each column is one batch row: the same as a batch of one
        z1 = tp_forward!(zeros(n3, 1), plan, x[:, 2:2], y[:, 2:2], w)
        @test z1[:, 1] ≈ z[:, 2]
        # bilinear in (x, y), linear in w
        @test tp_forward!(zeros(n3, batch), plan, 2x, y, w) ≈ 2z
        @test tp_forward!(zeros(n3, batch), plan, x, y, 3w) ≈ 3z
        dz = randn(n3, batch)
        dx, dy, dw = tp_backward!(similar(x), similar(y), similar(w), plan, x, y, w, dz)
        f(a) = tp_forward!(zeros(n3, batch), plan, a, y, w)
        da = randn(size(x))
        @test fd_dot(f, x, da, dz) ≈ sum(dx .* da) rtol = 1e-6
        g(b) = tp_forward!(zeros(n3, batch), plan, x, y, b)
        db = randn(size(w))
        @test fd_dot(g, w, db, dz) ≈ sum(dw .* db) rtol = 1e-6
        destroy!(plan)
        destroy!(plan)  # safe to repeat
        @test_throws ArgumentError tp_forward!(z, plan, x, y, w)
    end

    @testset "convolution = scattered tensor products" begin
        prob = channelwise("4x0e+3x1o", "0e+1o", "0e+1o+1e")
        tp = Plan(prob; backend=OEQ.OEQ_BACKEND_CPU)
        conv = Plan(prob; conv=true, backend=OEQ.OEQ_BACKEND_CPU)
        n1, n2, n3 = dims(prob)
        x_rows, z_rows, edges = 7, 5, 20
        rows = Int32.(sort(rand(0:z_rows-1, edges)))
        cols = Int32.(rand(0:x_rows-1, edges))
        x, y = randn(Float32, n1, x_rows), randn(Float32, n2, edges)
        w = randn(Float32, weight_numel(prob), edges)
        z = conv_forward!(zeros(Float32, n3, z_rows), conv, x, y, w, rows, cols)
        ze = tp_forward!(zeros(Float32, n3, edges), tp, x[:, cols .+ 1], y, w)
        ref = zeros(Float32, n3, z_rows)
        for e in 1:edges
            ref[:, rows[e]+1] .+= ze[:, e]
        end
        @test z ≈ ref rtol = 1e-5
        perm = Int32.(sortperm(cols) .- 1)
        det = Plan(prob; conv=true, backend=OEQ.OEQ_BACKEND_CPU, flags=OEQ.OEQ_CONV_DETERMINISTIC)
        @test conv_forward!(zeros(Float32, n3, z_rows), det, x, y, w, rows, cols; sender_perm=perm) ≈ ref rtol = 1e-5
        @test_throws ArgumentError conv_forward!(zeros(Float32, n3, z_rows), det, x, y, w, rows, cols)
        dz = randn(Float32, n3, z_rows)
        dx, dy, dw = conv_backward!(similar(x), similar(y), similar(w), conv, x, y, w, dz, rows, cols)
        @test size(dx) == size(x) && all(isfinite, dx) && all(isfinite, dw)
        @test conv_workspace_size(conv, x_rows, z_rows, edges) >= 0
    end

    @testset "errors before and from C" begin
        e = try
            Problem("2x0e+garbage", "0e", "0e")
        catch err
            err
        end
        @test e isa OEQError && e.status == OEQ.OEQ_ERROR_PARSE && occursin("garbage", e.message)
        prob = Problem("2x0e+1x1o", "0e+1o", "2x0e+1x1o")
        @test_throws OEQError add_instruction!(prob, 1, 1, 1, :uvw)   # parity
        @test_throws ArgumentError add_instruction!(prob, 0, 0, 0, :xyz)
        @test_throws ArgumentError set_variances!(prob; in1=[1.0])
        @test_throws ArgumentError set_dtypes!(prob, Int32)
        add_instruction!(prob, 0, 0, 0, :uvw)
        add_instruction!(prob, 1, 0, 1, :uvw, true, 0.5)
        plan = Plan(prob; backend=OEQ.OEQ_BACKEND_CPU)
        n1, n2, n3 = dims(prob)
        x, y, w, z = ones(Float32, n1, 3), ones(Float32, n2, 3), ones(Float32, weight_numel(prob)), zeros(Float32, n3, 3)
        @test_throws ArgumentError tp_forward!(z, plan, x, ones(Float32, n2, 2), w)       # batch
        @test_throws ArgumentError tp_forward!(z, plan, ones(Float32, n1 + 1, 3), y, w)   # width
        @test_throws ArgumentError tp_forward!(zeros(n3, 3), plan, Float64.(x), Float64.(y), Float64.(w))  # eltype
        @test_throws ArgumentError tp_forward!(z, plan, view(x, :, 1:3), y, w)            # not an Array
        @test_throws ArgumentError conv_forward!(z, plan, x, y, w, Int32[0], Int32[0])    # plan kind
        conv = Plan(prob; conv=true, backend=OEQ.OEQ_BACKEND_CPU)
        @test_throws ArgumentError conv_forward!(z, conv, x, y, ones(Float32, 1), Int64[0, 1, 2], Int64[0, 1, 2])
        e = try
            conv_forward!(z, conv, x, y, w, Int32[0, 1, 2], Int32[0, 1, 9])
        catch err
            err
        end
        @test e isa OEQError && e.status == OEQ.OEQ_ERROR_INVALID_ARGUMENT && occursin("cols", e.message)
        if !backend_available(OEQ.OEQ_BACKEND_CUDA)
            @test_throws OEQError Plan(prob; backend=OEQ.OEQ_BACKEND_CUDA)
        end
    end

    @testset "symmetric contraction: central differences, refusals" begin
        p = symmetric_contraction("0e+1o+2e", "0e+1o", 3, 3, 2)
        set_dtypes!(p, Float64)
        xd, yd, zd = dims(p)
        @test xd == 2 * 9 && yd == 0 && zd == 2 * 4
        plan = Plan(p; symcon=true, backend=OEQ.OEQ_BACKEND_CPU)
        B = 4
        x = [sin(0.7i + 1.3j) for i in 1:xd, j in 1:B]
        w = [cos(0.37i) for i in 1:weight_numel(p)]
        dz = [sin(0.3i - 0.9j) for i in 1:zd, j in 1:B]
        sp = Int32[2, 0, 2, 1]
        z = fill(NaN, zd, B)
        symcon_forward!(z, plan, x, sp, w)
        @test all(isfinite, z)
        dx, dw = symcon_backward!(similar(x), similar(w), plan, x, sp, w, dz)
        loss(xx, ww) = sum(dz .* symcon_forward!(similar(z), plan, xx, sp, ww))
        h = 1e-5
        for i in 1:length(x)
            xp = copy(x); xp[i] += h
            xm = copy(x); xm[i] -= h
            @test isapprox((loss(xp, w) - loss(xm, w)) / 2h, dx[i]; atol=1e-7, rtol=1e-7)
        end
        for i in 1:length(w)
            wp = copy(w); wp[i] += h
            wm = copy(w); wm[i] -= h
            @test isapprox((loss(x, wp) - loss(x, wm)) / 2h, dw[i]; atol=1e-7, rtol=1e-7)
        end
        dx2, _ = symcon_backward!(similar(x), nothing, plan, x, sp, w, dz)
        @test dx2 == dx
        z2 = fill(NaN, zd, B)
        @test_throws OEQError symcon_forward!(z2, plan, x, Int32[2, 0, 3, 1], w)
        @test all(isnan, z2)
        @test_throws ArgumentError symcon_forward!(z2, plan, x, sp[1:3], w)
        @test_throws OEQError set_layout!(p, OEQ.OEQ_LAYOUT_IR_MUL)
        @test_throws OEQError Plan(p; backend=OEQ.OEQ_BACKEND_CPU)
        @test_throws OEQError symmetric_contraction("0e", "0e", 9, 1, 1)
    end

    @testset "finalizers" begin
        for _ in 1:200
            p = channelwise("4x0e+3x1o", "0e+1o", "0e+1o")
            Plan(p; conv=true, backend=OEQ.OEQ_BACKEND_CPU)
        end
        GC.gc(true)
        @test true
    end

    cuda_ok = try
        @eval using CUDA
        Base.invokelatest(() -> CUDA.functional())
    catch
        false
    end
    if cuda_ok && backend_available(OEQ.OEQ_BACKEND_CUDA)
        include("gpu.jl")
    else
        @info "CUDA not functional: GPU tests skipped"
    end
end
