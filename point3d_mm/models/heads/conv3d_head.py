from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmcv.cnn import ConvModule
from mmcv.ops import roi_align
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils import group_actor_rows


@MODELS.register_module()
class Conv3DHead(BaseModule):
    """3D Head of Point3D (paper §3.5): 3D CNN backbone, 2 conv layers and 1 FC.

    Takes Y, the TWA output, as (B, C, T, h, w) and classifies either the clip
    (``pool='clip'``: global average pooling, one label per clip, softmax cross-entropy as in
    the paper; JHMDB, UCF101-24) or every actor of the key frame (``pool='roi'``: the feature
    map averaged over time, RoIAlign on the actor boxes, mean over the RoI; with
    ``multilabel=True`` sigmoid BCE, for AVA).

    Args:
        num_classes (int): number of action classes K.
        in_channels (int): C of Y. Defaults to 128.
        backbone (dict, optional): any mmaction2 3D backbone config (``ResNet3d``,
            ``ResNet3dSlowOnly``, ``X3D``, ``ResNet3dCSN`` ...). Its ``in_channels`` is set
            to ``in_channels``. None: no backbone (a 2D head on Y, see ``FrameClsHead``).
        backbone_channels (int, optional): output channels of the backbone; read from its
            ``feat_dim`` when None.
        conv_channels (int): channels of the 2 conv layers. Defaults to 512.
        conv_kernel (Sequence[int]): (t, h, w) kernel of the conv layers. Defaults to 3×3×3.
        pool (str): 'clip' or 'roi'. Defaults to 'clip'.
        multilabel (bool): sigmoid scores (AVA) instead of softmax. Defaults to False.
        roi_output_size (int): RoIAlign output size. Defaults to 7.
        dropout_ratio (float): dropout before the FC. Defaults to 0.5.
        loss_cls (dict): classification loss; mmaction2's ``CrossEntropyLoss`` (the paper's)
            by default; use ``BCELossWithLogits`` with ``multilabel``.
        init_cfg (dict, optional): initialisation config. A whole mmaction2 recognizer
            checkpoint loads into the backbone with ``dict(type='Pretrained',
            checkpoint=URL)`` (its ``backbone.*`` keys match; a stem whose input channels
            differ from the checkpoint's is skipped with a warning).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int = 128,
                 backbone: Optional[dict] = dict(
                     type='ResNet3d', depth=50, pretrained=None, pretrained2d=False,
                     conv1_kernel=(3, 3, 3), conv1_stride_s=1, pool1_stride_s=1),
                 backbone_channels: Optional[int] = None,
                 conv_channels: int = 512,
                 conv_kernel: Sequence[int] = (3, 3, 3),
                 pool: str = 'clip',
                 multilabel: bool = False,
                 roi_output_size: int = 7,
                 dropout_ratio: float = 0.5,
                 loss_cls: dict = dict(type='CrossEntropyLoss'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if pool not in ('clip', 'roi'):
            raise ValueError(f"pool must be 'clip' or 'roi', got {pool!r}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.pool = pool
        self.multilabel = multilabel
        self.roi_output_size = roi_output_size
        self.backbone, feat_channels = self._build_backbone(backbone, backbone_channels)
        self.convs = nn.Sequential(*[
            ConvModule(
                feat_channels if i == 0 else conv_channels,
                conv_channels,
                kernel_size=tuple(conv_kernel),
                padding=tuple(k // 2 for k in conv_kernel),
                conv_cfg=dict(type='Conv3d'),
                norm_cfg=dict(type='BN3d'),
                act_cfg=dict(type='ReLU', inplace=True)) for i in range(2)
        ])
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.fc_cls = nn.Linear(conv_channels, num_classes)
        self.loss_cls = MODELS.build(loss_cls)

    def _build_backbone(self, cfg: Optional[dict],
                        channels: Optional[int]) -> Tuple[nn.Module, int]:
        """Build the 3D backbone with Y's channels as its input; return it and its width."""
        if cfg is None:
            return nn.Identity(), self.in_channels
        cfg = dict(cfg)
        if cfg.setdefault('in_channels', self.in_channels) != self.in_channels:
            raise ValueError(f'the 3D backbone takes in_channels={cfg["in_channels"]}, but Y '
                             f'has {self.in_channels} channels')
        backbone = MODELS.build(cfg)
        channels = channels or getattr(backbone, 'feat_dim', None)
        if channels is None:
            raise ValueError(f'{type(backbone).__name__} has no feat_dim: set '
                             'backbone_channels')
        return backbone, channels

    def forward(self, y: Tensor) -> Tensor:
        """Backbone and conv layers.

        Args:
            y (Tensor): (B, C, T, h, w).

        Returns:
            Tensor: (B, conv_channels, T', h', w') features.
        """
        if y.device.type == 'cpu' and torch.is_grad_enabled() and torch.is_autocast_enabled('cpu'):
            # fp32 when training under CPU autocast: oneDNN 3.12's bf16 Conv3d weight-gradient
            # kernels (the AMX brgconv_bwd_w and the AVX-512 one) return inf/NaN or wrong
            # weight gradients for some shapes, e.g. ResNet3d-50's 128->64 3x3x3 stem and
            # 64->256 1x1x1 convs on (1, C, 4, 32, 32) clips (up to 3.4e38 where fp32 gives
            # 2.3), while the outputs and input gradients are right. Not a range problem, so
            # scaling cannot help; on CPU the 3D head is about as fast in fp32 as in bf16.
            # CUDA (cuDNN) and inference keep autocast.
            with torch.autocast('cpu', enabled=False):
                return self._forward(y.float())
        return self._forward(y)

    def _forward(self, y: Tensor) -> Tensor:
        feats = self.backbone(y)
        if isinstance(feats, tuple):
            feats = feats[-1]
        return self.convs(feats)

    def pool_features(self, feats: Tensor, rois: Tensor, frame_inds: Tensor,
                      batch_input_shape: Tuple[int, int]) -> Tensor:
        """One feature vector per target.

        Args:
            feats (Tensor): (B, C', T', h', w') from :meth:`forward`.
            rois (Tensor): (R, 5) sample index and box x1 y1 x2 y2 in input pixels (the box is
                unused with ``pool='clip'``).
            frame_inds (Tensor): (R,) frame of each target (unused here: the 3D features
                are pooled over time).
            batch_input_shape (tuple[int, int]): (H, W) of the network input.

        Returns:
            Tensor: (R, C').
        """
        if self.pool == 'clip':
            return feats.mean(dim=(2, 3, 4))[rois[:, 0].long()]
        return self._roi_pool(feats.mean(dim=2), rois, batch_input_shape)

    def _roi_pool(self, maps: Tensor, rois: Tensor, batch_input_shape: Tuple[int, int]) -> Tensor:
        """Mean of the RoIAlign features of boxes in input pixels on (n, C', h', w') maps."""
        if len(rois) == 0:
            return maps.new_zeros(0, maps.shape[1])
        spatial_scale = maps.shape[-1] / batch_input_shape[1]
        # fp32: mmcv's CPU RoIAlign has no bf16 kernel (autocast on CPU)
        rois = rois.float()
        # A decoded box can be inverted (a negative width or height: the shape regression is
        # only supervised at actor centres, and test decoding keeps the top-k peaks), which
        # mmcv's RoIAlign refuses with an assertion; pool the box it spans instead.
        corners = rois[:, 1:].view(-1, 2, 2)
        rois = torch.cat([rois[:, :1], corners.amin(dim=1), corners.amax(dim=1)], dim=1)
        pooled = roi_align(maps.float(), rois, self.roi_output_size, spatial_scale, 0,
                           'avg', True)
        return pooled.mean(dim=(2, 3))

    def classify(self, feats: Tensor, rois: Tensor, frame_inds: Tensor,
                 batch_input_shape: Tuple[int, int]) -> Tensor:
        """Class logits (R, K) of the targets: pooling, dropout and FC on the features of
        :meth:`forward`; other arguments as in :meth:`pool_features`."""
        pooled = self.pool_features(feats, rois, frame_inds, batch_input_shape)
        return self.fc_cls(self.dropout(pooled))

    def get_targets(self, batch_data_samples: List[ActionDataSample],
                    num_frames: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Training targets: one per clip (``pool='clip'``, label ``gt_label``) or one per
        actor of the key frame (``pool='roi'``, its boxes and labels).

        Args:
            batch_data_samples (list[ActionDataSample]): the clips (docs/interfaces.md).
            num_frames (int): temporal length of the features (used by ``FrameClsHead``).

        Returns:
            tuple[Tensor, Tensor, Tensor]: rois (R, 5), frame_inds (R,) and labels: (R,)
            class indices, or (R, K) multi-hot with ``multilabel``.
        """
        if self.pool == 'clip':
            device = batch_data_samples[0].gt_label.device
            labels = torch.cat([sample.gt_label.view(1) for sample in batch_data_samples])
            rois = torch.zeros(len(batch_data_samples), 5, device=device)
            rois[:, 0] = torch.arange(len(batch_data_samples), device=device)
            frame_inds = labels.new_tensor(
                [sample.metainfo['key_frame_index'] for sample in batch_data_samples])
            return rois, frame_inds, labels
        targets = [self._key_frame_actors(i, sample)
                   for i, sample in enumerate(batch_data_samples)]
        return tuple(torch.cat(parts) for parts in zip(*targets))

    def _key_frame_actors(self, sample_ind: int,
                          sample: ActionDataSample) -> Tuple[Tensor, Tensor, Tensor]:
        """RoIs, frame indices and labels of the actors in one clip's key frame."""
        gt = sample.gt_instances
        key = sample.metainfo['key_frame_index']
        rows = (gt.frame_inds == key).nonzero().squeeze(1)
        first_rows, row_actor = group_actor_rows(gt.frame_inds[rows], gt.track_ids[rows])
        boxes = gt.bboxes[rows[first_rows]].float()
        rois = torch.cat([boxes.new_full((len(boxes), 1), sample_ind), boxes], dim=1)
        frame_inds = gt.frame_inds.new_full((len(boxes), ), key)
        labels = gt.labels[rows]
        if labels.dim() == 2:  # multi-hot rows (mmaction2's AVA packing)
            if not self.multilabel:
                raise ValueError('multi-hot gt labels need multilabel=True')
            multi_hot = labels.new_zeros(len(boxes), labels.shape[1]).index_add_(
                0, row_actor, labels.float())
            return rois, frame_inds, multi_hot.clamp(max=1)
        if not self.multilabel:
            return rois, frame_inds, labels[first_rows]
        multi_hot = boxes.new_zeros(len(boxes), self.num_classes)
        multi_hot[row_actor, labels] = 1
        return rois, frame_inds, multi_hot

    def loss(self, y: Tensor, batch_data_samples: List[ActionDataSample],
             batch_input_shape: Tuple[int, int]) -> Dict[str, Tensor]:
        """Forward and :meth:`loss_by_feat`; ``y`` (B, C, T, h, w)."""
        return self.loss_by_feat(self(y), batch_data_samples, batch_input_shape)

    def loss_by_feat(self, feats: Tensor, batch_data_samples: List[ActionDataSample],
                     batch_input_shape: Tuple[int, int]) -> Dict[str, Tensor]:
        """Classification loss.

        Args:
            feats (Tensor): (B, C', T', h', w') from :meth:`forward`.
            batch_data_samples (list[ActionDataSample]): the clips.
            batch_input_shape (tuple[int, int]): (H, W) of the network input.

        Returns:
            dict[str, Tensor]: ``loss_cls``.
        """
        rois, frame_inds, labels = self.get_targets(batch_data_samples, feats.shape[2])
        logits = self.classify(feats, rois, frame_inds, batch_input_shape)
        if len(logits) == 0:
            # No actor in any key frame: a zero loss that still reaches every parameter, as
            # DDP expects.
            return dict(loss_cls=feats.sum() * 0 + logits.sum())
        return dict(loss_cls=self.loss_cls(logits, labels))

    def predict(self, y: Tensor, rois: Tensor, frame_inds: Tensor,
                batch_input_shape: Tuple[int, int]) -> Tensor:
        """Forward and :meth:`predict_by_feat`; ``y`` (B, C, T, h, w)."""
        return self.predict_by_feat(self(y), rois, frame_inds, batch_input_shape)

    def predict_by_feat(self, feats: Tensor, rois: Tensor, frame_inds: Tensor,
                        batch_input_shape: Tuple[int, int]) -> Tensor:
        """Class probabilities (R, K) of detections, one row per detected box (its clip, box
        and frame); arguments as in :meth:`pool_features`."""
        logits = self.classify(feats, rois, frame_inds, batch_input_shape).float()
        return logits.sigmoid() if self.multilabel else logits.softmax(dim=-1)


@MODELS.register_module()
class FrameClsHead(Conv3DHead):
    """Per-frame 2D classifier: Point3D without its 3D Head (rows of the paper's Table 3).

    The same 2 conv layers + FC on Y without a 3D backbone and with 1×3×3 kernels, so that
    every frame is classified from its own features (with TWA on, Y already mixes the
    frames). ``pool='clip'`` trains every frame on the clip's label and scores a detection
    with its own frame's probabilities; ``pool='roi'`` pools each actor box on its frame.

    Args:
        num_classes (int): number of action classes K.
        in_channels (int): C of Y. Defaults to 128.
        conv_channels (int): channels of the 2 conv layers. Defaults to 256.
        **kwargs: other :class:`Conv3DHead` arguments.
    """

    def __init__(self, num_classes: int, in_channels: int = 128, conv_channels: int = 256,
                 **kwargs) -> None:
        super().__init__(
            num_classes,
            in_channels=in_channels,
            backbone=None,
            conv_channels=conv_channels,
            conv_kernel=(1, 3, 3),
            **kwargs)

    def pool_features(self, feats: Tensor, rois: Tensor, frame_inds: Tensor,
                      batch_input_shape: Tuple[int, int]) -> Tensor:
        """As :meth:`Conv3DHead.pool_features`, on each target's own frame."""
        clip_len = feats.shape[2]
        frames = feats.transpose(1, 2).flatten(0, 1)  # (B·T, C', h, w)
        frame_rows = rois[:, 0].long() * clip_len + frame_inds.long()
        if self.pool == 'clip':
            return frames.mean(dim=(2, 3))[frame_rows]
        return self._roi_pool(frames, torch.cat([frame_rows[:, None].to(rois), rois[:, 1:]], 1),
                              batch_input_shape)

    def get_targets(self, batch_data_samples: List[ActionDataSample],
                    num_frames: int) -> Tuple[Tensor, Tensor, Tensor]:
        """As :meth:`Conv3DHead.get_targets`, but with ``pool='clip'`` every frame of a clip
        is a target with the clip's label."""
        rois, frame_inds, labels = super().get_targets(batch_data_samples, num_frames)
        if self.pool == 'roi':
            return rois, frame_inds, labels
        frame_inds = torch.arange(num_frames, device=labels.device).repeat(len(labels))
        return (rois.repeat_interleave(num_frames, dim=0), frame_inds,
                labels.repeat_interleave(num_frames))
