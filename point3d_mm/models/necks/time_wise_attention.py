import math
from typing import Optional, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

#: The ways of scaling the Gram logits (see :class:`TimeWiseAttention`).
SCALES = ('sqrt_d', 'l2_temperature', None)


def attention_matrix(feats: Tensor, scale: Optional[str] = None,
                     temperature: Union[float, Tensor, None] = None) -> Tensor:
    """The time-wise attention M of each clip (paper §3.4), in fp32.

    Args:
        feats (Tensor): (B, T, ...) features of each clip's T frames (e.g. (B, T, C, H, W)),
            flattened to F̃ ∈ (B, T, D).
        scale (str, optional): None (the raw Gram matrix, as the paper writes it; the
            default), 'sqrt_d' (G / sqrt(D)) or 'l2_temperature' (cosine similarities of
            the L2-normalised rows of F̃ times ``temperature``).
        temperature (float | Tensor, optional): the multiplier of the cosine logits with
            'l2_temperature' (1 if None); unused otherwise.

    Returns:
        Tensor: M, (B, T, T) float32; each row sums to 1.
    """
    if scale not in SCALES:
        raise ValueError(f'scale must be one of {SCALES}, got {scale!r}')
    # In fp32 even under autocast: Gram entries are sums of C·H·W products, which overflow
    # fp16 and lose the logits' differences in bf16.
    with torch.autocast(feats.device.type, enabled=False):
        return _attention_of_rows(feats.flatten(2).float(), scale, temperature)


def _attention_of_rows(flat: Tensor, scale: Optional[str],
                       temperature: Union[float, Tensor, None]) -> Tensor:
    """M from F̃ (B, T, D) float32 (see :func:`attention_matrix`). TWA passes the F̃ it
    mixes, so that the backward runs through one F̃ node, as one formula would."""
    if scale == 'l2_temperature':
        unit = nn.functional.normalize(flat, dim=-1)
        gram = unit @ unit.transpose(1, 2)
        if temperature is not None:
            gram = gram * temperature
    else:
        gram = flat @ flat.transpose(1, 2)  # G: (B, T, T)
        if scale == 'sqrt_d':
            gram = gram / math.sqrt(flat.shape[-1])
    return gram.softmax(dim=-1)


@MODELS.register_module()
class TimeWiseAttention(BaseModule):
    """Time-wise Attention (TWA) of Point3D (paper §3.4).

    For every clip, with its frame features stacked as F ∈ T×C×H×W::

        F̃ = reshape(F) ∈ T×(C·H·W)
        G = F̃ F̃ᵀ                      (T×T Gram matrix; divided by sqrt(C·H·W) if scaled)
        M = softmax(G) over the last dim   (:func:`attention_matrix`)
        S = M F̃, reshaped to T×C×H×W
        Y = S + F

    ``scale=None`` (the default) is the paper's formula as written: chosen on validation
    videos by the ablation grid, where it and ``'sqrt_d'`` differ by less than their spread
    over seeds and ``'l2_temperature'`` did worse (docs/paper.md, "Time-wise attention: which
    formula"). The raw Gram logits grow with C·H·W (≈ 5e5 at paper scale), which can saturate
    the softmax into a one-hot (each frame attends only to itself or to the frame of largest
    norm); ``scale='sqrt_d'`` divides them by sqrt(C·H·W), as in scaled dot-product
    attention. ``scale='l2_temperature'``
    uses the cosine similarities of the frames (L2-normalised rows of F̃) times a learned
    temperature ``exp(log_temperature)``, initialised to ``init_temperature``: logits in
    [-τ, τ] whatever the feature norms, so M starts far from a one-hot (the only variant with
    a parameter).

    Args:
        layout (str): 'BCTHW' (mmaction2's 3D layout, the default) or 'BTCHW'.
        scale (str, optional): None, 'sqrt_d' or 'l2_temperature'. Defaults to None.
        init_temperature (float): τ at initialisation with 'l2_temperature'. Defaults to 1.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 layout: str = 'BCTHW',
                 scale: Optional[str] = None,
                 init_temperature: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if layout not in ('BCTHW', 'BTCHW'):
            raise ValueError(f"layout must be 'BCTHW' or 'BTCHW', got {layout!r}")
        if scale not in SCALES:
            raise ValueError(f'scale must be one of {SCALES}, got {scale!r}')
        self.layout = layout
        self.scale = scale
        if scale == 'l2_temperature':
            if init_temperature <= 0:
                raise ValueError(f'init_temperature must be > 0, got {init_temperature}')
            self.log_temperature = nn.Parameter(torch.tensor(math.log(init_temperature)))

    def temperature(self) -> Optional[Tensor]:
        """τ with 'l2_temperature', else None."""
        return self.log_temperature.exp() if self.scale == 'l2_temperature' else None

    def frames_of(self, x: Tensor) -> Tensor:
        """(B, T, C, H, W) view of a feature map in this module's layout."""
        return x.transpose(1, 2) if self.layout == 'BCTHW' else x

    def attention(self, x: Tensor) -> Tensor:
        """M of a feature map in this module's layout: (B, T, T)."""
        return attention_matrix(self.frames_of(x), self.scale, self.temperature())

    def attend(self, x: Tensor) -> Tensor:
        """Apply TWA to one feature map.

        Args:
            x (Tensor): (B, C, T, H, W) with layout 'BCTHW', (B, T, C, H, W) with 'BTCHW'.

        Returns:
            Tensor: Y, same shape and layout as ``x``.
        """
        frames = self.frames_of(x)  # (B, T, C, H, W)
        with torch.autocast(x.device.type, enabled=False):  # fp32: see attention_matrix
            flat = frames.flatten(2).float()  # F̃: (B, T, C·H·W)
            attention = _attention_of_rows(flat, self.scale, self.temperature())  # M
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
