import logging
from contextlib import ExitStack
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.logging import print_log
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ...structures.geometry import boxes_to_original
from ..utils import (
    HeadMemory,
    check_head_interval,
    group_actor_rows,
    head_period,
    key_frame_number,
)

SampleList = List[ActionDataSample]


@MODELS.register_module()
class Point3D(BaseModel):
    """Point3D spatio-temporal action detector (paper §3).

    A clip (B, 3, T, H, W) is folded into B·T frames for the backbone (per-frame features
    F, (B·T, C, H/4, W/4) per stack); the Point Head finds the actors in every frame; the
    features of each clip go through the Time-wise Attention neck (optional) and the
    classification head, which sees Y as (B, C, T, h, w)::

        L = λ_loc·L_loc (Point Head, all stacks) + λ_cls·L_cls (classification head)

    The parts are switchable for the paper's Table 3: ``point_head.with_kp`` (KP), ``neck``
    (TWA; None: Y = F), and ``cls_head``: :class:`Conv3DHead` (the 3D Head) or, for the rows
    without it, :class:`FrameClsHead`, a per-frame 2D classifier on the same features.

    Under DDP wrap it with mmengine's ``MMSeparateDistributedDataParallel`` (set in
    configs/_base_/schedules/point3d_adam_sgd.py): each part is wrapped on its own and the
    model's :meth:`train_step` steps both optimizers.

    Prediction is split so that streaming inference can cache per-frame work:
    :meth:`extract_frame_feats` runs on frames alone; :meth:`predict_clip_feats` does the rest
    (Point Head on the decoded frames, TWA, classification) from the cached features.

    Head interval (``test_cfg.head_interval`` = k > 1): TWA and the classification head run
    on one clip of every k frames of a video, the key frames 1, 1+k, 1+2k, ... (the rule and
    its one home: :mod:`~point3d_mm.models.utils.head_interval`), and each clip between
    reuses that clip's head output, the feature map (1, C', T', h', w') before pooling: its
    boxes are pooled on it. With ``pool='clip'`` a
    clip thus takes the head clip's class probabilities; with ``pool='roi'`` each box takes
    those of its own box pooled on the head clip's map. The alternative, the probabilities
    of the head frame's box it overlaps most, leaves a box without a score where it overlaps
    none (an actor who enters) and swaps actors who cross; pooling on the map scores every
    box where it is now, for one RoIAlign and the FC, and the map is already an average over
    the clip's T frames. The reuse needs a video's clips in frame order: the caller passes a
    :class:`HeadMemory` (``CachedFeatureTestLoop``/``ValLoop`` and
    :func:`point3d_mm.apis.detect_frames` do); without one every clip runs the head.

    Args:
        backbone (dict): per-frame backbone (``HourglassBackbone``).
        point_head (dict): ``PointHead``.
        cls_head (dict): ``Conv3DHead`` or ``FrameClsHead``.
        neck (dict, optional): ``TimeWiseAttention`` (layout 'BCTHW').
        loss_weights (dict): ``loc`` and ``cls``, λ_loc and λ_cls. Defaults to 1 and 1.
        data_preprocessor (dict, optional): defaults to mmaction2's ActionDataPreprocessor
            with format 'NCTHW' (inputs (3, T, H, W) per clip, stacked to (B, 3, T, H, W)).
        train_cfg (dict, optional): ``point_frames``: 'all' (default) trains the Point Head
            on every frame, 'key' on the key frames only (AVA, where only they are
            annotated); ``autocast_dtype``: None or 'bfloat16' (autocast in
            :meth:`train_step`; set by ``--amp`` on CPU).
        test_cfg (dict, optional): ``frames``: 'key' (default) or 'all', which frames get
            detections; ``score_thr`` (0.01) on the final score; ``classes_per_box`` (5): a
            box is repeated for its most probable classes; ``max_per_frame`` (100);
            ``pred_format``: 'act' (docs/interfaces.md, default) or 'ava' (mmaction2's
            AVAMetric: boxes normalised to [0, 1] of the original frame, scores (M, K) =
            centre score × every class probability; with mmaction2's AVA labels, K = 81 and
            column 0 is the never-positive background, as AVAMetric expects);
            ``head_interval`` (1): k, the classification head runs on one frame of every k
            (see above; 1: on every clip).
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 point_head: dict,
                 cls_head: dict,
                 neck: Optional[dict] = None,
                 loss_weights: dict = dict(loc=1.0, cls=1.0),
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ActionDataPreprocessor', format_shape='NCTHW')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.point_head = MODELS.build(point_head)
        self.neck = MODELS.build(neck) if neck is not None else None
        if getattr(self.neck, 'layout', 'BCTHW') != 'BCTHW':
            # forward_temporal hands the neck (B, C, T, h, w); another layout would attend
            # over the wrong axis without any error.
            raise ValueError(f"Point3D's neck must take layout 'BCTHW', got "
                             f"{self.neck.layout!r}")
        self.cls_head = MODELS.build(cls_head)
        self.loss_weights = {**dict(loc=1.0, cls=1.0), **loss_weights}
        self.train_cfg = {**dict(point_frames='all', autocast_dtype=None), **(train_cfg or {})}
        self.test_cfg = {
            **dict(frames='key', score_thr=0.01, classes_per_box=5, max_per_frame=100,
                   pred_format='act', head_interval=1),
            **(test_cfg or {})
        }
        check_head_interval(self.test_cfg['head_interval'])
        self._warned_head_memory = False
        if self.train_cfg['point_frames'] not in ('all', 'key'):
            raise ValueError("train_cfg.point_frames must be 'all' or 'key'")
        if self.test_cfg['frames'] not in ('all', 'key'):
            raise ValueError("test_cfg.frames must be 'all' or 'key'")
        if self.test_cfg['pred_format'] not in ('act', 'ava'):
            raise ValueError("test_cfg.pred_format must be 'act' or 'ava'")

    @property
    def head_interval(self) -> int:
        """k of ``test_cfg.head_interval``: the classification head runs on one frame of
        every k (checked on every read: test_cfg may be changed after building)."""
        return check_head_interval(self.test_cfg['head_interval'])

    # ------------------------------------------------------------------ features
    def extract_frame_feats(self, frames: Tensor) -> Tuple[Tensor, ...]:
        """Per-frame features (the part that streaming inference computes once per frame).

        Args:
            frames (Tensor): (N, 3, H, W) frames or (B, 3, T, H, W) clips (folded into
                N = B·T frames, clip-major).

        Returns:
            tuple[Tensor]: (N, C, H/4, W/4) features, one per supervised stack.
        """
        return self.backbone(frames)

    def forward_temporal(self, frame_feats: Tensor) -> Tensor:
        """Y from the stacked features of each clip (TWA, or identity without a neck).

        Args:
            frame_feats (Tensor): (B, T, C, h, w).

        Returns:
            Tensor: Y, (B, C, T, h, w).
        """
        y = frame_feats.transpose(1, 2)
        return self.neck(y) if self.neck is not None else y

    @staticmethod
    def _to_clips(feats: Tensor, num_clips: int) -> Tensor:
        """(B·T, C, h, w) → (B, T, C, h, w)."""
        return feats.view(num_clips, -1, *feats.shape[1:])

    @staticmethod
    def _part(module: nn.Module) -> nn.Module:
        """A part itself, also when DDP wraps it (``MMSeparateDistributedDataParallel``, for
        the two optimizers). Parts are run through their ``forward`` (so that DDP sees the
        call) and then post-processed by their ``*_by_feat`` methods."""
        return module.module if is_model_wrapper(module) else module

    # ------------------------------------------------------------------ modes
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], SampleList, tuple]:
        """Dispatch to :meth:`loss`, :meth:`predict` or :meth:`_forward`.

        Args:
            inputs (Tensor): (B, 3, T, H, W) preprocessed clips.
            data_samples (list[ActionDataSample], optional): the clips' annotations and
                metainfo (docs/interfaces.md).
            mode (str): 'loss', 'predict' or 'tensor'.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}": only "loss", "predict" and "tensor"')

    def _forward(self, inputs: Tensor, data_samples: Optional[SampleList] = None) -> tuple:
        """Raw outputs: the Point Head outputs of the last stack for all B·T frames (six
        tensors, see ``PointHead.forward``) and the classification head's feature map."""
        feats = self.extract_frame_feats(inputs)[-1]
        point_outs = tuple(out[0] for out in self.point_head((feats, )))
        y = self.forward_temporal(self._to_clips(feats, len(inputs)))
        return point_outs, self.cls_head(y)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """λ_loc-weighted Point Head losses and λ_cls-weighted classification loss."""
        batch_input_shape = tuple(inputs.shape[-2:])
        feats = self.extract_frame_feats(inputs)
        point_feats, point_gts = self._point_head_targets(feats, data_samples, inputs.shape[2])
        point_losses = self._part(self.point_head).loss_by_feat(
            *self.point_head(point_feats), point_gts, batch_input_shape)
        losses = {
            name: [self.loss_weights['loc'] * loss for loss in stack_losses]
            for name, stack_losses in point_losses.items()
        }
        y = self.forward_temporal(self._to_clips(feats[-1], len(inputs)))
        cls_losses = self._part(self.cls_head).loss_by_feat(self.cls_head(y), data_samples,
                                                            batch_input_shape)
        losses.update({name: self.loss_weights['cls'] * loss for name, loss in cls_losses.items()})
        return losses

    def _point_head_targets(self, feats: Tuple[Tensor, ...], data_samples: SampleList,
                            clip_len: int) -> Tuple[Tuple[Tensor, ...], List[InstanceData]]:
        """Frames and ground truth the Point Head is trained on: all frames, or the key
        frames only (``train_cfg.point_frames='key'``); each actor once per frame."""
        gts = [self._unique_actors(sample.gt_instances) for sample in data_samples]
        if self.train_cfg['point_frames'] == 'all':
            return feats, gts
        keys = [sample.metainfo['key_frame_index'] for sample in data_samples]
        rows = torch.tensor([i * clip_len + key for i, key in enumerate(keys)],
                            device=feats[0].device)
        key_gts = []
        for gt, key in zip(gts, keys):
            key_gt = gt[gt.frame_inds == key]
            key_gt.frame_inds = torch.zeros_like(key_gt.frame_inds)
            key_gts.append(key_gt)
        return tuple(feat[rows] for feat in feats), key_gts

    @staticmethod
    def _unique_actors(gt: InstanceData) -> InstanceData:
        """Drop rows repeating an actor's box in a frame (one row per label in AVA)."""
        if 'track_ids' not in gt:
            return gt
        first_rows, _ = group_actor_rows(gt.frame_inds, gt.track_ids)
        return gt if len(first_rows) == len(gt) else gt[first_rows]

    # ------------------------------------------------------------------ prediction
    def predict(self, inputs: Tensor, data_samples: SampleList,
                head_memory: Optional[HeadMemory] = None) -> SampleList:
        """Detect actions in clips.

        Args:
            inputs (Tensor): (B, 3, T, H, W) preprocessed clips.
            data_samples (list[ActionDataSample]): metainfo of each clip.
            head_memory (HeadMemory, optional): see :meth:`predict_clip_feats`.

        Returns:
            list[ActionDataSample]: the input samples with ``pred_instances``:
            ``bboxes`` (M, 4) in original frame pixels, ``scores`` (M,) = centre score ×
            class probability, ``labels`` (M,), ``frame_inds`` (M,); with
            ``pred_format='ava'`` see the class docstring.
        """
        feats = self.extract_frame_feats(inputs)[-1]
        return self.predict_clip_feats(
            self._to_clips(feats, len(inputs)), data_samples, tuple(inputs.shape[-2:]),
            head_memory)

    def predict_clip_feats(self, frame_feats: Tensor, data_samples: SampleList,
                           batch_input_shape: Tuple[int, int],
                           head_memory: Optional[HeadMemory] = None) -> SampleList:
        """Everything after the backbone: Point Head on the frames to decode, Y, classes.

        Args:
            frame_feats (Tensor): (B, T, C, h, w) last-stack features of each clip.
            data_samples (list[ActionDataSample]): metainfo of each clip (with
                ``head_memory``: ``video``, ``frame_ids`` and ``key_frame_index``).
            batch_input_shape (tuple[int, int]): (H, W) of the network input.
            head_memory (HeadMemory, optional): with ``test_cfg.head_interval`` > 1, the
                head output this video's clips share, passed to every call of a video
                whose clips come in frame order; None: every clip runs the head.

        Returns:
            list[ActionDataSample]: as :meth:`predict`.
        """
        sample_inds, frame_inds = self._frames_to_decode(data_samples, frame_feats.shape[1],
                                                         frame_feats.device)
        detections = self._part(self.point_head).predict_by_feat(
            *self.point_head((frame_feats[sample_inds, frame_inds], )), batch_input_shape)
        for det, sample_ind, frame_ind in zip(detections, sample_inds, frame_inds):
            det.sample_inds = sample_ind.expand(len(det))
            det.frame_inds = frame_ind.expand(len(det))
        detections = InstanceData.cat(detections)
        # centre score × probability <= centre score: boxes below the threshold cannot pass
        detections = detections[detections.scores > self.test_cfg['score_thr']]

        if self.head_interval == 1 or head_memory is None:
            self._warn_without_head_memory()
            head_feats = self.cls_head(self.forward_temporal(frame_feats))
            head_rows = detections.sample_inds
        else:
            head_feats, clip_rows = self._shared_head_feats(frame_feats, data_samples,
                                                            head_memory)
            head_rows = clip_rows[detections.sample_inds]
        rois = torch.cat([head_rows[:, None].to(detections.bboxes), detections.bboxes], dim=1)
        detections.probs = self._part(self.cls_head).predict_by_feat(
            head_feats, rois, detections.frame_inds, batch_input_shape)
        for i, sample in enumerate(data_samples):
            sample.pred_instances = self._format_predictions(
                detections[detections.sample_inds == i], sample.metainfo)
        return data_samples

    def _shared_head_feats(self, frame_feats: Tensor, data_samples: SampleList,
                           memory: HeadMemory) -> Tuple[Tensor, Tensor]:
        """The classification head's outputs that the clips use and each clip's row in
        them: TWA and the head run on the clips that start a period (the first clip of a
        new (video, period) since the last one in ``memory``), the others take the output of
        their period's, computed here or in an earlier call; ``memory`` ends holding the
        last period's."""
        keys = [(sample.metainfo.get('video'),
                 head_period(key_frame_number(sample.metainfo), self.head_interval))
                for sample in data_samples]
        starts, rows, last = [], [], memory.key
        for i, key in enumerate(keys):
            if key != last:
                starts.append(i)
                last = key
            rows.append(len(starts) - 1)  # -1: the period began before this call
        parts = [] if rows[0] >= 0 else [memory.feats]
        if starts:
            parts.append(self.cls_head(self.forward_temporal(frame_feats[starts])))
        head_feats = torch.cat(parts) if len(parts) > 1 else parts[0]
        offset = 1 if rows[0] < 0 else 0
        memory.store(keys[-1], head_feats[-1:].clone() if len(head_feats) > 1
                     else head_feats)
        return head_feats, torch.tensor(rows, device=frame_feats.device) + offset

    def _warn_without_head_memory(self) -> None:
        """Say once that an interval was asked for where no caller shares a head output."""
        if self.head_interval > 1 and not self._warned_head_memory:
            self._warned_head_memory = True
            print_log(f'test_cfg.head_interval={self.head_interval} is not applied here: the '
                      'clips are predicted without a HeadMemory (CachedFeatureTestLoop, '
                      'CachedFeatureValLoop and detect_frames pass one), so the '
                      'classification head runs on every clip', logger='current',
                      level=logging.WARNING)

    def _frames_to_decode(self, data_samples: SampleList, clip_len: int,
                          device: torch.device) -> Tuple[Tensor, Tensor]:
        """(sample, frame) index pairs of the frames that get detections."""
        if self.test_cfg['frames'] == 'all':
            sample_inds = torch.arange(len(data_samples), device=device)
            return (sample_inds.repeat_interleave(clip_len),
                    torch.arange(clip_len, device=device).repeat(len(data_samples)))
        keys = [sample.metainfo['key_frame_index'] for sample in data_samples]
        return (torch.arange(len(data_samples), device=device),
                torch.tensor(keys, device=device, dtype=torch.long))

    def _format_predictions(self, detections: InstanceData, metainfo: dict) -> InstanceData:
        """One clip's detections (``bboxes`` in input pixels, centre ``scores``, class
        ``probs`` (D, K), ``frame_inds``) as ``pred_instances``."""
        bboxes = self._to_original(detections.bboxes, metainfo)
        if self.test_cfg['pred_format'] == 'ava':
            ori_h, ori_w = metainfo['ori_shape']
            return InstanceData(
                bboxes=bboxes / bboxes.new_tensor([ori_w, ori_h, ori_w, ori_h]),
                scores=detections.scores[:, None] * detections.probs)

        num_classes = min(self.test_cfg['classes_per_box'], detections.probs.shape[1])
        probs, labels = detections.probs.topk(num_classes, dim=1)
        box_inds = torch.arange(len(detections), device=bboxes.device).repeat_interleave(
            num_classes)
        preds = InstanceData(
            bboxes=bboxes[box_inds],
            scores=(detections.scores[:, None] * probs).flatten(),
            labels=labels.flatten(),
            frame_inds=detections.frame_inds[box_inds])
        preds = preds[preds.scores > self.test_cfg['score_thr']]
        return self._top_per_frame(preds)

    def _top_per_frame(self, preds: InstanceData) -> InstanceData:
        """Keep the ``max_per_frame`` best detections of each frame, sorted by frame and
        then by descending score."""
        order = preds.scores.argsort(descending=True)
        order = order[preds.frame_inds[order].argsort(stable=True)]
        preds = preds[order]
        frame_inds = preds.frame_inds
        first = torch.searchsorted(frame_inds, frame_inds, right=False)
        rank = torch.arange(len(frame_inds), device=frame_inds.device) - first
        return preds[rank < self.test_cfg['max_per_frame']]

    @staticmethod
    def _to_original(bboxes: Tensor, metainfo: dict) -> Tensor:
        """Input pixels → original frame pixels (:func:`boxes_to_original`), clipped to the
        original frame."""
        bboxes = boxes_to_original(bboxes, metainfo.get('scale_factor', (1.0, 1.0)),
                                   metainfo.get('pad', (0, 0)), metainfo.get('flip', False),
                                   metainfo.get('img_shape'))
        ori_h, ori_w = metainfo['ori_shape']
        bboxes[:, 0::2] = bboxes[:, 0::2].clamp(0, ori_w)
        bboxes[:, 1::2] = bboxes[:, 1::2].clamp(0, ori_h)
        return bboxes

    # ------------------------------------------------------------------ training
    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: Union[OptimWrapper, OptimWrapperDict]) -> Dict[str, Tensor]:
        """One end-to-end step with one or several optimizers.

        The joint loss is back-propagated once (the backbone gets the gradients of both
        heads) and every optimizer then steps its own parameters: the paper's Adam for
        backbone + Point Head and SGD for the 3D Head (see
        ``Point3DOptimWrapperConstructor``). mmengine's ``OptimWrapperDict`` cannot do this
        itself (its ``update_params`` raises).

        Args:
            data (dict | tuple | list): a batch from the dataloader.
            optim_wrapper (OptimWrapper | OptimWrapperDict): the optimizers.

        Returns:
            dict[str, Tensor]: the losses for logging.
        """
        wrappers = (list(optim_wrapper.values())
                    if isinstance(optim_wrapper, OptimWrapperDict) else [optim_wrapper])
        with self._train_context(wrappers):
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        parsed_loss, log_vars = self.parse_losses(losses)
        self._backward_and_step(parsed_loss, wrappers)
        return log_vars

    def _train_context(self, wrappers: Sequence[OptimWrapper]) -> ExitStack:
        """The wrappers' contexts (fp16 autocast for mmengine's AmpOptimWrapper) and, with
        ``train_cfg.autocast_dtype``, autocast of our own, which also works on CPU where
        mmengine's AMP wrapper refuses to run."""
        stack = ExitStack()
        for wrapper in wrappers:
            stack.enter_context(wrapper.optim_context(self))
        dtype = self.train_cfg['autocast_dtype']
        if dtype is not None:
            device_type = next(self.parameters()).device.type
            stack.enter_context(torch.autocast(device_type, dtype=getattr(torch, dtype)))
        return stack

    @staticmethod
    def _backward_and_step(loss: Tensor, wrappers: Sequence[OptimWrapper]) -> None:
        """One backward pass, then a step of every optimizer."""
        scaler = getattr(wrappers[0], 'loss_scaler', None)
        if scaler is None:
            loss.backward()
            for wrapper in wrappers:
                wrapper.step()
        else:
            # fp16 AMP: one loss needs one GradScaler. Each AmpOptimWrapper.step() would call
            # its scaler's update() between optimizers, so the later ones would be unscaled
            # with a changed scale; share the first wrapper's scaler and update it once.
            scaler.scale(loss).backward()
            for wrapper in wrappers:
                scaler.unscale_(wrapper.optimizer)
                if wrapper.clip_grad_kwargs:
                    wrapper._clip_grad()
                scaler.step(wrapper.optimizer)
            scaler.update(wrappers[0]._scale_update_param)
        for wrapper in wrappers:
            wrapper.zero_grad()
