import copy
from contextlib import contextmanager, nullcontext
from typing import Iterator, Optional, Sequence, Tuple

import torch
from mmaction.registry import MODELS
from mmdet.models.backbones import HourglassNet
from mmdet.models.backbones.resnet import BasicBlock
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint


@contextmanager
def _restored_bn_stats(module: nn.Module) -> Iterator[None]:
    """Undo the running-statistics update of every BN layer in ``module`` on exit.

    Activation checkpointing recomputes the forward in backward with BN still in train
    mode, which would update the running statistics a second time per step.
    """
    layers = [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    saved = [[buf.clone() for buf in (m.running_mean, m.running_var, m.num_batches_tracked)]
             for m in layers]
    try:
        yield
    finally:
        for layer, (mean, var, count) in zip(layers, saved):
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
            layer.num_batches_tracked.copy_(count)


class _CheckpointedBasicBlock(BasicBlock):
    """mmdet's ``BasicBlock`` with non-reentrant activation checkpointing in training.

    Blocks are switched to this class in place (see ``HourglassBackbone.with_cp``), so
    parameter names and checkpoints are unchanged. mmdet's own ``with_cp`` uses the
    reentrant checkpoint, which torch deprecates and which recomputes BN's statistics
    update.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and torch.is_grad_enabled()):
            return super().forward(x)
        return checkpoint(super().forward, x, use_reentrant=False,
                          context_fn=lambda: (nullcontext(), _restored_bn_stats(self)))


@MODELS.register_module()
class HourglassBackbone(HourglassNet):
    """Frame-wise stacked Hourglass feature extractor of Point3D (paper §3.2).

    mmdet's ``HourglassNet`` (CornerNet/CenterNet's Hourglass-104 with the defaults) run on
    every frame of a clip, with the frames folded into the batch, followed by a 1×1
    projection to the C channels that the Point Head and the Time-wise Attention share
    (paper: C = 128; Hourglass-104 outputs 256). A 256×256 frame gives a 64×64 map (R = 4).

    The parameter names are those of ``HourglassNet``, so mmdet's CornerNet Hourglass-104
    COCO checkpoint loads with ``init_cfg=dict(type='Pretrained', checkpoint=...,
    prefix='backbone.')`` (the projection stays randomly initialised).

    Args:
        out_channels (int): C of the per-frame feature map. Defaults to 128.
        with_intermediate (bool): return the features of every stack (CenterNet's
            intermediate supervision) instead of the last stack's only. Defaults to False.
        downsample_times (int): downsamplings inside each hourglass. Defaults to 5.
        num_stacks (int): stacked hourglasses. Defaults to 2.
        stage_channels (Sequence[int]): channels of the hourglass levels.
        stage_blocks (Sequence[int]): residual blocks of the hourglass levels.
        feat_channel (int): channels of each stack's output conv. Defaults to 256.
        norm_cfg (dict): normalisation layers. Defaults to BN.
        with_cp (bool): activation checkpointing of every residual block in training: only
            the blocks' inputs are kept and each block is recomputed in backward (less
            memory, about one more backbone forward of time). Outputs, gradients and BN
            running statistics are those without it. Can be switched on a built model.
            Defaults to False.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 out_channels: int = 128,
                 with_intermediate: bool = False,
                 downsample_times: int = 5,
                 num_stacks: int = 2,
                 stage_channels: Sequence[int] = (256, 256, 384, 384, 384, 512),
                 stage_blocks: Sequence[int] = (2, 2, 2, 2, 2, 4),
                 feat_channel: int = 256,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            downsample_times=downsample_times,
            num_stacks=num_stacks,
            stage_channels=stage_channels,
            stage_blocks=stage_blocks,
            feat_channel=feat_channel,
            norm_cfg=norm_cfg)
        # HourglassNet refuses init_cfg (its init_weights would reset a loaded checkpoint);
        # ours applies it after the reset, see init_weights.
        self.init_cfg = copy.deepcopy(init_cfg)
        if num_stacks == 1:
            # mmdet's ResLayer builds at least one block, so a single stack would carry an
            # unused inter-stack block: parameters without gradients (which DDP rejects).
            self.inters = nn.ModuleList()
        self.out_channels = out_channels
        self.with_cp = with_cp
        self.with_intermediate = with_intermediate
        self.proj = (nn.Identity() if feat_channel == out_channels else nn.Conv2d(
            feat_channel, out_channels, kernel_size=1))

    @property
    def with_cp(self) -> bool:
        """Whether the residual blocks are checkpointed in training."""
        return any(isinstance(m, _CheckpointedBasicBlock) for m in self.modules())

    @with_cp.setter
    def with_cp(self, enabled: bool) -> None:
        for module in self.modules():
            if isinstance(module, BasicBlock):
                module.__class__ = _CheckpointedBasicBlock if enabled else BasicBlock

    def init_weights(self) -> None:
        """mmdet's initialisation, but with ``init_cfg`` (a checkpoint) applied last.

        ``HourglassNet.init_weights`` resets every Conv2d *after* applying ``init_cfg``,
        which would throw a pretrained checkpoint away.
        """
        if not self.init_cfg:
            super().init_weights()
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()
        BaseModule.init_weights(self)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Extract per-frame features.

        Args:
            x (Tensor): frames (N, 3, H, W), or clips (B, 3, T, H, W), which are folded into
                N = B·T frames in clip-major order (frame t of clip b is row b·T + t).

        Returns:
            tuple[Tensor]: (N, C, H/4, W/4) features, one per stack with
            ``with_intermediate``, else the last stack's only.
        """
        if x.dim() == 5:
            x = x.transpose(1, 2).flatten(0, 1)
        feats = super().forward(x)
        if not self.with_intermediate:
            feats = feats[-1:]
        return tuple(self.proj(feat) for feat in feats)
