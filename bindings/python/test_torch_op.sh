#!/bin/sh
# test_torch_op.sh: test_torch_op.py (the oeq_torch custom ops and
# modules); skips without torch, its CUDA cases without a device.
exec sh "$(dirname "$0")/run_with_torch.sh" test_torch_op.py
