"""Inference API: clip mode and streaming mode agree, videos of any source, linked tubes."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from point3d_mm.apis import detect_frames, inference_video, init_detector, iter_video_frames

CONFIG = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
                  'point3d_tiny_synthetic.py')


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    # A higher score threshold keeps the random-init model's output small and away from ties.
    return init_detector(CONFIG, device='cpu',
                         cfg_options={'model.test_cfg.score_thr': 0.05,
                                      'model.test_cfg.max_per_frame': 20})


@pytest.fixture(scope='module')
def frames():
    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, (12, 96, 120, 3), dtype=np.uint8)
    video[:, 30:70, 40:60] = 220  # a bright "actor"
    return list(video)


def sort_rows(rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort((-rows[:, 2], rows[:, 1], rows[:, 0]))]


def test_streaming_equals_clip_mode(model, frames):
    clip = detect_frames(model, frames)
    stream = detect_frames(model, frames, streaming=True)
    assert len(clip) > 0 and clip.shape == stream.shape
    clip, stream = sort_rows(clip), sort_rows(stream)
    np.testing.assert_array_equal(clip[:, :2], stream[:, :2])
    np.testing.assert_allclose(clip[:, 2], stream[:, 2], atol=1e-5)
    np.testing.assert_allclose(clip[:, 3:], stream[:, 3:], atol=1e-3)
    assert set(clip[:, 0].astype(int)) <= set(range(1, len(frames) + 1))
    # Boxes are in the original 120x96 frame's pixels.
    assert clip[:, 3:].min() >= 0 and clip[:, [3, 5]].max() <= 120 and clip[:, [4, 6]].max() <= 96


def test_video_file_and_frame_folder_give_the_same_tubes(model, frames, tmp_path):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i, frame in enumerate(frames, start=1):
        cv2.imwrite(str(folder / f'{i:05d}.png'), frame)
    from_folder = inference_video(model, str(folder))
    from_memory = inference_video(model, frames)
    np.testing.assert_allclose(from_folder['detections'], from_memory['detections'], atol=1e-5)
    assert len(from_folder['tubes']) == len(from_memory['tubes'])
    for label, score, boxes in from_folder['tubes']:
        assert boxes.shape[1] == 5 and np.all(np.diff(boxes[:, 0]) == 1)
    assert from_folder['classes'] == []  # no checkpoint, no class names


def test_missing_and_unreadable_videos_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.mp4'):
        next(iter_video_frames(str(tmp_path / 'nothing.mp4')))
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'not a video at all')
    with pytest.raises(ValueError, match='broken.mp4'):
        list(iter_video_frames(str(bad)))
