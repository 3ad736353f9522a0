# julia/julia.mk: the Julia package OEQ. Julia is not run here: make check
# parses every .jl file (tree-sitter-julia under node, julia/tools/) and
# checks every ccall against include/oeq.h (julia/tools/check_ccalls.py).
# The node modules come from `cd julia/tools && npm ci` (see .npmrc there).
EXTRA_DIST += julia/Project.toml julia/src/OEQ.jl julia/src/abi.jl julia/ext/OEQCUDAExt.jl julia/test/runtests.jl julia/test/gpu.jl \
	julia/tools/package.json julia/tools/package-lock.json julia/tools/.npmrc \
	julia/tools/parse_check.mjs julia/tools/check_ccalls.py \
	julia/tools/test_julia_parse.sh julia/tools/test_julia_ccalls.sh
TESTS += julia/tools/test_julia_parse.sh julia/tools/test_julia_ccalls.sh
