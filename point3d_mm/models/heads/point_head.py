from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmaction.registry import MODELS
from mmdet.models.utils import (
    get_local_maximum,
    get_topk_from_heatmap,
    multi_apply,
    transpose_and_gather_feat,
)
from mmengine.dist import all_reduce
from mmengine.model import BaseModule, bias_init_with_prob, normal_init
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ...structures.geometry import box_knots
from ..utils import draw_heatmaps, gaussian_radius

PointOutputs = Tuple[List[Optional[Tensor]], ...]


@MODELS.register_module()
class PointHead(BaseModule):
    """Point Head of Point3D (paper §3.3): class-agnostic CenterNet-style actor detector.

    Applied to every frame's features (N = B·T frames folded into the batch). Two detectors:

    * CP (centre point): a 1-channel centre heatmap (Gaussian targets, CenterNet focal loss
      α=2, β=4), the 2-channel box shape (w, h) and the 2-channel sub-pixel centre offset, both
      regressed (L1) at the centre pixel only; λ = 1, 0.1, 1.
    * KP (knot points, ``with_kp``): K knot heatmaps, 2K centre→knot distances regressed at
      the centre pixel, and a 2-channel knot offset regressed at each knot's pixel; λ = 1 each.
      The K knot losses are summed (each normalised by the number of actors, as the CP ones).

    All regression targets are in heatmap pixels. Decoding takes 3×3 max-pool peaks and the
    top-k centres, builds each box from shape + offset, snaps each regressed knot to the
    nearest peak of its knot heatmap (as CenterNet's multi-pose decoding does) and fuses the
    CP box with the knot box, weighted by the centre score and the mean knot peak score
    (``test_cfg.fuse_knots``).

    The knot box: a box is not the extent of its knots when they are joints (the head's top
    lies above the head joint, a hand's tip beyond the wrist), so each side of the knots'
    extent (x1, y1, x2, y2) moves outwards by a margin affine in the extent's width w and
    height h, ``m_s = a_s·w + b_s·h + c_s`` (heatmap pixels). Its 12 coefficients are the
    least-squares fit over the training ground truth: every actor whose knots are all
    visible and whose box keeps one heatmap pixel clear of the input border (a box clipped
    by the frame or a crop is not its actor's extent). Training accumulates the fit's
    normal equations in two buffers saved with the checkpoint, ``knot_box_gram`` (FᵀF, 3×3,
    rows F = (w, h, 1)) and ``knot_box_cross`` (FᵀM, 3×4, M the four margins), summed over
    processes; :meth:`knot_box_coefficients` solves them. Before any training step the
    margins are 0, and for the box's edge midpoints (the knots of data without joints) the
    extent is the box, so the fit is exactly 0 and the knot box is the knots' extent.

    Args:
        in_channels (int): C of the input features. Defaults to 128.
        feat_channels (int): channels of the 3×3 conv of every branch. Defaults to 128.
        num_knots (int): K. Defaults to 4.
        with_kp (bool): build the KP detector. Defaults to True.
        loss_center_heatmap, loss_wh, loss_offset, loss_knot_heatmap, loss_knot_dist,
            loss_knot_offset (dict): loss configs (mmdet's GaussianFocalLoss and L1Loss with
            the paper's weights by default).
        loss_stack_reduction (str): 'sum' (the default: each stack's losses are returned and
            summed, so a 2-stack hourglass counts them twice) or 'mean' (each stack's losses
            divided by the number of stacks, as CenterNet's hourglass training averages them).
        train_cfg (dict, optional): ``min_overlap`` of the Gaussian radius (CenterNet: 0.7).
        test_cfg (dict, optional): ``topk`` centres per frame (100),
            ``local_maximum_kernel`` (3), ``knot_topk`` peaks per knot heatmap (20),
            ``knot_score_thr`` (0.1) and ``knot_snap_ratio`` (0.3: largest snapping distance
            as a fraction of the box's longer side), ``fuse_knots`` (True: fuse the CP box
            with the knot box).
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 in_channels: int = 128,
                 feat_channels: int = 128,
                 num_knots: int = 4,
                 with_kp: bool = True,
                 loss_center_heatmap: dict = dict(
                     type='mmdet.GaussianFocalLoss', alpha=2.0, gamma=4.0, loss_weight=1.0),
                 loss_wh: dict = dict(type='mmdet.L1Loss', loss_weight=0.1),
                 loss_offset: dict = dict(type='mmdet.L1Loss', loss_weight=1.0),
                 loss_knot_heatmap: dict = dict(
                     type='mmdet.GaussianFocalLoss', alpha=2.0, gamma=4.0, loss_weight=1.0),
                 loss_knot_dist: dict = dict(type='mmdet.L1Loss', loss_weight=1.0),
                 loss_knot_offset: dict = dict(type='mmdet.L1Loss', loss_weight=1.0),
                 loss_stack_reduction: str = 'sum',
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.num_knots = num_knots
        self.with_kp = with_kp
        if loss_stack_reduction not in ('sum', 'mean'):
            raise ValueError("loss_stack_reduction must be 'sum' or 'mean', got "
                             f'{loss_stack_reduction!r}')
        self.loss_stack_reduction = loss_stack_reduction
        self.train_cfg = {**dict(min_overlap=0.7), **(train_cfg or {})}
        self.test_cfg = {
            **dict(topk=100, local_maximum_kernel=3, knot_topk=20, knot_score_thr=0.1,
                   knot_snap_ratio=0.3, fuse_knots=True),
            **(test_cfg or {})
        }

        self.heatmap_head = self._build_branch(1)
        self.wh_head = self._build_branch(2)
        self.offset_head = self._build_branch(2)
        self.loss_center_heatmap = MODELS.build(loss_center_heatmap)
        self.loss_wh = MODELS.build(loss_wh)
        self.loss_offset = MODELS.build(loss_offset)
        if with_kp:
            self.knot_heatmap_head = self._build_branch(num_knots)
            self.knot_dist_head = self._build_branch(2 * num_knots)
            self.knot_offset_head = self._build_branch(2)
            self.loss_knot_heatmap = MODELS.build(loss_knot_heatmap)
            self.loss_knot_dist = MODELS.build(loss_knot_dist)
            self.loss_knot_offset = MODELS.build(loss_knot_offset)
            # float64: sums over a whole training of squared sizes
            self.register_buffer('knot_box_gram', torch.zeros(3, 3, dtype=torch.float64))
            self.register_buffer('knot_box_cross', torch.zeros(3, 4, dtype=torch.float64))

    def _build_branch(self, out_channels: int) -> nn.Sequential:
        """3×3 conv + ReLU + 1×1 conv, CenterNet's output branch."""
        return nn.Sequential(
            nn.Conv2d(self.in_channels, self.feat_channels, kernel_size=3, padding=1),
            nn.ReLU(inplace=True), nn.Conv2d(self.feat_channels, out_channels, kernel_size=1))

    def init_weights(self) -> None:
        """CenterNet's init: heatmap bias for a prior of 0.1, small regression weights."""
        super().init_weights()
        bias_init = bias_init_with_prob(0.1)
        heatmap_heads = [self.heatmap_head]
        regression_heads = [self.wh_head, self.offset_head]
        if self.with_kp:
            heatmap_heads.append(self.knot_heatmap_head)
            regression_heads += [self.knot_dist_head, self.knot_offset_head]
        for head in heatmap_heads:
            head[-1].bias.data.fill_(bias_init)
        for head in regression_heads:
            for module in head.modules():
                if isinstance(module, nn.Conv2d):
                    normal_init(module, std=0.001)

    def forward(self, x: Sequence[Tensor]) -> PointOutputs:
        """Run the head on the features of every stack.

        Args:
            x (Sequence[Tensor]): per-stack features, each (N, C, h, w).

        Returns:
            tuple[list]: six lists with one entry per stack: centre heatmaps (N, 1, h, w)
            (sigmoid probabilities), shapes (N, 2, h, w), offsets (N, 2, h, w), knot heatmaps
            (N, K, h, w), knot distances (N, 2K, h, w), knot offsets (N, 2, h, w); the last
            three hold None without the KP detector.
        """
        return multi_apply(self.forward_single, x)

    def forward_single(self, x: Tensor) -> Tuple[Optional[Tensor], ...]:
        """Run the head on one feature map (N, C, h, w); outputs as in :meth:`forward`."""
        outs = (self.heatmap_head(x).sigmoid(), self.wh_head(x), self.offset_head(x))
        if not self.with_kp:
            return outs + (None, None, None)
        return outs + (self.knot_heatmap_head(x).sigmoid(), self.knot_dist_head(x),
                       self.knot_offset_head(x))

    def loss(self, x: Sequence[Tensor], batch_gt_instances: List[InstanceData],
             batch_input_shape: Tuple[int, int]) -> Dict[str, List[Tensor]]:
        """Forward and compute the losses; arguments as in :meth:`loss_by_feat`."""
        return self.loss_by_feat(*self(x), batch_gt_instances, batch_input_shape)

    def loss_by_feat(self, center_heatmap_preds: List[Tensor], wh_preds: List[Tensor],
                     offset_preds: List[Tensor], knot_heatmap_preds: List[Optional[Tensor]],
                     knot_dist_preds: List[Optional[Tensor]],
                     knot_offset_preds: List[Optional[Tensor]],
                     batch_gt_instances: List[InstanceData],
                     batch_input_shape: Tuple[int, int]) -> Dict[str, List[Tensor]]:
        """Compute the losses of every stack (summed by the caller's loss parsing).

        Args:
            center_heatmap_preds ... knot_offset_preds: outputs of :meth:`forward`.
            batch_gt_instances (list[InstanceData]): one per clip, with the clip's frames
                consecutive in the N rows of the predictions; fields ``bboxes`` (M, 4) in
                input pixels, ``frame_inds`` (M,) in [0, N / num_clips), and, with the KP
                detector, ``knots`` (M, K, 2) (the box's edge midpoints when absent). Each
                row is one actor in one frame.
            batch_input_shape (tuple[int, int]): (H, W) of the network input.

        Returns:
            dict[str, list[Tensor]]: weighted losses, one entry per stack (each divided by
            the number of stacks with ``loss_stack_reduction='mean'``).
        """
        targets = self.get_targets(batch_gt_instances, center_heatmap_preds[-1].shape,
                                   batch_input_shape)
        if self.with_kp and self.training:
            self.update_knot_box_fit(targets['knot_box_gram'], targets['knot_box_cross'])
        losses = [
            self._loss_single(*preds, targets)
            for preds in zip(center_heatmap_preds, wh_preds, offset_preds, knot_heatmap_preds,
                             knot_dist_preds, knot_offset_preds)
        ]
        if self.loss_stack_reduction == 'mean':
            losses = [{k: v / len(losses) for k, v in stack.items()} for stack in losses]
        return {name: [stack[name] for stack in losses] for name in losses[0]}

    def _loss_single(self, center_heatmap: Tensor, wh: Tensor, offset: Tensor,
                     knot_heatmap: Optional[Tensor], knot_dist: Optional[Tensor],
                     knot_offset: Optional[Tensor],
                     targets: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Losses of one stack; every term is normalised by the number of actors."""
        num_actors = max(targets['num_actors'], 1)
        center_inds = targets['center_inds']
        # The focal loss takes logs of probabilities: keep it in fp32 under autocast.
        losses = dict(
            loss_center_heatmap=self.loss_center_heatmap(
                center_heatmap.float(), targets['center_heatmap'], avg_factor=num_actors),
            loss_wh=self.loss_wh(
                self._gather(wh, center_inds), targets['wh'], avg_factor=2 * num_actors),
            loss_offset=self.loss_offset(
                self._gather(offset, center_inds), targets['offset'],
                avg_factor=2 * num_actors))
        if self.with_kp:
            losses.update(
                loss_knot_heatmap=self.loss_knot_heatmap(
                    knot_heatmap.float(), targets['knot_heatmap'], avg_factor=num_actors),
                loss_knot_dist=self.loss_knot_dist(
                    self._gather(knot_dist, center_inds), targets['knot_dist'],
                    weight=targets['knot_dist_weight'], avg_factor=2 * num_actors),
                loss_knot_offset=self.loss_knot_offset(
                    self._gather(knot_offset, targets['knot_inds']), targets['knot_offset'],
                    avg_factor=2 * num_actors))
        return losses

    @staticmethod
    def _gather(pred: Tensor, inds: Tensor) -> Tensor:
        """Values of a (N, C, h, w) map at flat (frame·h·w + pixel) indices: (M, C) float."""
        return pred.flatten(2).transpose(1, 2).reshape(-1, pred.shape[1])[inds].float()

    @staticmethod
    def _heatmap_pixels(points: Tensor, feat_hw: Tuple[int, int]) -> Tensor:
        """Integer heatmap pixel (x, y) of points in heatmap units, clamped into the map so
        that points on the right/bottom border (x = w) still get a pixel (offset 1)."""
        feat_h, feat_w = feat_hw
        ints = points.floor()
        return torch.stack([ints[..., 0].clamp(0, feat_w - 1), ints[..., 1].clamp(0, feat_h - 1)],
                           dim=-1)

    def get_targets(self, batch_gt_instances: List[InstanceData], feat_shape: torch.Size,
                    batch_input_shape: Tuple[int, int]) -> Dict[str, Tensor]:
        """Build every target at once, on the device of the ground truth.

        Heatmaps are dense; regression targets are sparse, one row per actor (or per visible
        knot) with the flat index of its pixel, so that overlapping actors keep their own
        values.

        Args:
            batch_gt_instances (list[InstanceData]): see :meth:`loss_by_feat`.
            feat_shape (torch.Size): (N, C, h, w) of the predictions.
            batch_input_shape (tuple[int, int]): (H, W) of the network input.

        Returns:
            dict[str, Tensor]: ``center_heatmap`` (N, 1, h, w), ``center_inds`` (M,), ``wh``
            (M, 2), ``offset`` (M, 2), ``num_actors`` (int); with KP also ``knot_heatmap``
            (N, K, h, w), ``knot_dist`` (M, 2K) with ``knot_dist_weight`` (M, 2K) (0 for
            knots that are missing or outside the input), ``knot_inds`` (V,) and
            ``knot_offset`` (V, 2) of the V visible knots, and this batch's terms of the
            knot-box fit, ``knot_box_gram`` (3, 3) and ``knot_box_cross`` (3, 4) float64
            (see the class docstring).
        """
        num_frames, _, feat_h, feat_w = feat_shape
        clip_len = num_frames // len(batch_gt_instances)
        frame_inds = torch.cat([gt.frame_inds.long() + i * clip_len
                                for i, gt in enumerate(batch_gt_instances)])
        bboxes = torch.cat([gt.bboxes for gt in batch_gt_instances]).float()
        input_h, input_w = batch_input_shape
        stride = bboxes.new_tensor([input_w / feat_w, input_h / feat_h])

        centers = (bboxes[:, :2] + bboxes[:, 2:]) / 2 / stride
        center_ints = self._heatmap_pixels(centers, (feat_h, feat_w))
        sizes = (bboxes[:, 2:] - bboxes[:, :2]) / stride  # (w, h)
        # int(radius) as CenterNet: the radius of a box of heatmap height h and width w.
        radii = gaussian_radius(sizes.flip(-1), self.train_cfg['min_overlap']).clamp(
            min=0).floor().long()
        center_inds = self._flat_inds(frame_inds, center_ints, feat_w, feat_h)
        targets = dict(
            center_heatmap=draw_heatmaps(center_ints, radii, frame_inds, num_frames,
                                         (feat_h, feat_w))[:, None],
            center_inds=center_inds,
            wh=sizes,
            offset=centers - center_ints,
            num_actors=len(bboxes))
        if self.with_kp:
            knots = self._gt_knots(batch_gt_instances, bboxes) / stride
            targets.update(self._knot_targets(knots, center_ints, radii, frame_inds,
                                              num_frames, (feat_h, feat_w)))
            targets.update(self._knot_box_terms(bboxes / stride.repeat(2), knots,
                                                (feat_h, feat_w)))
        return targets

    @staticmethod
    def _knot_box_terms(bboxes: Tensor, knots: Tensor,
                        feat_hw: Tuple[int, int]) -> Dict[str, Tensor]:
        """One batch's terms FᵀF (3, 3) and FᵀM (3, 4) of the knot-box fit, from boxes
        (M, 4) and knots (M, K, 2) in heatmap units; rows as in the class docstring."""
        feat_h, feat_w = feat_hw
        bboxes, knots = bboxes.double(), knots.double()
        inside = ((knots[..., 0] >= 0) & (knots[..., 0] <= feat_w) & (knots[..., 1] >= 0)
                  & (knots[..., 1] <= feat_h))
        clear = ((bboxes[:, 0] >= 1) & (bboxes[:, 1] >= 1) & (bboxes[:, 2] <= feat_w - 1)
                 & (bboxes[:, 3] <= feat_h - 1))
        # NaN knots are neither inside nor outside: the comparisons are False
        keep = inside.all(dim=1) & clear
        knots, bboxes = knots[keep], bboxes[keep]
        extent = torch.cat([knots.amin(dim=1), knots.amax(dim=1)], dim=-1)
        size = extent[:, 2:] - extent[:, :2]
        features = torch.cat([size, torch.ones_like(size[:, :1])], dim=-1)  # (M', 3)
        margins = torch.cat([extent[:, :2] - bboxes[:, :2], bboxes[:, 2:] - extent[:, 2:]],
                            dim=-1)  # (M', 4): left, top, right, bottom
        return dict(knot_box_gram=features.T @ features, knot_box_cross=features.T @ margins)

    @torch.no_grad()
    def update_knot_box_fit(self, gram: Tensor, cross: Tensor) -> None:
        """Add one batch's terms to the knot-box fit, summed over processes."""
        terms = torch.cat([gram, cross], dim=1)
        all_reduce(terms, op='sum')
        self.knot_box_gram += terms[:, :3]
        self.knot_box_cross += terms[:, 3:]

    def knot_box_coefficients(self) -> Tensor:
        """(3, 4) least-squares coefficients (a, b, c) of the four margins (left, top,
        right, bottom), zero before any training step; a relative ridge of 1e-9 keeps the
        solve defined when the sizes never varied."""
        gram = self.knot_box_gram
        if gram[2, 2] == 0:  # no actor seen
            return torch.zeros_like(self.knot_box_cross)
        ridge = 1e-9 * gram.diagonal().sum() * torch.eye(3, dtype=gram.dtype,
                                                         device=gram.device)
        return torch.linalg.solve(gram + ridge, self.knot_box_cross)

    def knot_boxes(self, knots: Tensor) -> Tensor:
        """Boxes (..., 4) of knots (..., K, 2) in heatmap units: their extent with the
        fitted margins (class docstring)."""
        extent = torch.cat([knots.amin(dim=-2), knots.amax(dim=-2)], dim=-1)
        size = extent[..., 2:] - extent[..., :2]
        features = torch.cat([size, torch.ones_like(size[..., :1])], dim=-1)
        margins = (features.double() @ self.knot_box_coefficients()).to(knots.dtype)
        return extent + margins * margins.new_tensor([-1., -1., 1., 1.])

    def _gt_knots(self, batch_gt_instances: List[InstanceData], bboxes: Tensor) -> Tensor:
        """Ground-truth knots (M, K, 2) in input pixels; the edge midpoints when absent."""
        if all('knots' in gt for gt in batch_gt_instances):
            knots = torch.cat([gt.knots for gt in batch_gt_instances]).float()
            if knots.shape[1] != self.num_knots:
                raise ValueError(f'PointHead: the ground truth has {knots.shape[1]} knots per '
                                 f'actor but num_knots={self.num_knots}: set '
                                 'model.point_head.num_knots to the dataset\'s '
                                 "metainfo['num_knots']")
            return knots
        if self.num_knots != 4:
            raise KeyError(f'gt_instances lack "knots" and num_knots={self.num_knots}: only '
                           'the 4 default knots can be derived from the boxes')
        return box_knots(bboxes)

    @staticmethod
    def _flat_inds(frame_inds: Tensor, pixels: Tensor, feat_w: int, feat_h: int) -> Tensor:
        """Flat index frame·h·w + y·w + x of integer pixels (…, 2)."""
        pixels = pixels.long()
        return frame_inds * feat_h * feat_w + pixels[..., 1] * feat_w + pixels[..., 0]

    def _knot_targets(self, knots: Tensor, center_ints: Tensor, radii: Tensor,
                      frame_inds: Tensor, num_frames: int,
                      feat_hw: Tuple[int, int]) -> Dict[str, Tensor]:
        """KP targets from knots (M, K, 2) in heatmap units; keys as in :meth:`get_targets`."""
        feat_h, feat_w = feat_hw
        num_actors, num_knots = knots.shape[:2]
        visible = (knots.isfinite().all(-1) & (knots[..., 0] >= 0) & (knots[..., 0] <= feat_w)
                   & (knots[..., 1] >= 0) & (knots[..., 1] <= feat_h))
        # Invisible knots get finite stand-in targets (the centre) and zero weight.
        knots = torch.where(visible[..., None], knots, center_ints[:, None])
        knot_ints = self._heatmap_pixels(knots, feat_hw)
        knot_channels = torch.arange(num_knots, device=knots.device).expand(num_actors, -1)
        heatmap = draw_heatmaps(knot_ints[visible], radii[:, None].expand(-1, num_knots)[visible],
                                (frame_inds[:, None] * num_knots + knot_channels)[visible],
                                num_frames * num_knots, feat_hw)
        knot_inds = self._flat_inds(frame_inds[:, None].expand(-1, num_knots), knot_ints,
                                    feat_w, feat_h)
        return dict(
            knot_heatmap=heatmap.view(num_frames, num_knots, feat_h, feat_w),
            knot_dist=(knots - center_ints[:, None]).flatten(1),
            knot_dist_weight=visible[..., None].expand(-1, -1, 2).flatten(1).float(),
            knot_inds=knot_inds[visible],
            knot_offset=(knots - knot_ints)[visible])

    def predict(self, x: Sequence[Tensor],
                batch_input_shape: Tuple[int, int]) -> List[InstanceData]:
        """Forward and decode; see :meth:`predict_by_feat`."""
        return self.predict_by_feat(*self(x), batch_input_shape)

    def predict_by_feat(self, center_heatmap_preds: List[Tensor], wh_preds: List[Tensor],
                        offset_preds: List[Tensor], knot_heatmap_preds: List[Optional[Tensor]],
                        knot_dist_preds: List[Optional[Tensor]],
                        knot_offset_preds: List[Optional[Tensor]],
                        batch_input_shape: Tuple[int, int]) -> List[InstanceData]:
        """Decode the last stack's outputs into per-frame actor boxes.

        Args:
            center_heatmap_preds ... knot_offset_preds: outputs of :meth:`forward`.
            batch_input_shape (tuple[int, int]): (H, W) of the network input.

        Returns:
            list[InstanceData]: one per frame, with the top-k centres: ``bboxes`` (k, 4) x1 y1
            x2 y2 in input pixels (not clipped), ``scores`` (k,) centre-heatmap scores and,
            with the KP detector, ``knots`` (k, K, 2) in input pixels.
        """
        center_heatmap = center_heatmap_preds[-1].float()
        num_frames, _, feat_h, feat_w = center_heatmap.shape
        heatmap = get_local_maximum(center_heatmap, kernel=self.test_cfg['local_maximum_kernel'])
        scores, inds, _, ys, xs = get_topk_from_heatmap(
            heatmap, k=min(self.test_cfg['topk'], feat_h * feat_w))
        center_ints = torch.stack([xs.float(), ys.float()], dim=-1)  # (N, k, 2)
        wh = transpose_and_gather_feat(wh_preds[-1].float(), inds)
        centers = center_ints + transpose_and_gather_feat(offset_preds[-1].float(), inds)
        bboxes = torch.cat([centers - wh / 2, centers + wh / 2], dim=-1)

        input_h, input_w = batch_input_shape
        stride = bboxes.new_tensor([input_w / feat_w, input_h / feat_h])
        knots = None
        if self.with_kp:
            knots, knot_scores = self._decode_knots(center_ints, inds, bboxes,
                                                    knot_heatmap_preds[-1].float(),
                                                    knot_dist_preds[-1].float(),
                                                    knot_offset_preds[-1].float())
            if self.test_cfg['fuse_knots']:
                bboxes = self._fuse_knot_boxes(bboxes, scores, knots, knot_scores)
            knots = knots * stride
        bboxes = bboxes * stride.repeat(2)

        results = []
        for i in range(num_frames):
            result = InstanceData(bboxes=bboxes[i], scores=scores[i])
            if knots is not None:
                result.knots = knots[i]
            results.append(result)
        return results

    def _decode_knots(self, center_ints: Tensor, inds: Tensor, bboxes: Tensor,
                      knot_heatmap: Tensor, knot_dist: Tensor,
                      knot_offset: Tensor) -> Tuple[Tensor, Tensor]:
        """Regress every centre's knots and snap them to knot-heatmap peaks.

        Args:
            center_ints (Tensor): (N, k, 2) centre pixels.
            inds (Tensor): (N, k) their flat pixel indices.
            bboxes (Tensor): (N, k, 4) CP boxes, heatmap units.
            knot_heatmap (Tensor): (N, K, h, w); knot_dist (N, 2K, h, w); knot_offset
                (N, 2, h, w).

        Returns:
            tuple[Tensor, Tensor]: knots (N, k, K, 2) in heatmap units and their scores
            (N, k, K): the snapped peak's score, 0 where the regressed knot is kept.
        """
        num_frames, num_knots, feat_h, feat_w = knot_heatmap.shape
        regressed = center_ints[:, :, None] + transpose_and_gather_feat(knot_dist, inds).view(
            num_frames, -1, num_knots, 2)

        peaks = get_local_maximum(knot_heatmap, kernel=self.test_cfg['local_maximum_kernel'])
        peak_scores, peak_inds = peaks.flatten(2).topk(
            min(self.test_cfg['knot_topk'], feat_h * feat_w), dim=-1)  # (N, K, p)
        peak_offsets = transpose_and_gather_feat(knot_offset, peak_inds.flatten(1))
        candidates = torch.stack([peak_inds % feat_w, peak_inds // feat_w], dim=-1).float() + \
            peak_offsets.view(*peak_inds.shape, 2)  # (N, K, p, 2)

        distances = (regressed[:, :, :, None] - candidates[:, None]).norm(dim=-1)  # (N, k, K, p)
        distances = distances.masked_fill(
            peak_scores[:, None] < self.test_cfg['knot_score_thr'], float('inf'))
        min_dist, nearest = distances.min(dim=-1)  # (N, k, K)
        box_size = (bboxes[..., 2:] - bboxes[..., :2]).amax(dim=-1, keepdim=True)
        snap = min_dist <= self.test_cfg['knot_snap_ratio'] * box_size

        num_centers = center_ints.shape[1]
        candidates = candidates[:, None].expand(-1, num_centers, -1, -1, -1)
        snapped = candidates.gather(3, nearest[..., None, None].expand(-1, -1, -1, 1, 2))
        snapped_scores = peak_scores[:, None].expand(-1, num_centers, -1, -1).gather(
            3, nearest[..., None]).squeeze(-1)
        knots = torch.where(snap[..., None], snapped.squeeze(3), regressed)
        return knots, snapped_scores * snap

    def _fuse_knot_boxes(self, bboxes: Tensor, scores: Tensor, knots: Tensor,
                         knot_scores: Tensor) -> Tensor:
        """Average the CP box and the knot box (:meth:`knot_boxes`), weighted by the centre
        score and the mean knot score; (N, k, 4) boxes, (N, k) scores, (N, k, K, 2) knots,
        (N, k, K) scores, all in heatmap units."""
        knot_boxes = self.knot_boxes(knots)
        center_weight = scores[..., None]
        knot_weight = knot_scores.mean(dim=-1, keepdim=True)
        total = center_weight + knot_weight
        fused = (center_weight * bboxes + knot_weight * knot_boxes) / total.clamp(min=1e-12)
        return torch.where(total > 0, fused, bboxes)
