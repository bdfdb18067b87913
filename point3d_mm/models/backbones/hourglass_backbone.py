import copy
from typing import Optional, Sequence, Tuple

from mmaction.registry import MODELS
from mmdet.models.backbones import HourglassNet
from mmengine.model import BaseModule
from torch import Tensor, nn


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
        self.with_intermediate = with_intermediate
        self.proj = (nn.Identity() if feat_channel == out_channels else nn.Conv2d(
            feat_channel, out_channels, kernel_size=1))

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
