"""Validation and test loops that compute each test frame's features once.

Clip mode (mmengine's ``ValLoop``/``TestLoop``) runs the whole model on every test clip: with
one clip per frame and T frames per clip, every frame goes through the backbone T times. Here
the clips of one video share the features of its frames: frames go through the test pipeline
and the backbone alone, ``frame_batch`` at a time, and each clip then stacks its frames'
features and runs only the temporal part (``predict_clip_feats``: Point Head on the key
frame, TWA, classification head), ``clip_batch`` clips at a time. Only the features of the
frames that the clips still to come need are kept, so memory does not grow with the video.

The detections equal clip mode's (tests/engine/test_cached_loops.py): per-frame layers in eval
mode see each frame alone either way. ``cache_features=False``, or a dataset or model without
the per-frame split (mmaction2's AVA dataset, a recognizer), runs mmengine's loop: clip mode,
the reference path.

Head interval: with the model's ``test_cfg.head_interval`` k > 1, TWA and the classification
head run on one clip of every k frames of a video and the clips between reuse its output
(:mod:`point3d_mm.models.utils.head_interval`), on both paths: a video's clips are predicted in
frame order sharing a ``HeadMemory``; clip mode keeps one across the loader's batches, which
come in the dataset's order.

Distributed: each process takes every world_size-th video (a video's frames must stay in one
process to be shared); mmengine's result collection puts the clips back together. (Clip mode
with k > 1 gives the single-process detections only on one process: mmengine's sampler deals a
video's clips out to all processes, and each then runs the head on the first clip of a period
that it sees.)

Progress: the hooks see the predicted clips regrouped into steps like the loader's batches
(:func:`loader_steps`), so that the logger's ``Iter(test) [i/n]``, whose ``n`` is the
loader's length, ends at ``n``.

Shape letters: N frames, B clips, T frames per clip, C channels, h × w feature map.
"""
import copy
from collections import OrderedDict
from typing import Dict, Iterable, Iterator, List, Sequence, Tuple

import numpy as np
import torch
from mmaction.registry import LOOPS
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.amp import autocast
from torch import Tensor

from ..models.utils import HeadMemory, key_frame_number

#: Keys of a clip's data info that describe its ground truth, emptied for a frame alone.
_GT_KEYS = ('gt_bboxes', 'gt_labels', 'gt_frame_inds', 'gt_track_ids', 'gt_knots')


