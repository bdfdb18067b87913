"""AVA frame-mAP: mmaction2's ``ava_eval`` on its real test files, and the official cap."""
import csv
import os.path as osp
from collections import defaultdict

import numpy as np
import pytest
import torch
from mmaction.evaluation.functional import ava_eval, ava_utils
from mmaction.registry import METRICS

from point3d_mm.evaluation.metrics.ava_metric import (
    AVAMetricCapped,
    ava_eval_capped,
    cap_detections,
)

# ava_eval averages the classes of each id group; these files have no class in two groups.
pytestmark = pytest.mark.filterwarnings('ignore:Mean of empty slice:RuntimeWarning')


class SerialPool:
    """Stands in for ``multiprocessing.Pool(32)``, which ``ava_eval`` forks on every call:
    on a 2-core runner the forks cost more than the evaluation. ``map`` is the same."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def map(self, func, items):
        return list(map(func, items))


@pytest.fixture(autouse=True)
def serial_ava_eval(monkeypatch):
    monkeypatch.setattr(ava_utils.multiprocessing, 'Pool', SerialPool)


@pytest.fixture
def eval_detection(shared_data):
    root = osp.join(shared_data, 'ava', 'eval_detection')
    return {name: osp.join(root, name) for name in ('gt.csv', 'pred.csv', 'action_list.txt')}


def mmaction2(paths, result_file=None):
    return ava_eval(result_file or paths['pred.csv'], 'mAP', paths['action_list.txt'],
                    paths['gt.csv'], None, verbose=False)


def assert_same(ours, theirs):
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_equal(ours[key], theirs[key])  # NaN == NaN for empty groups


def test_equals_mmaction2_on_its_real_test_files(eval_detection):
    theirs = mmaction2(eval_detection)
    # mmaction2's own test asserts this value for these files.
    np.testing.assert_almost_equal(theirs['overall'], 0.09385522)
    args = (eval_detection['pred.csv'], eval_detection['action_list.txt'],
            eval_detection['gt.csv'])
    assert_same(ava_eval_capped(*args, max_dets_per_frame=None), theirs)
    # At most 10 detections per key frame here: the official cap changes nothing.
    assert_same(ava_eval_capped(*args), theirs)


def test_metric_through_process_and_compute_metrics(eval_detection):
    """Data samples built from pred.csv, as a model would give them, score as pred.csv."""
    frames = defaultdict(lambda: ([], []))
    with open(eval_detection['pred.csv']) as f:
        for video, timestamp, *box, label, score in csv.reader(f):
            scores = np.zeros(4, np.float32)  # column 0: background
            scores[int(label)] = float(score)
            frames[video, int(timestamp)][0].append([float(v) for v in box])
            frames[video, int(timestamp)][1].append(scores)
    samples = [dict(video_id=video, timestamp=timestamp,
                    pred_instances=dict(bboxes=torch.tensor(boxes), scores=torch.tensor(
                        np.stack(scores)))) for (video, timestamp), (boxes, scores)
               in frames.items()]
    metric = METRICS.build(dict(type='AVAMetricCapped', ann_file=eval_detection['gt.csv'],
                                exclude_file=None, label_file=eval_detection['action_list.txt'],
                                num_classes=4))
    assert isinstance(metric, AVAMetricCapped) and metric.max_dets_per_frame == 50
    metric.process([], samples)
    results = metric.compute_metrics(metric.results)
    assert_same(results, mmaction2(eval_detection))


def write_case(tmp_path, gt_rows, det_rows, num_classes=3):
    """Files of a hand-made case: (label map, ground truth, detections)."""
    labels = tmp_path / 'labels.txt'
    labels.write_text(''.join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n'
                              for i in range(1, num_classes + 1)))
    gt, dets = tmp_path / 'gt.csv', tmp_path / 'dets.csv'
    for path, rows in ((gt, gt_rows), (dets, det_rows)):
        with open(path, 'w', newline='') as f:
            csv.writer(f).writerows(rows)
    return str(labels), str(gt), str(dets)


BOX = (0.1, 0.1, 0.5, 0.5)
FAR = (0.6, 0.6, 0.9, 0.9)  # IoU 0 with BOX


def test_cap_changes_results_only_beyond_50_detections_per_key_frame(tmp_path):
    gt = [('v', 902, *BOX, 1, 0)]
    # 55 false positives of score 0.5 (far from the ground truth), then the true positive
    # with the lowest score 0.1.
    dets = [('v', 902, *FAR, 1, 0.5)] * 55 + [('v', 902, *BOX, 1, 0.1)]
    labels, gt_file, det_file = write_case(tmp_path, gt, dets)
    uncapped = ava_eval_capped(det_file, labels, gt_file, max_dets_per_frame=None)
    capped = ava_eval_capped(det_file, labels, gt_file)
    # Uncapped: the true positive is 56th, precision 1/56 at recall 1: AP = 1/56.
    assert uncapped['overall'] == pytest.approx(1 / 56)
    assert_same(uncapped, ava_eval(det_file, 'mAP', labels, gt_file, None, verbose=False))
    # Capped: the 50 kept are all false positives: recall stays 0, AP = 0.
    assert capped['overall'] == 0
    # 49 false positives + the true positive = 50 detections: the cap keeps them all.
    labels, gt_file, det_file = write_case(tmp_path, gt, dets[6:])
    assert ava_eval_capped(det_file, labels, gt_file)['overall'] == pytest.approx(1 / 50)
    assert ava_eval_capped(det_file, labels, gt_file, max_dets_per_frame=None)[
        'overall'] == pytest.approx(1 / 50)


def test_cap_keeps_the_official_rows():
    """The official reader: the top 50 by score; a row replaces the lowest only with a
    strictly higher score, and among equal scores the smallest (action, y1, x1, ...) goes."""
    rows = [['v', '902', '0.1', '0.1', '0.5', '0.5', '1', '0.5'] for _ in range(50)]
    rows.append(['v', '902', '0.1', '0.1', '0.5', '0.5', '2', '0.5'])  # tie: not higher
    rows.append(['v', '902', '0.2', '0.2', '0.5', '0.5', '3', '0.9'])  # evicts one 0.5
    rows.append(['w', '902', '0.2', '0.2', '0.5', '0.5', '4', '0.1'])  # another key frame
    kept = cap_detections(rows, 50, class_whitelist={1, 2, 3})
    assert [row[6] for row in kept] == ['3'] + ['1'] * 49
    assert len(cap_detections(rows, None)) == len(rows)


def test_perfect_detections_score_one(tmp_path):
    gt = [('v', 902, 0.1, 0.1, 0.4, 0.6, 1, 0), ('v', 902, 0.5, 0.2, 0.9, 0.9, 2, 1),
          ('v', 903, 0.2, 0.2, 0.6, 0.8, 2, 0), ('v', 903, 0.2, 0.2, 0.6, 0.8, 3, 0)]
    dets = [(*row[:7], 1.0) for row in gt]
    labels, gt_file, det_file = write_case(tmp_path, gt, dets)
    assert ava_eval_capped(det_file, labels, gt_file)['overall'] == 1.0


def test_hand_computed_case(tmp_path):
    """Two key frames, three classes.

    Class 1: ground truth A (frame 902) and B (frame 903). Detections by score: 0.9 on A
    (TP), 0.8 far from everything in 902 (FP), 0.7 on B (TP). Precision/recall after each:
    (1, 1/2), (1/2, 1/2), (2/3, 1). VOC AP (precision made non-increasing from the right:
    1, 2/3, 2/3): 1/2 * 1 + 1/2 * 2/3 = 5/6.
    Class 2: ground truth C (frame 902); one detection 0.6 far away (FP): AP = 0.
    Class 3: ground truth D (frame 903), no detection: mmaction2's ava_eval leaves a class
    without detections out of the mean (the official evaluation would count it as 0).
    A detection of class 3 in a frame without ground truth (frame 904) is ignored.
    mAP = (5/6 + 0) / 2 = 5/12.
    """
    gt = [('v', 902, *BOX, 1, 0), ('v', 903, *BOX, 1, 0), ('v', 902, *BOX, 2, 0),
          ('v', 903, *FAR, 3, 1)]
    dets = [('v', 902, *BOX, 1, 0.9), ('v', 902, *FAR, 1, 0.8), ('v', 903, *BOX, 1, 0.7),
            ('v', 902, *FAR, 2, 0.6), ('v', 904, *FAR, 3, 0.95)]
    labels, gt_file, det_file = write_case(tmp_path, gt, dets)
    assert ava_eval_capped(det_file, labels, gt_file)['overall'] == pytest.approx(5 / 12)


def test_class_without_ground_truth_is_left_out_of_the_mean(tmp_path):
    """Its AP is NaN (``np.NAN``, which point3d_mm's compat aliases under numpy 2)."""
    gt = [('v', 902, *BOX, 1, 0)]
    dets = [('v', 902, *BOX, 1, 0.9), ('v', 902, *BOX, 2, 0.8)]
    labels, gt_file, det_file = write_case(tmp_path, gt, dets)
    assert ava_eval_capped(det_file, labels, gt_file)['overall'] == 1.0
