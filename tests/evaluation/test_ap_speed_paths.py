"""The shortcuts that make frame-AP and video-AP fast give what the plain computations give:
a stable descending sort, lookups of boxes by video and frame, the order of candidate pairs,
and whole evaluations on crowded frames (against the ACT reference and mmaction2)."""
import numpy as np
import pytest
from test_act_reference import ref_frame_map

from point3d_mm.evaluation.functional import frame_ap, video_ap
from point3d_mm.evaluation.functional.action_ap import (
    _descending_order,
    _order_candidates,
    _place_ranges,
)


def test_descending_order_is_a_stable_sort():
    rng = np.random.default_rng(0)
    for size in (0, 1, 2, 10, 1000):
        values = np.round(rng.normal(size=size), 1)  # many ties
        values[rng.random(size) < 0.05] = np.nan
        values[rng.random(size) < 0.05] = -0.0
        values[rng.random(size) < 0.05] = 0.0
        np.testing.assert_array_equal(_descending_order(values),
                                      np.argsort(-values, kind='stable'))


def test_place_lookup_table_and_binary_search_agree():
    rng = np.random.default_rng(1)
    gt_places = np.sort(rng.integers(0, 50, 30))
    places = rng.integers(0, 50, 200)
    by_table = _place_ranges(gt_places, places, 50)
    by_search = _place_ranges(gt_places, places, 1 << 40)  # too large for a table
    for a, b in zip(by_table, by_search):
        np.testing.assert_array_equal(a, b)
    first, count = by_table
    assert all(np.all(gt_places[f:f + c] == p) for f, c, p in zip(first, count, places))
    assert all(np.sum(gt_places == p) == c for c, p in zip(count, places))


def test_candidates_are_ordered_by_detection_iou_and_ground_truth():
    rng = np.random.default_rng(2)
    det = np.sort(rng.integers(0, 40, 300))
    gt = rng.integers(0, 20, 300)
    order = np.lexsort((gt, det))
    det, gt = det[order], gt[order]
    ious = np.round(rng.random(300), 1)
    expected = np.lexsort((gt, -ious, det))
    got = _order_candidates(det, gt, ious)
    for a, b in zip(got, (det[expected], gt[expected], ious[expected])):
        np.testing.assert_array_equal(a, b)


def _crowded_case(rng, num_videos=5, num_classes=3):
    """Ground truth with up to 3 actors of one class in a frame, and detections with
    duplicates; continuous scores, since the references order tied scores their own way."""
    videos = [f'v{i}' for i in range(num_videos)]
    gttubes, rows = {}, []
    for iv, video in enumerate(videos):
        gttubes[video] = {}
        for k in range(rng.integers(2, 6)):
            label = (iv + (k >= 3)) % num_classes  # up to 3 tubes of one class
            first = int(rng.integers(1, 10))
            frames = np.arange(first, first + int(rng.integers(3, 12)))
            xy = rng.uniform(0, 100, 2) + np.outer(frames - first, rng.normal(0, 3, 2))
            tube = np.column_stack([frames, xy, xy + rng.uniform(30, 60, 2)])
            gttubes[video].setdefault(label, []).append(tube)
            for row in tube:
                for _ in range(rng.integers(0, 3)):
                    rows.append([iv, row[0], label, rng.random(),
                                 *(row[1:] + rng.normal(0, 8, 4))])
        for _ in range(8):
            xy = rng.uniform(0, 150, 2)
            rows.append([iv, rng.integers(1, 20), rng.integers(num_classes),
                         rng.random(), *xy, *xy + 40])
    gt = dict(labels=[f'c{c}' for c in range(num_classes)], gttubes=gttubes,
              test_videos=[videos], nframes={v: 25 for v in videos})
    return gt, np.array(rows, dtype=np.float64)


@pytest.mark.parametrize('seed', range(3))
def test_crowded_frames_match_act_and_mmaction2(multisports_utils, seed):
    gt, dets = _crowded_case(np.random.default_rng(seed))
    videos = gt['test_videos'][0]
    for thr in (0.3, 0.5):
        act = frame_ap(gt, dets, videos, thr, 'act')['mAP']
        assert act == pytest.approx(ref_frame_map(gt, videos, dets, thr), abs=1e-6)
        voc = frame_ap(gt, dets, videos, thr, 'voc')['mAP']
        expected = multisports_utils.frameAP(gt, dets, thr, print_info=False) / 100
        assert voc == pytest.approx(expected, abs=1e-6)


def test_video_ap_of_many_tubes_per_video_and_class_matches_mmaction2(multisports_utils):
    rng = np.random.default_rng(3)
    gt, _ = _crowded_case(rng)
    videos = gt['test_videos'][0]
    tubes, per_class = {}, {c: [] for c in range(len(gt['labels']))}
    for video in videos:
        tubes[video] = []
        for label, label_tubes in gt['gttubes'][video].items():
            for tube in label_tubes:
                for _ in range(3):
                    lo = int(rng.integers(0, len(tube) - 1))
                    noisy = tube[lo:].copy()
                    noisy[:, 1:] += rng.normal(0, 5, (len(noisy), 4))
                    score = float(rng.random())
                    tubes[video].append((label, score, noisy))
                    per_class[label].append((video, score, noisy))
    thrs = (0.2, 0.5, 0.7)
    ours = video_ap(gt, tubes, videos, thrs, 'voc', average_thrs=None)['mAP']
    for thr in thrs:
        expected = multisports_utils.videoAP(gt, per_class, thr, print_info=False) / 100
        assert ours[f'{thr:g}'] == pytest.approx(expected, abs=1e-6)
