"""Inference API: clip mode and streaming mode agree (also on strided clips), the clips are
the test dataset's, videos of any source, linked tubes."""
import copy
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from point3d_mm.apis import clip_sampling, detect_frames, inference_video, init_detector
from point3d_mm.datasets import clip_frame_ids
from point3d_mm.utils.video import iter_video_frames

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


@pytest.mark.parametrize('mode,frame_batch', [('streaming', 16), ('offline', 16),
                                              ('offline', 5)])
@pytest.mark.slow
def test_cached_modes_equal_clip_mode(model, frames, mode, frame_batch):
    """Streaming and batched offline inference (5: batches that end mid-video) give the
    reference clip mode's detections."""
    clip = detect_frames(model, frames, mode='clip')
    cached = detect_frames(model, frames, mode=mode, frame_batch=frame_batch)
    assert len(clip) > 0 and clip.shape == cached.shape
    clip, stream = sort_rows(clip), sort_rows(cached)
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


@pytest.fixture(scope='module')
def strided_model():
    """The tiny model on clips of every 2nd frame (T = 8 frames spanning 15)."""
    torch.manual_seed(0)
    return init_detector(CONFIG, device='cpu',
                         cfg_options={'model.test_cfg.score_thr': 0.05,
                                      'model.test_cfg.max_per_frame': 20,
                                      'test_dataloader.dataset.frame_interval': 2})


@pytest.mark.slow
def test_streaming_equals_clip_mode_with_a_frame_interval(strided_model, frames):
    # 20 frames: the first 14 clips reach back past frame 1 (clamped), the last ones do not.
    video = frames + frames[:8]
    clip = sort_rows(detect_frames(strided_model, video, mode='clip'))
    for mode in ('streaming', 'offline'):
        stream = sort_rows(detect_frames(strided_model, video, mode=mode, frame_batch=6))
        assert len(clip) > 0 and clip.shape == stream.shape
        np.testing.assert_array_equal(clip[:, :2], stream[:, :2])
        np.testing.assert_allclose(clip[:, 2], stream[:, 2], atol=1e-5)
        np.testing.assert_allclose(clip[:, 3:], stream[:, 3:], atol=1e-3)


@pytest.mark.slow
def test_the_clip_frames_are_those_of_the_test_dataset(strided_model, monkeypatch):
    """Both modes give the model frames t-14, t-12, ..., t (clamped to frame 1), the frames
    ACTDataset loads for key frame t, and say so in the metainfo."""
    clip_len, interval = clip_sampling(strided_model.cfg)
    assert (clip_len, interval) == (8, 2)
    # Frame n is uniformly grey n*10: after preprocessing each clip slot says its frame.
    video = [np.full((48, 64, 3), 10 * n, np.uint8) for n in range(1, 21)]
    preprocessor = strided_model.data_preprocessor
    grey = (torch.arange(1, 21) * 10 - preprocessor.mean[0].item()) / preprocessor.std[0].item()
    seen = {}

    def recording(mode, method, frame_of_slot):
        def wrapper(inputs_or_feats, samples, *args):
            number = samples[0].metainfo['frame_ids'][-1]
            seen[mode, number] = (samples[0].metainfo['frame_ids'],
                                  frame_of_slot(inputs_or_feats))
            return method(inputs_or_feats, samples, *args)
        return wrapper

    def slot_frames_of_inputs(inputs):  # (1, 3, T, H, W) -> the frame number of each slot
        return [int((grey - v).abs().argmin()) + 1 for v in inputs[0, 0, :, 0, 0]]

    frame_feats = []  # streaming: the features of frame n, computed once, in order
    extract = strided_model.extract_frame_feats

    def extract_and_keep(inputs):
        feats = extract(inputs)
        frame_feats.append(feats[-1][0])
        return feats

    def slot_frames_of_feats(feats):  # (1, T, C, h, w) -> the frame whose features each is
        return [next(n for n, f in enumerate(frame_feats, 1) if torch.equal(f, slot))
                for slot in feats[0]]

    with monkeypatch.context() as patch:
        patch.setattr(strided_model, 'predict',
                      recording('clip', strided_model.predict, slot_frames_of_inputs))
        detect_frames(strided_model, video, mode='clip')
    with monkeypatch.context() as patch:
        patch.setattr(strided_model, 'extract_frame_feats', extract_and_keep)
        patch.setattr(strided_model, 'predict_clip_feats', recording(
            'stream', strided_model.predict_clip_feats, slot_frames_of_feats))
        detect_frames(strided_model, video, streaming=True)
    for number in (1, 3, 9, 15, 16, 20):  # clamped at frame 1 up to 14, then not
        expected = clip_frame_ids(number, len(video), clip_len, interval)
        for mode in ('clip', 'stream'):
            frame_ids, used = seen[mode, number]
            assert list(frame_ids) == expected == used, (mode, number)
    assert seen['clip', 3][0] == [1, 1, 1, 1, 1, 1, 1, 3]
    assert seen['clip', 16][0] == [2, 4, 6, 8, 10, 12, 14, 16]


