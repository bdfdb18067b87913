"""The CUDA subset (``pytest -m cuda``, run on the GPU machine by tools/device/gpu_check.py):
each test skips with a reason where torch sees no CUDA device.

The tests reuse the CPU tests' helpers and bodies (streaming, the cached test loop), so the
CUDA paths are held to the same tolerances: their folders go on the import path.
"""
import os.path as osp
import sys

import pytest
import torch

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
for folder in ('performance', 'engine'):
    if osp.join(TESTS, folder) not in sys.path:
        sys.path.insert(0, osp.join(TESTS, folder))


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
