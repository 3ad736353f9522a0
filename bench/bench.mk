# bench/bench.mk: the C benchmark of the CUDA tensor product. It reaches the
# driver through oeq's dlopen table, so it builds everywhere and says so
# when no GPU is present.
noinst_PROGRAMS += bench/bench_tp
bench_bench_tp_SOURCES = bench/bench_tp.c bench/bench_latency.h
bench_bench_tp_LDADD = liboeq_core.la -lm
bench_bench_tp_LDFLAGS = $(OPENMP_CFLAGS)

# The e3nn side-by-side harness (Python, PyTorch + e3nn, on a GPU machine)
# and the log of every measurement.
EXTRA_DIST += bench/e3nn_compare.py bench/binding_overhead.py bench/NOTES.md \
	bench/double_backward_compare.py bench/symcon_compare.py bench/variant.sh

# The fused convolution benchmark (bench/NOTES.md has its runs).
noinst_PROGRAMS += bench/bench_conv
bench_bench_conv_SOURCES = bench/bench_conv.c bench/bench_latency.h bench/bench_graphs.c bench/bench_graphs.h
bench_bench_conv_LDADD = liboeq_core.la -lm
bench_bench_conv_LDFLAGS = $(OPENMP_CFLAGS)

# Generated-kernel resources (registers, spills) per anchor, via NVRTC:
# a developer's tool, no GPU needed.
noinst_PROGRAMS += bench/kernel_info
bench_kernel_info_SOURCES = bench/kernel_info.c
bench_kernel_info_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/tests
bench_kernel_info_LDADD = liboeq_core.la -lm
bench_kernel_info_LDFLAGS = $(OPENMP_CFLAGS)

# The symmetric contraction's generated kernels, checked against the CPU and
# timed (MACE-large's product basis) through the driver table directly.
noinst_PROGRAMS += bench/bench_symcon
bench_bench_symcon_SOURCES = bench/bench_symcon.c
bench_bench_symcon_LDADD = liboeq_core.la -lm
bench_bench_symcon_LDFLAGS = $(OPENMP_CFLAGS)

# The conv backward's DRAM traffic per edge schedule through a model of the
# L2 (bench/NOTES.md, session 10): a developer's tool, no GPU needed.
noinst_PROGRAMS += bench/conv_l2_model
bench_conv_l2_model_SOURCES = bench/conv_l2_model.c bench/bench_graphs.c bench/bench_graphs.h
bench_conv_l2_model_LDADD = liboeq_core.la -lm
bench_conv_l2_model_LDFLAGS = $(OPENMP_CFLAGS)
