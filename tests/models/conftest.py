"""Shared fixtures of the model tests: registry scope, tiny configs and synthetic clips.

The clips are built here directly as tensors and ``ActionDataSample`` s in the format of
docs/interfaces.md, so these tests do not depend on the dataset code.
"""
import copy
import os.path as osp
from typing import Callable, Sequence

import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

import point3d_mm  # noqa: F401  (patches the stack, registers our parts)
from point3d_mm.structures.geometry import box_knots

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread: these models are small, and on a 2-core machine shared with
    other jobs two OpenMP threads spin against each other (20 tiny train steps: 2.4 s with
    one thread, 56 s with two, measured under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_model_cfg() -> dict:
    """The tiny Point3D model config (configs/_base_/models/point3d_tiny.py), a fresh copy."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, '_base_', 'models', 'point3d_tiny.py'))
    return copy.deepcopy(cfg.model.to_dict())


def _draw_clip(boxes: torch.Tensor, frame_inds: torch.Tensor, clip_len: int, size: int,
               generator: torch.Generator) -> torch.Tensor:
    """uint8 (3, T, H, W) noise with a bright, differently coloured rectangle per box."""
    clip = torch.randint(0, 60, (3, clip_len, size, size), generator=generator,
                         dtype=torch.uint8)
    for i, (box, frame) in enumerate(zip(boxes.round().long().tolist(), frame_inds.tolist())):
        x1, y1, x2, y2 = box
        color = torch.tensor([200, 80 + 60 * (i % 3), 255 - 50 * (i % 4)], dtype=torch.uint8)
        clip[:, frame, y1:y2, x1:x2] = color[:, None, None]
    return clip


def make_clips(num_clips: int = 2,
               clip_len: int = 4,
               size: int = 64,
               num_classes: int = 3,
               actors: Sequence[Sequence[float]] = ((4, 6, 24, 40), (34, 20, 64, 64)),
               velocity: float = 2.0,
               scale_factor: float = 0.5,
               seed: int = 0) -> dict:
    """A batch of synthetic clips as the dataloader gives it (before the preprocessor).

    Every clip holds the given actor boxes (x1 y1 x2 y2, input pixels) moving right by
    ``velocity`` px per frame, clipped to the frame (so boxes may touch the border); clip i
    has class ``i % num_classes``; the key frame is the last one; the original frames are
    ``1 / scale_factor`` times larger than the input.
    """
    generator = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for clip_ind in range(num_clips):
        frame_inds = torch.arange(clip_len).repeat_interleave(len(actors))
        track_ids = torch.arange(len(actors)).repeat(clip_len)
        shift = torch.stack([frame_inds * velocity * ((-1)**clip_ind),
                             torch.zeros(len(frame_inds))], dim=1).repeat(1, 2)
        boxes = (torch.tensor(actors, dtype=torch.float32).repeat(clip_len, 1) + shift).clamp(
            0, size)
        label = clip_ind % num_classes
        gt = InstanceData(
            bboxes=boxes,
            labels=torch.full((len(boxes), ), label, dtype=torch.long),
            frame_inds=frame_inds,
            track_ids=track_ids,
            knots=box_knots(boxes))
        sample = ActionDataSample(metainfo=dict(
            video=f'video_{clip_ind}',
            frame_ids=list(range(1, clip_len + 1)),
            key_frame_index=clip_len - 1,
            img_shape=(size, size),
            ori_shape=(round(size / scale_factor), round(size / scale_factor)),
            scale_factor=(scale_factor, scale_factor),
            flip=False))
        sample.gt_instances = gt
        sample.set_gt_label(label)
        samples.append(sample)
        inputs.append(_draw_clip(boxes, frame_inds, clip_len, size, generator))
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture
def clip_factory() -> Callable[..., dict]:
    """:func:`make_clips`."""
    return make_clips
