"""protocol='voc' equals mmaction2 1.2.0's MultiSports ``frameAP``/``videoAP``.

mmaction2's ``iou3dt_voc`` is patched for numpy >= 2.3 by ``point3d_mm.utils.compat``
(the ``multisports_utils`` fixture, conftest.py); nothing else of mmaction2's code is changed.
"""
import os.path as osp

import numpy as np
import pytest

from point3d_mm.evaluation.functional import TubeLinker, frame_ap, video_ap
from point3d_mm.utils.safe_pickle import safe_pickle_load


def _random_case(seed: int, num_videos: int = 6, num_classes: int = 4):
    """Random ground truth, frame detections and tubes with continuous (tie-free) scores."""
    rng = np.random.default_rng(seed)
    videos = [f'video_{i}' for i in range(num_videos)]
    gttubes, dets, tubes = {}, [], {}
    for iv, video in enumerate(videos):
        gttubes[video], tubes[video] = {}, []
        for _ in range(rng.integers(1, 4)):
            label = int(rng.integers(num_classes))
            first = int(rng.integers(1, 20))
            length = int(rng.integers(2, 20))
            start = rng.uniform(0, 200, 2)
            size = rng.uniform(20, 80, 2)
            drift = rng.normal(0, 2, 2)
            frames = np.arange(first, first + length)
            xy = start + np.outer(frames - first, drift)
            tube = np.column_stack([frames, xy, xy + size]).astype(np.float32)
            gttubes[video].setdefault(label, []).append(tube)
            for row in tube:
                for _ in range(rng.integers(0, 3)):  # misses and duplicates
                    box = row[1:] + rng.normal(0, 6, 4)
                    dets.append([iv, row[0], label, rng.random(), *box])
                if rng.random() < 0.2:  # the right box with the wrong class
                    dets.append([iv, row[0], rng.integers(num_classes), rng.random(), *row[1:]])
            for _ in range(rng.integers(1, 4)):  # tubes: trimmed, shifted, jittered copies
                lo = int(rng.integers(0, length - 1))
                hi = int(rng.integers(lo + 1, length))
                noisy = tube[lo:hi + 1].astype(np.float64)
                noisy[:, 1:] += rng.normal(0, 4, (len(noisy), 4))
                tubes[video].append((label, float(rng.random()), noisy))
        for _ in range(10):  # false positives
            frame = int(rng.integers(1, 40))
            xy = rng.uniform(0, 250, 2)
            dets.append([iv, frame, rng.integers(num_classes), rng.random(), *xy, *xy + 40])
        first = int(rng.integers(1, 30))
        false_tube = np.column_stack([np.arange(first, first + 8),
                                      np.tile([5, 5, 60, 60], (8, 1))])
        tubes[video].append((int(rng.integers(num_classes)), float(rng.random()), false_tube))
    gt = dict(labels=[f'class {c}' for c in range(num_classes)], gttubes=gttubes,
              test_videos=[videos], nframes={v: 40 for v in videos})
    return gt, np.array(dets, dtype=np.float64), tubes


def _mmaction_tubes(tubes, videos, num_classes):
    per_class = {c: [] for c in range(num_classes)}
    for video in videos:
        for label, score, tube in tubes.get(video, []):
            per_class[label].append((video, score, tube))
    return per_class


@pytest.mark.parametrize('seed', range(4))
def test_random_cases_match_mmaction2(multisports_utils, seed):
    gt, dets, tubes = _random_case(seed)
    videos = gt['test_videos'][0]
    for thr in (0.3, 0.5, 0.7):
        expected = multisports_utils.frameAP(gt, dets, thr, print_info=False) / 100
        ours = frame_ap(gt, dets, videos, iou_thr=thr, protocol='voc')['mAP']
        assert ours == pytest.approx(expected, abs=1e-6), thr
    mm_tubes = _mmaction_tubes(tubes, videos, len(gt['labels']))
    thrs = (0.1, 0.2, 0.3, 0.5, 0.75)
    ours = video_ap(gt, tubes, videos, thrs, protocol='voc', average_thrs=None)
    for thr in thrs:
        expected = multisports_utils.videoAP(gt, mm_tubes, thr, print_info=False) / 100
        assert ours['mAP'][f'{thr:g}'] == pytest.approx(expected, abs=1e-6), thr


def test_multisports_sample_matches_mmaction2(multisports_utils, shared_data):
    """The real MultiSports sample, detections built as mmaction2's MultiSportsMetric does."""
    root = osp.join(shared_data, 'multisports')
    gt = safe_pickle_load(osp.join(root, 'gt.pkl'))
    samples = safe_pickle_load(osp.join(root, 'data_samples_numpy.pkl'))
    videos = gt['test_videos'][0]
    rows = []
    for pred in samples:  # MultiSportsMetric.process + compute_metrics
        video = pred['video_id'].split('.mp4')[0]
        h, w = gt['resolution'][video]
        for bbox, cls_score in zip(pred['pred_instances']['bboxes'],
                                   pred['pred_instances']['scores']):
            label = np.argmax(cls_score)
            bbox = bbox * np.array([w, h, w, h])
            rows.append(np.array([videos.index(video), pred['timestamp'], label,
                                  cls_score[label], *bbox]))
    dets = np.array(rows)
    assert dets.shape == (195, 8)  # 112 key frames
    expected = multisports_utils.frameAP(gt, dets, 0.5, print_info=False) / 100
    ours = frame_ap(gt, dets, videos, iou_thr=0.5, protocol='voc')
    assert ours['mAP'] == pytest.approx(expected, abs=1e-6)
    assert 0 < ours['mAP'] < 1

    # The same tubes (ours, linked from these detections) give the same video-AP.
    tubes = {videos[0]: TubeLinker(protocol='voc')(dets)}
    mm_tubes = _mmaction_tubes(tubes, videos, len(gt['labels']))
    for thr in (0.2, 0.5):
        expected = multisports_utils.videoAP(gt, mm_tubes, thr, print_info=False) / 100
        ours = video_ap(gt, tubes, videos, (thr,), protocol='voc', average_thrs=None)
        assert ours['mAP'][f'{thr:g}'] == pytest.approx(expected, abs=1e-6)
