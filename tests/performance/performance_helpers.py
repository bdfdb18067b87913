"""Shared by the performance tests: the tiny detector, a test video and detection matching."""
import os.path as osp
from typing import List, Optional

import numpy as np
import torch
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData
from torch import nn

from point3d_mm.apis import init_detector
from point3d_mm.structures.geometry import box_knots

CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
                  'point3d_tiny_synthetic.py')


def tiny_detector(clip_len: Optional[int] = None, **cfg_options) -> nn.Module:
    """The tiny config's detector, random init (seed 0), on CPU.

    A higher score threshold than the config's keeps the random-init model's output small
    and away from ties, as in tests/apis/test_inference.py. The shape branch's bias makes
    the boxes about 24x24 input pixels: at random init they are points, whose IoU says
    nothing.
    """
    torch.manual_seed(0)
    options = {'model.test_cfg.score_thr': 0.05, 'model.test_cfg.max_per_frame': 20,
               **cfg_options}
    if clip_len is not None:
        # detect_frames reads the test dataset's T; the top-level one must agree with it.
        options['clip_len'] = clip_len
        options['test_dataloader.dataset.clip_len'] = clip_len
    model = init_detector(CONFIG, device='cpu', cfg_options=options)
    with torch.no_grad():
        model.point_head.wh_head[-1].bias.fill_(6.0)  # heatmap pixels, stride 4
    return model


def moving_actor_video(num_frames: int, seed: int = 0) -> List[np.ndarray]:
    """BGR 96x120 noise frames with a bright 'actor' moving right."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 255, (num_frames, 96, 120, 3), dtype=np.uint8)
    for t in range(num_frames):
        video[t, 30:70, 20 + 3 * t:40 + 3 * t] = 220
    return list(video)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M, N) IoU of (M, 4) and (N, 4) boxes x1 y1 x2 y2."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-12)


def assert_same_detections(expected: np.ndarray, actual: np.ndarray, score_atol: float = 1e-5,
                           min_iou: float = 0.999, top: Optional[int] = None) -> None:
    """Every expected detection has an actual one of the same frame and label, with a score
    within ``score_atol`` and a box of IoU >= ``min_iou``.

    Args:
        expected, actual: (D, 7) rows frame, label, score, x1, y1, x2, y2
            (:func:`point3d_mm.apis.detect_frames`).
        score_atol: largest score difference.
        min_iou: smallest box IoU.
        top: check only the ``top`` best expected detections of each frame (for options
            such as bf16 whose rounding may reorder near-tied low scores); None: all of them,
            and both sides must have as many detections per frame.
    """
    assert len(expected) > 0, 'nothing to compare: no expected detection'
    for frame in np.unique(np.concatenate([expected[:, 0], actual[:, 0]])):
        exp = expected[expected[:, 0] == frame]
        act = actual[actual[:, 0] == frame]
        if top is None:
            assert len(exp) == len(act), f'frame {frame:.0f}: {len(exp)} vs {len(act)} detections'
        else:
            exp = exp[np.argsort(-exp[:, 2], kind='stable')[:top]]
        iou = box_iou(exp[:, 3:], act[:, 3:])
        close = ((exp[:, None, 1] == act[None, :, 1]) & (iou >= min_iou) &
                 (np.abs(exp[:, None, 2] - act[None, :, 2]) <= score_atol))
        missing = ~close.any(axis=1)
        assert not missing.any(), (
            f'frame {frame:.0f}: no match for {exp[missing][:3]} (best IoU '
            f'{iou[missing].max(axis=1, initial=0)[:3]})')


def training_batch(model: nn.Module, num_clips: int = 2, clip_len: int = 4,
                   size: int = 64) -> dict:
    """A preprocessed training batch: noise clips with one bright actor box per frame.

    Returns:
        dict: ``inputs`` (B, 3, T, size, size) and ``data_samples`` in the format of
        docs/interfaces.md, from the model's data preprocessor.
    """
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for clip in range(num_clips):
        clip_frames = torch.randint(0, 60, (3, clip_len, size, size), generator=generator,
                                    dtype=torch.uint8)
        boxes = torch.tensor([[8.0 + 2 * t, 12.0, 30.0 + 2 * t, 50.0] for t in range(clip_len)])
        for t, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
            clip_frames[:, t, y1:y2, x1:x2] = 200
        sample = ActionDataSample(metainfo=dict(
            frame_ids=list(range(1, clip_len + 1)), key_frame_index=clip_len - 1,
            img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
            flip=False))
        sample.gt_instances = InstanceData(
            bboxes=boxes, labels=torch.full((clip_len, ), clip), frame_inds=torch.arange(clip_len),
            track_ids=torch.zeros(clip_len, dtype=torch.long), knots=box_knots(boxes))
        sample.set_gt_label(clip)
        inputs.append(clip_frames)
        samples.append(sample)
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
