import math
from typing import Optional, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor


@MODELS.register_module()
class TimeWiseAttention(BaseModule):
    """Time-wise Attention (TWA) of Point3D (paper §3.4), parameter-free.

    For every clip, with its frame features stacked as F ∈ T×C×H×W::

        F̃ = reshape(F) ∈ T×(C·H·W)
        G = F̃ F̃ᵀ                      (T×T Gram matrix; divided by sqrt(C·H·W) if scaled)
        M = softmax(G) over the last dim
        S = M F̃, reshaped to T×C×H×W
        Y = S + F

    The raw Gram logits grow with C·H·W (≈ 5e5 at paper scale), which saturates the softmax
    into a one-hot (each frame attends only to itself or to the frame of largest norm);
    ``scale='sqrt_d'`` (the default) divides them by sqrt(C·H·W), as in scaled dot-product
    attention. ``scale=None`` is the paper's formula as written.

    Args:
        layout (str): 'BCTHW' (mmaction2's 3D layout, the default) or 'BTCHW'.
        scale (str, optional): 'sqrt_d' or None. Defaults to 'sqrt_d'.
        init_cfg (dict, optional): initialisation config (TWA has no parameters).
    """

    def __init__(self,
                 layout: str = 'BCTHW',
                 scale: Optional[str] = 'sqrt_d',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if layout not in ('BCTHW', 'BTCHW'):
            raise ValueError(f"layout must be 'BCTHW' or 'BTCHW', got {layout!r}")
        if scale not in ('sqrt_d', None):
            raise ValueError(f"scale must be 'sqrt_d' or None, got {scale!r}")
        self.layout = layout
        self.scale = scale

    def attend(self, x: Tensor) -> Tensor:
        """Apply TWA to one feature map.

        Args:
            x (Tensor): (B, C, T, H, W) with layout 'BCTHW', (B, T, C, H, W) with 'BTCHW'.

        Returns:
            Tensor: Y, same shape and layout as ``x``.
        """
        frames = x.transpose(1, 2) if self.layout == 'BCTHW' else x  # (B, T, C, H, W)
        # In fp32 even under autocast: Gram entries are sums of C·H·W products, which
        # overflow fp16 and lose the logits' differences in bf16.
        with torch.autocast(x.device.type, enabled=False):
            flat = frames.flatten(2).float()  # F̃: (B, T, C·H·W)
            gram = flat @ flat.transpose(1, 2)  # G: (B, T, T)
            if self.scale == 'sqrt_d':
                gram = gram / math.sqrt(flat.shape[-1])
            attention = gram.softmax(dim=-1)  # M
            out = (attention @ flat).view_as(frames) + frames.float()  # Y = S + F
        out = out.to(x.dtype)
        return out.transpose(1, 2) if self.layout == 'BCTHW' else out

    def forward(self, x: Union[Tensor, Tuple[Tensor, ...]]) -> Union[Tensor, Tuple[Tensor, ...]]:
        """Apply TWA to a feature map, or to each map of a tuple (as an mmdet/mmaction neck).

        Args:
            x (Tensor | tuple[Tensor]): see :meth:`attend`.

        Returns:
            Tensor | tuple[Tensor]: Y, of the same kind as ``x``.
        """
        if isinstance(x, tuple):
            return tuple(self.attend(feat) for feat in x)
        return self.attend(x)
