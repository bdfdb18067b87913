"""The CUDA subset (``pytest -m cuda``, run on the GPU machine by tools/device/gpu_check.py):
each test skips with a reason where torch sees no CUDA device.

The tests reuse the CPU tests' helpers and bodies (streaming, the cached test loop), so the
CUDA paths are held to the same tolerances: their folders go on the import path.
"""
import os
import os.path as osp
import sys

import pytest
import torch

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
for folder in ('performance', 'engine'):
    if osp.join(TESTS, folder) not in sys.path:
        sys.path.insert(0, osp.join(TESTS, folder))

# Deterministic cuBLAS (matmuls, the linear layers) needs this workspace setting before its
# first call in the process; torch refuses deterministic mode on cuBLAS without it.
os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')


@pytest.fixture(scope='module', autouse=True)
def cuda_fp32():
    """Skip without CUDA (module scope: before any module fixture builds data); else exact
    fp32 (no TF32 convolutions or matmuls), as the CPU tolerances assume, restored after."""
    if not torch.cuda.is_available():
        pytest.skip('no CUDA device: the CUDA subset runs on the GPU machine '
                    '(tools/device/gpu_check.py)')
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture
def deterministic_cuda():
    """Deterministic CUDA kernels for the equality tests, restored after: cuDNN picks the same
    deterministic convolution algorithm on every run (no benchmarking, which may pick another
    one from one run to the next) and torch uses deterministic kernels, raising instead of
    running an op that has none. A comparison made under it gives the same numbers on every
    run of the same machine and software: it passes or fails, it cannot flake."""
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:]
