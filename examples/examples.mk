# examples/examples.mk: programs a user copies from. mace_demo is the main
# job of the README.
noinst_PROGRAMS += examples/mace_demo examples/simple_tp
examples_mace_demo_SOURCES = examples/mace_demo.c
examples_mace_demo_LDADD = liboeq.la
examples_simple_tp_SOURCES = examples/simple_tp.c
examples_simple_tp_LDADD = liboeq.la -lm
