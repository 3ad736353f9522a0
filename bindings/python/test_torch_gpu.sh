#!/bin/sh
# test_torch_gpu.sh: test_torch_gpu.py (the binding with PyTorch CUDA
# tensors); skips without torch, and the script itself without a device.
exec sh "$(dirname "$0")/run_with_torch.sh" test_torch_gpu.py
