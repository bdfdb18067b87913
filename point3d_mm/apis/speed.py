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

Example::

    model = apply_speed_options(init_detector(config), channels_last=True)
    with inference_autocast(model, 'bfloat16'):
        detections = detect_frames(model, video, streaming=True)
"""
from contextlib import nullcontext
from typing import ContextManager, Optional

import torch
from torch import nn

AUTOCAST_DTYPES = ('bfloat16', 'float16')
COMPILED_PARTS = ('backbone', 'point_head', 'neck', 'cls_head')


def to_channels_last(model: nn.Module) -> nn.Module:
    """Put every conv weight into the channels-last layout, in place.

    A conv with a channels-last weight also produces channels-last activations, so the
    layout spreads through the network without converting the input.

    Args:
        model: any module.

    Returns:
        The same module.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.to(memory_format=torch.channels_last)
        elif isinstance(module, nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
    return model


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
