"""A corrupt frame in the middle of a video: reported with its number and raised, or (option)
skipped with every other frame keeping its number; never silently dropped or shifted.

Inference (``iter_numbered_frames``/``iter_video_frames``/``detect_frames``, the demo's
``--on-corrupt``) and the dataset's loading (``OpenCVVideoReader``, ``LoadClipFrames``) are
covered. The video is MJPEG (every frame its own JPEG) with frame 10 of 20 zeroed: OpenCV's
decoder fails on it and goes on with frame 11.
"""
import contextlib
import logging

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from reliability_helpers import (
    TINY_CONFIG,
    corrupt_mjpeg_frame,
    frame_number_of,
    write_numbered_video,
)

from point3d_mm.apis import detect_frames, init_detector
from point3d_mm.utils.video import (
    CorruptFrameError,
    OpenCVVideoReader,
    iter_numbered_frames,
    iter_video_frames,
)

BAD = 10
NUM_FRAMES = 20


@contextlib.contextmanager
def logged_warnings():
    """Messages of the warnings mmengine's current logger gets meanwhile."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def shows(frame, number: int) -> bool:
    return (number - 1) % 25 + 1 in frame_number_of(frame)


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp('corrupt')
    clean, bad = str(folder / 'clean.avi'), str(folder / 'bad.avi')
    write_numbered_video(clean, NUM_FRAMES)
    corrupt_mjpeg_frame(clean, bad, BAD)
    return clean, bad


def test_clean_video_frames_are_numbered_in_order(videos):
    pairs = list(iter_numbered_frames(videos[0]))
    assert [n for n, _ in pairs] == list(range(1, NUM_FRAMES + 1))
    assert all(shows(frame, n) for n, frame in pairs)


def test_corrupt_frame_raises_with_its_number(videos):
    with pytest.raises(ValueError, match=rf'bad.avi: frame {BAD} cannot be decoded.*skip'):
        list(iter_numbered_frames(videos[1]))
    # the old behaviour was to stop there silently, as if the video had 14 frames
    with pytest.raises(ValueError, match=f'frame {BAD} cannot be decoded'):
        list(iter_video_frames(videos[1]))


def test_corrupt_frame_skipped_keeps_the_numbers(videos):
    with logged_warnings() as warnings:
        pairs = list(iter_numbered_frames(videos[1], on_corrupt='skip'))
    numbers = [n for n, _ in pairs]
    assert numbers == [n for n in range(1, NUM_FRAMES + 1) if n != BAD]
    assert all(shows(frame, n) for n, frame in pairs)  # frame 11 is frame 11, not 10
    assert len(warnings) == 1 and f'frame {BAD} cannot be decoded' in warnings[0]


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine, 2 spinning threads per process crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_detect_frames_skips_the_frame_without_shifting_the_others(videos, one_thread):
    torch.manual_seed(0)
    # 64x64 input, streaming mode (one backbone pass per frame): a few seconds on 2 cores
    model = init_detector(TINY_CONFIG, cfg_options={'model.test_cfg.max_per_frame': 5,
                                                    'test_pipeline.1.scale': 64})
    clip_len = model.cfg.test_dataloader.dataset.clip_len
    clean = detect_frames(model, videos[0], streaming=True)
    with pytest.raises(ValueError, match=f'frame {BAD} cannot be decoded'):
        detect_frames(model, videos[1], streaming=True)
    skipped = detect_frames(model, videos[1], streaming=True, on_corrupt='skip')
    frames = set(skipped[:, 0].astype(int))
    assert BAD not in frames and frames == set(clean[:, 0].astype(int)) - {BAD}
    # before the bad frame, and once it has left the clip window, the detections are the
    # clean video's: every frame kept its number
    for number in [*range(1, BAD), *range(BAD + clip_len, NUM_FRAMES + 1)]:
        np.testing.assert_array_equal(skipped[skipped[:, 0] == number],
                                      clean[clean[:, 0] == number])


def test_dataset_reader_raises_with_the_number_and_stays_aligned(videos):
    reader = OpenCVVideoReader(videos[1])
    before, across = range(BAD - 5, BAD), range(BAD - 3, BAD + 5)
    assert all(shows(f, n) for n, f in zip(before, reader.read(before)))
    with pytest.raises(CorruptFrameError, match=f'cannot decode frame {BAD} of video file'):
        reader.read(across)
    # the next clips (read forward past the bad frame, or after it) are still aligned
    after = range(BAD + 1, BAD + 9)
    assert all(shows(f, n) for n, f in zip(after, reader.read(after)))
    reader = OpenCVVideoReader(videos[1])
    after = range(BAD + 2, BAD + 10)
    assert all(shows(f, n) for n, f in zip(after, reader.read(after)))


def test_load_clip_frames_skip_option_drops_the_clip(videos):
    from point3d_mm.datasets.transforms import LoadClipFrames
    clip = dict(filename=videos[1], frame_ids=list(range(BAD - 5, BAD + 3)), video='bad')
    with pytest.raises(CorruptFrameError, match=f'frame {BAD}'):
        LoadClipFrames()(dict(clip))
    loader = LoadClipFrames(on_corrupt='skip')
    with logged_warnings() as warnings:
        assert loader(dict(clip)) is None  # mmengine's dataset then draws another clip
    assert len(warnings) == 1 and f'cannot decode frame {BAD}' in warnings[0]
    after = loader(dict(filename=videos[1], frame_ids=list(range(BAD + 1, BAD + 9)),
                        video='bad'))
    assert all(shows(f, n) for n, f in zip(range(BAD + 1, BAD + 9), after['imgs']))
    with pytest.raises(ValueError, match='on_corrupt'):
        LoadClipFrames(on_corrupt='ignore')
