"""Streaming inference (per-frame feature ring buffer) gives clip mode's detections, also with
a head interval."""
import numpy as np
import pytest
from performance_helpers import assert_same_detections, moving_actor_video, tiny_detector

from point3d_mm.apis import detect_frames


@pytest.mark.slow
@pytest.mark.parametrize('clip_len', [8, 16])
def test_streaming_equals_clip_mode(clip_len):
    """Frames 1..T-1 have padded clips (the first frame repeated, as clip mode clamps the
    frame indices), the last three a full ring buffer that has wrapped around."""
    model = tiny_detector(clip_len)
    frames = moving_actor_video(clip_len + 3)
    clip = detect_frames(model, frames, mode='clip')
    stream = detect_frames(model, frames, streaming=True)
    assert set(clip[:, 0].astype(int)) == set(range(1, len(frames) + 1))
    assert_same_detections(clip, stream, score_atol=1e-5, min_iou=0.999)
    offline = detect_frames(model, frames, frame_batch=4)
    assert_same_detections(clip, offline, score_atol=1e-5, min_iou=0.999)


@pytest.mark.slow
@pytest.mark.parametrize('head_interval', [2, 4])
def test_head_interval_streaming_equals_offline_and_clip_mode(head_interval):
    """With test_cfg.head_interval = k the three modes still agree; the head runs on frames 1,
    1+k, 1+2k, ... only, whose detections are k = 1's, and the frames between differ."""
    clip_len, num_frames = 8, 11
    frames = moving_actor_video(num_frames)
    model = tiny_detector(clip_len, **{'model.test_cfg.head_interval': head_interval})
    head_runs = []
    model.cls_head.register_forward_hook(lambda module, args, out: head_runs.append(len(args[0])))
    stream = detect_frames(model, frames, streaming=True)
    head_frames = list(range(1, num_frames + 1, head_interval))
    assert head_runs == [1] * len(head_frames)
    clip = detect_frames(model, frames, mode='clip')
    assert_same_detections(clip, stream, score_atol=1e-5, min_iou=0.999)
    offline = detect_frames(model, frames, frame_batch=4)
    assert_same_detections(clip, offline, score_atol=1e-5, min_iou=0.999)

    every = detect_frames(tiny_detector(clip_len), frames, streaming=True)
    on_head_frames = np.isin(every[:, 0], head_frames)
    assert_same_detections(every[on_head_frames], stream[np.isin(stream[:, 0], head_frames)],
                           score_atol=1e-5, min_iou=0.999)
    between = [frame for frame in range(1, num_frames + 1) if frame not in head_frames]
    assert any(len(stream[stream[:, 0] == f]) != len(every[every[:, 0] == f])
               or not np.allclose(np.sort(stream[stream[:, 0] == f, 2]),
                                  np.sort(every[every[:, 0] == f, 2]), atol=1e-4)
               for f in between)
