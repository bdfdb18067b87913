"""Streaming inference (per-frame feature ring buffer) gives clip mode's detections."""
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
