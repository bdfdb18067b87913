"""Packing a clip into the model's inputs and ``ActionDataSample`` (docs/interfaces.md)."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmaction.registry import TRANSFORMS
from mmaction.structures import ActionDataSample
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from ...structures.geometry import box_knots


@TRANSFORMS.register_module()
class PackPoint3DInputs(BaseTransform):
    """Pack a clip into ``inputs`` (uint8 (3, T, H, W) BGR) and an ``ActionDataSample``.

    ``gt_instances`` holds one row per (frame, actor) box: ``bboxes`` float32 (N, 4) in input
    pixels, ``labels`` int64 (N,) 0-based, ``frame_inds`` int64 (N,) in [0, T), ``track_ids``
    int64 (N,), ``knots`` float32 (N, K, 2). Without ``gt_knots`` in the results the knots are
    derived from the final boxes (K=4 edge midpoints: top, right, bottom, left), so they are
    exact after any crop.

    Results of mmaction2's ``AVADataset`` (key-frame boxes only, multi-hot labels) are packed
    the mmaction2 way: ``labels`` is then float32 (N, num_classes) multi-hot, ``frame_inds``
    is the key frame for every box, ``track_ids`` are the ``entity_ids`` and ``proposals``
    (when present) go to ``data_sample.proposals``; no ``gt_label`` is set.

    Args:
        meta_keys: Metainfo keys copied when present. ``img_shape``, ``ori_shape``,
            ``scale_factor``, ``pad``, ``flip``, ``video``, ``frame_ids`` and
            ``key_frame_index`` are always set (``video`` from mmaction2's ``video_id``,
            ``frame_ids`` from its ``frame_inds``, the key frame defaults to the centre, as
            mmaction2's ``SampleAVAFrames`` samples it).
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_key', 'video_id', 'timestamp',
                                                    'fps', 'nframes')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        """Pack; see the class docstring."""
        clip = np.stack(results['imgs'])  # (T, H, W, C)
        num_frames = clip.shape[0]
        inputs = torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))
        key_frame_index = int(results.get('key_frame_index', num_frames // 2))

        bboxes = np.asarray(results.get('gt_bboxes', np.zeros((0, 4))), np.float32)
        bboxes = bboxes.reshape(-1, 4)
        num = len(bboxes)
        labels = np.asarray(results.get('gt_labels', np.zeros(0)))
        labels = labels.astype(np.float32 if labels.ndim == 2 else np.int64)
        frame_inds = results.get('gt_frame_inds', np.full(num, key_frame_index))
        track_ids = results.get('gt_track_ids', results.get('entity_ids', np.arange(num)))
        knots = results.get('gt_knots')
        if knots is None:
            knots = box_knots(np.asarray(bboxes, np.float32).reshape(-1, 4))
        data_sample = ActionDataSample()
        data_sample.gt_instances = InstanceData(
            bboxes=torch.from_numpy(bboxes),
            labels=torch.from_numpy(labels),
            frame_inds=torch.from_numpy(np.asarray(frame_inds, np.int64).reshape(num)),
            track_ids=torch.from_numpy(np.asarray(track_ids, np.int64).reshape(num)),
            knots=torch.from_numpy(np.asarray(knots, np.float32)))
        if 'proposals' in results:
            data_sample.proposals = InstanceData(
                bboxes=torch.from_numpy(np.asarray(results['proposals'], np.float32)))
        if 'gt_label' in results:
            data_sample.set_gt_label(int(results['gt_label']))

        frame_ids = results['frame_ids'] if 'frame_ids' in results else results['frame_inds']
        ori_shape = results['ori_shape'] if 'ori_shape' in results else results[
            'original_shape']  # mmaction2's RawFrameDecode sets only the latter
        metainfo = dict(
            video=str(results.get('video', results.get('video_id', ''))),
            frame_ids=[int(f) for f in frame_ids],
            key_frame_index=key_frame_index,
            img_shape=tuple(int(x) for x in results['img_shape']),
            ori_shape=tuple(int(x) for x in ori_shape),
            scale_factor=tuple(float(x) for x in results.get('scale_factor', (1., 1.))),
            pad=tuple(float(x) for x in results.get('pad', (0., 0.))),
            flip=bool(results.get('flip', False)))
        metainfo.update({key: results[key] for key in self.meta_keys if key in results})
        data_sample.set_metainfo(metainfo)
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