def test_a_clip_len_set_twice_must_agree(model, frames, monkeypatch):
    cfg = copy.deepcopy(model.cfg)  # a shallow copy would change the shared fixture's
    cfg.test_dataloader.dataset.clip_len = 4  # the top-level clip_len stays 8
    monkeypatch.setattr(model, 'cfg', cfg)
    with pytest.raises(ValueError, match=r'point3d_tiny_synthetic\.py.*\(8\).*\(4\)'):
        detect_frames(model, frames[:1])
    cfg.clip_len = 4
    assert clip_sampling(cfg) == (4, 1)


def test_streaming_refuses_a_centred_key_frame(model):
    """Streaming (and export) see no future frame: a config tested on centred clips is
    refused there, not run on other clips than it was tested on."""
    cfg = copy.deepcopy(model.cfg)
    cfg.test_dataloader.dataset.key_frame = 'center'
    with pytest.raises(ValueError, match=r"key frame is the last one.*'center'"):
        clip_sampling(cfg)
    centred = copy.copy(model)  # the same weights under the centred config
    centred.cfg = cfg
    with pytest.raises(ValueError, match=r"streaming inference.*'center'"):
        detect_frames(centred, [np.zeros((32, 32, 3), np.uint8)], mode='streaming')


@pytest.fixture(scope='module')
def centred_model():
    """The strided tiny model on centred clips: key frame t at index 4 of frames
    t-8, t-6, ..., t+6, clamped at both ends of the video."""
    torch.manual_seed(0)
    return init_detector(CONFIG, device='cpu',
                         cfg_options={'model.test_cfg.score_thr': 0.05,
                                      'model.test_cfg.max_per_frame': 20,
                                      'test_dataloader.dataset.frame_interval': 2,
                                      'test_dataloader.dataset.key_frame': 'center'})


@pytest.mark.slow
@pytest.mark.parametrize('frame_batch', [16, 5])
def test_centred_offline_equals_centred_clip_mode(centred_model, frames, frame_batch):
    video = frames + frames[:8]  # 20 frames: clips clamped at the start, the end, or neither
    clip = sort_rows(detect_frames(centred_model, video, mode='clip'))
    offline = sort_rows(detect_frames(centred_model, video, mode='offline',
                                      frame_batch=frame_batch))
    assert len(clip) > 0 and clip.shape == offline.shape
    assert set(clip[:, 0].astype(int)) == set(range(1, 21))  # every frame, once each
    np.testing.assert_array_equal(clip[:, :2], offline[:, :2])
    np.testing.assert_allclose(clip[:, 2], offline[:, 2], atol=1e-5)
    np.testing.assert_allclose(clip[:, 3:], offline[:, 3:], atol=1e-3)


@pytest.mark.slow
def test_centred_clips_are_those_of_the_test_dataset(centred_model, monkeypatch):
    """Each frame's centred clip holds the frames ACTDataset(key_frame='center') loads,
    padded with the first and last frames; frames come out in order, each once."""
    video = [np.full((48, 64, 3), 10 * n, np.uint8) for n in range(1, 21)]
    preprocessor = centred_model.data_preprocessor
    grey = (torch.arange(1, 21) * 10 - preprocessor.mean[0].item()) / preprocessor.std[0].item()
    seen, order = {}, []
    predict = centred_model.predict

    def recording(inputs, samples):
        meta = samples[0].metainfo
        used = [int((grey - v).abs().argmin()) + 1 for v in inputs[0, 0, :, 0, 0]]
        seen[meta['frame_ids'][meta['key_frame_index']]] = (meta['frame_ids'], used)
        return predict(inputs, samples)

    monkeypatch.setattr(centred_model, 'predict', recording)
    detect_frames(centred_model, video, mode='clip',
                  on_frame=lambda number, frame, rows: order.append(number))
    assert order == list(range(1, 21))
    for number in range(1, 21):
        expected = clip_frame_ids(number, len(video), 8, 2, 'center')
        assert seen[number] == (expected, expected), number
    assert seen[1][0] == [1, 1, 1, 1, 1, 3, 5, 7]
    assert seen[12][0] == [4, 6, 8, 10, 12, 14, 16, 18]
    assert seen[17][0] == [9, 11, 13, 15, 17, 19, 20, 20]