def loader_steps(batches: Iterable[list], num_clips: int, num_steps: int) -> Iterator[list]:
    """Regroup the predicted samples of ``batches`` (per video, ``clip_batch`` at a time) into
    at most ``num_steps`` steps of ``ceil(num_clips / num_steps)`` samples in order, the last
    step shorter; ``num_steps`` exactly when ``num_steps`` is the length of a loader of the
    ``num_clips`` clips.

    Args:
        batches: lists of samples, ``num_clips`` in all.
        num_clips: the samples in ``batches``.
        num_steps: the most steps wanted (the loader's length, the progress line's total).
    """
    size = max(1, -(-num_clips // max(1, num_steps)))
    pending: list = []
    for batch in batches:
        pending.extend(batch)
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


class _FeatureCache:
    """The test clips of one dataset, predicted video by video from shared frame features.

    Args:
        model: the detector (unwrapped), with ``data_preprocessor``, ``extract_frame_feats``
            and ``predict_clip_feats``.
        dataset: a test dataset whose data infos carry ``video``, ``frame_ids`` and
            ``key_frame_index`` (``ACTDataset``), with its ``pipeline``.
        frame_batch: frames per backbone call.
        clip_batch: clips per call of the temporal part.
    """

    def __init__(self, model, dataset, frame_batch: int, clip_batch: int) -> None:
        if frame_batch < 1 or clip_batch < 1:
            raise ValueError('frame_batch and clip_batch must be >= 1')
        self.model = model
        self.dataset = dataset
        self.frame_batch = frame_batch
        self.clip_batch = clip_batch

    def clips_by_video(self, rank: int = 0, world_size: int = 1) -> Dict[str, List[int]]:
        """{video: dataset indices of its clips} for the videos of process ``rank``."""
        by_video: Dict[str, List[int]] = OrderedDict()
        for index in range(len(self.dataset)):
            by_video.setdefault(self.dataset.get_data_info(index)['video'], []).append(index)
        return OrderedDict(list(by_video.items())[rank::world_size])

    @torch.no_grad()
    def predict_video(self, indices: Sequence[int]) -> Iterator[list]:
        """Predicted data samples of one video's clips, ``clip_batch`` at a time.

        Args:
            indices: dataset indices of the video's clips, in key-frame order.
        """
        infos = [self.dataset.get_data_info(i) for i in indices]
        order = sorted(range(len(infos)),
                       key=lambda i: (min(infos[i]['frame_ids']), key_frame_number(infos[i])))
        infos = [infos[i] for i in order]
        feats: Dict[int, Tensor] = {}
        template = None
        # passed only with an interval: k = 1 calls the model as before
        head_args = (HeadMemory(), ) if _head_interval(self.model) > 1 else ()
        for start in range(0, len(infos), self.clip_batch):
            batch = infos[start:start + self.clip_batch]
            upcoming = [f for info in infos[start:] for f in info['frame_ids']]
            template, input_shape = self._extract(batch[0], feats, upcoming, template)
            for frame in [f for f in feats if f < min(batch[0]['frame_ids'])]:
                del feats[frame]  # the clips are in order: no later clip needs it
            clip_feats = torch.stack([torch.stack([feats[f] for f in info['frame_ids']])
                                      for info in batch])
            samples = [self._clip_sample(template, info) for info in batch]
            yield self.model.predict_clip_feats(clip_feats, samples, input_shape, *head_args)

    def _extract(self, info: dict, feats: Dict[int, Tensor], upcoming: List[int],
                 template) -> Tuple[object, Tuple[int, int]]:
        """Compute the features of the frames the current batch needs (and of the next ones,
        to fill the backbone batch) that are not cached yet."""
        needed = list(dict.fromkeys(f for f in upcoming if f not in feats))
        batch_len = self.clip_batch * len(info['frame_ids'])
        first = needed[:max(self.frame_batch, batch_len)]
        for start in range(0, len(first), self.frame_batch):
            frames = first[start:start + self.frame_batch]
            inputs, samples = self._frame_inputs(info, frames)
            for frame, feat in zip(frames, self.model.extract_frame_feats(inputs)[-1]):
                feats[frame] = feat
            template = template if template is not None else samples[0]
            self._input_shape = tuple(inputs.shape[-2:])
        return template, self._input_shape

    def _frame_inputs(self, info: dict, frames: Sequence[int]) -> Tuple[Tensor, list]:
        """The preprocessed (N, 3, 1, H, W) inputs of single frames, through the test
        pipeline as one-frame clips, and their data samples."""
        packed = []
        for frame in frames:
            single = {k: v for k, v in copy.copy(info).items() if k not in _GT_KEYS}
            single.update(frame_ids=[frame], key_frame_index=0,
                          gt_bboxes=np.zeros((0, 4), np.float32),
                          gt_labels=np.zeros(0, np.int64), gt_frame_inds=np.zeros(0, np.int64),
                          gt_track_ids=np.zeros(0, np.int64))
            packed.append(self.dataset.pipeline(single))
        data = self.model.data_preprocessor(
            dict(inputs=[p['inputs'] for p in packed],
                 data_samples=[p['data_samples'] for p in packed]), False)
        return data['inputs'], data['data_samples']

    @staticmethod
    def _clip_sample(template, info: dict):
        """A clip's data sample: the frame geometry of its video (every frame of a video is
        transformed alike in test mode) with the clip's own frames and key frame."""
        sample = template.new()
        sample.set_metainfo(dict(frame_ids=list(info['frame_ids']),
                                 key_frame_index=int(info['key_frame_index']),
                                 video=info['video']))
        for key in ('gt_instances', 'pred_instances'):
            if key in sample:
                delattr(sample, key)
        return sample


def _head_interval(model) -> int:
    """The model's head interval k (1 for a model without one)."""
    return getattr(model, 'head_interval', 1)


class _CachedFeatureLoopMixin:
    """A val/test loop on cached frame features (see the module docstring); ``stage`` is
    'val' or 'test'.

    Args:
        cache_features: False runs clip mode (mmengine's loop), the reference path.
        frame_batch: frames per backbone call. Defaults to 16.
        clip_batch: clips per call of the temporal part. Defaults to 8.
        Other arguments: see mmengine's ``ValLoop``/``TestLoop``.
    """

    stage = ''

    def __init__(self, runner, dataloader, evaluator, fp16: bool = False,
                 cache_features: bool = True, frame_batch: int = 16,
                 clip_batch: int = 8) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self.cache_features = cache_features
        self.frame_batch = frame_batch
        self.clip_batch = clip_batch
        self._head_memory = None

    def run(self) -> dict:
        cache = self._cache()
        if cache is not None:
            return self._run_cached(cache)
        self._head_memory = HeadMemory() if _head_interval(self._model()) > 1 else None
        try:
            return super().run()
        finally:
            self._head_memory = None

    def _model(self):
        """The model, unwrapped."""
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    @torch.no_grad()
    def run_iter(self, idx, data_batch) -> None:
        """mmengine's step, or with a head interval the same step passing the model the
        loop's :class:`HeadMemory` (the loader's clips come in the dataset's order: a video's
        in frame order)."""
        if self._head_memory is None:
            return super().run_iter(idx, data_batch)
        stage = self.stage
        self.runner.call_hook(f'before_{stage}_iter', batch_idx=idx, data_batch=data_batch)
        model = self._model()
        with autocast(enabled=self.fp16):
            data = model.data_preprocessor(data_batch, False)
            outputs = model.predict(data['inputs'], data['data_samples'], self._head_memory)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(f'after_{stage}_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)

    def _cache(self):
        """A :class:`_FeatureCache`, or None where the model or dataset cannot use one."""
        model = self._model()
        dataset = self.dataloader.dataset
        if not (self.cache_features and hasattr(model, 'predict_clip_feats')
                and hasattr(model, 'extract_frame_feats') and len(dataset)
                and {'video', 'frame_ids', 'key_frame_index'} <= set(dataset.get_data_info(0))):
            return None
        return _FeatureCache(model, dataset, self.frame_batch, self.clip_batch)

    def _run_cached(self, cache: _FeatureCache) -> dict:
        stage = self.stage
        self.runner.call_hook(f'before_{stage}')
        self.runner.call_hook(f'before_{stage}_epoch')
        self.runner.model.eval()
        rank, world_size = get_dist_info()
        videos = cache.clips_by_video(rank, world_size)
        num_clips = sum(map(len, videos.values()))
        print_log(f'{stage}: {num_clips} clips of {len(videos)} videos in this process, each '
                  f'frame through the backbone once (frame_batch={cache.frame_batch}, '
                  f'clip_batch={cache.clip_batch})', logger='current')
        predicted = (samples for indices in videos.values()
                     for samples in cache.predict_video(indices))
        for step, samples in enumerate(loader_steps(predicted, num_clips,
                                                    len(self.dataloader))):
            self.runner.call_hook(f'before_{stage}_iter', batch_idx=step, data_batch=None)
            self.evaluator.process(data_samples=samples, data_batch=None)
            self.runner.call_hook(f'after_{stage}_iter', batch_idx=step, data_batch=None,
                                  outputs=samples)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        self.runner.call_hook(f'after_{stage}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{stage}')
        return metrics


@LOOPS.register_module()
class CachedFeatureTestLoop(_CachedFeatureLoopMixin, TestLoop):
    """mmengine's ``TestLoop`` computing each frame's features once per video; arguments in
    :class:`_CachedFeatureLoopMixin`."""

    stage = 'test'


@LOOPS.register_module()
class CachedFeatureValLoop(_CachedFeatureLoopMixin, ValLoop):
    """mmengine's ``ValLoop`` computing each frame's features once per video; arguments in
    :class:`_CachedFeatureLoopMixin`."""

    stage = 'val'
