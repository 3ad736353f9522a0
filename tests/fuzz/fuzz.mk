# tests/fuzz/fuzz.mk: the sanitizer drivers .ci/test runs as their own legs
# (built by `make check`, not run by it): the fuzz driver for the irreps
# parser, builders and instruction sets (ASan + UBSan, bounded time, the
# corpus below plus the issue-14 inputs made in code), and the many-thread
# plan program for ThreadSanitizer.
check_PROGRAMS += tests/fuzz/fuzz_problem tests/tsan_plans
tests_fuzz_fuzz_problem_SOURCES = tests/fuzz/fuzz_problem.c
tests_fuzz_fuzz_problem_LDADD = liboeq_core.la -lm
tests_tsan_plans_SOURCES = tests/tsan_plans.c
tests_tsan_plans_LDADD = liboeq_core.la -lm
EXTRA_DIST += tests/fuzz/corpus
