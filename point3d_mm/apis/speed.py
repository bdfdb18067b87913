"""Opt-in speed options for a Point3D model, each checked against fp32 eager by
tests/performance/test_speed_options.py and timed by tools/analysis/benchmark.py.

* ``channels_last``: NHWC weights for the 2D convs and NDHWC for the 3D convs; oneDNN (CPU)
  and cuDNN (GPU) then run the convolutions, and pass on activations, in that layout.
* ``inference_autocast``: bf16 or fp16 autocast around inference; the parts that need fp32
  (TWA's Gram matrix, decoding, RoIAlign) already cast back.
* ``torch_compile``: ``torch.compile`` of each part in place (parameter names unchanged);
  the first calls with a new input shape pay the compilation.
* ``with_cp``: activation checkpointing of the hourglass's residual blocks, for training
  memory.
* :func:`recommended_options`: the set that pays off on the model's device (on a CPU with
  native bf16, channels_last + bf16: 2.4x at paper scale; on a CPU without it, where bf16 is
  emulated and about 10x slower, channels_last alone: 1.13x; docs/benchmarks.md).

Example::

    model = init_detector(config)
    options = recommended_options(model)
    dtype = options.pop('dtype')
    model = apply_speed_options(model, **options)
    with inference_autocast(model, dtype):
        detections = detect_frames(model, video, streaming=True)
"""
from contextlib import nullcontext
from typing import ContextManager, Optional

import torch
from torch import nn

from ..models.utils import to_channels_last

AUTOCAST_DTYPES = ('bfloat16', 'float16')
COMPILED_PARTS = ('backbone', 'point_head', 'neck', 'cls_head')


def compile_parts(model: nn.Module, **compile_kwargs) -> nn.Module:
    """``torch.compile`` the detector's parts in place.

    The parts are compiled rather than the detector, because inference calls them one by
    one (:meth:`Point3D.extract_frame_feats`, :meth:`Point3D.predict_clip_feats`) and the
    decoding between them is data dependent.

    Args:
        model: a Point3D detector.
        **compile_kwargs: arguments of :func:`torch.compile` (``mode``, ``dynamic`` ...).

    Returns:
        The same module.
    """
    for name in COMPILED_PARTS:
        part = getattr(model, name, None)
        if part is not None:
            part.compile(**compile_kwargs)
    return model


def set_activation_checkpointing(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch the hourglass backbone's activation checkpointing (``with_cp``), in place.

    Raises:
        AttributeError: the model's backbone has no ``with_cp``.
    """
    if not hasattr(model.backbone, 'with_cp'):
        raise AttributeError(f'{type(model.backbone).__name__} has no with_cp switch')
    model.backbone.with_cp = enabled
    return model


def apply_speed_options(model: nn.Module, channels_last: bool = False,
                        torch_compile: bool = False,
                        with_cp: Optional[bool] = None) -> nn.Module:
    """Apply the model-side speed options (autocast is a context: see
    :func:`inference_autocast`).

    Args:
        model: a Point3D detector.
        channels_last: see :func:`to_channels_last`.
        torch_compile: see :func:`compile_parts`.
        with_cp: see :func:`set_activation_checkpointing`; None leaves it as configured.

    Returns:
        The same module.
    """
    if channels_last:
        to_channels_last(model)
    if with_cp is not None:
        set_activation_checkpointing(model, with_cp)
    if torch_compile:
        compile_parts(model)
    return model


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX); without, bf16
    convolutions are emulated and slower than fp32 (10x measured on an AVX2 CPU)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def recommended_options(model: nn.Module) -> dict:
    """The speed options worth turning on for inference on the model's device.

    * GPU: channels_last + fp16 autocast (tensor cores from the V100 on);
    * CPU with native bf16 (:func:`cpu_has_native_bf16`): channels_last + bf16 autocast
      (2.4x at paper scale on an AVX512-BF16 CPU: docs/benchmarks.md);
    * another CPU (AVX2): channels_last alone (1.13x at paper scale): bf16 is emulated
      there, about 10x slower than fp32.

    The precision options keep the detections within the tolerances of
    tests/performance/test_speed_options.py. torch.compile is left out: it did not pay off
    on CPU and compiles for minutes.

    Returns:
        dict: ``channels_last`` and ``dtype`` (pop ``dtype`` for :func:`inference_autocast`,
        pass the rest to :func:`apply_speed_options`).
    """
    if next(model.parameters()).device.type == 'cuda':
        return dict(channels_last=True, dtype='float16')
    return dict(channels_last=True, dtype='bfloat16' if cpu_has_native_bf16() else None)


def inference_autocast(model: nn.Module,
                       dtype: Optional[str] = 'bfloat16') -> ContextManager:
    """Autocast context for inference on the model's device.

    Args:
        model: the model (its parameters tell the device type).
        dtype: 'bfloat16', 'float16' (meant for GPUs: CPUs seldom have fast fp16) or None
            (no autocast).

    Returns:
        A context manager.

    Raises:
        ValueError: an unknown dtype.
    """
    if dtype is None:
        return nullcontext()
    if dtype not in AUTOCAST_DTYPES:
        raise ValueError(f'autocast dtype must be one of {AUTOCAST_DTYPES}, got {dtype!r}')
    device_type = next(model.parameters()).device.type
    return torch.autocast(device_type, dtype=getattr(torch, dtype))
