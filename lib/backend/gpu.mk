# lib/backend/gpu.mk: GPU backends (CUDA, HIP), their code generator and tests.
liboeq_core_la_SOURCES += lib/backend/cuda_none.c lib/backend/hip_none.c
