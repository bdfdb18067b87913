"""protocol='act' on the real JHMDB-21 ground truth equals an independent ACT evaluator.

The reference below is written from the ACT evaluation code (Kalogeiton et al., ``ACT.py``
and ``ACT_utils.py``, as shipped by MOC-Detector): per-key dictionaries of remaining ground
truth, a Python loop over detections, +1 areas and the trapezoid AP. It does not call
point3d_mm's evaluation code. Detections and tubes are generated from the ground truth.
"""
import os.path as osp

import numpy as np
import pytest

from point3d_mm.evaluation.functional import frame_ap, video_ap
from point3d_mm.utils.safe_pickle import safe_pickle_load


# ----------------------------------------------------------------- the reference (ACT code)
def ref_iou2d(boxes, box):
    xmin = np.maximum(boxes[:, 0], box[0])
    ymin = np.maximum(boxes[:, 1], box[1])
    xmax = np.minimum(boxes[:, 2] + 1, box[2] + 1)
    ymax = np.minimum(boxes[:, 3] + 1, box[3] + 1)
    overlap = np.maximum(0, xmax - xmin) * np.maximum(0, ymax - ymin)
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    area = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    return overlap / (areas + area - overlap)


def ref_iou3dt(b1, b2):
    tmin, tmax = max(b1[0, 0], b2[0, 0]), min(b1[-1, 0], b2[-1, 0])
    if tmax < tmin:
        return 0.0
    temporal = (tmax - tmin + 1) / (max(b1[-1, 0], b2[-1, 0]) - min(b1[0, 0], b2[0, 0]) + 1)
    t1 = b1[(b1[:, 0] >= tmin) & (b1[:, 0] <= tmax)]
    t2 = b2[(b2[:, 0] >= tmin) & (b2[:, 0] <= tmax)]
    spatial = np.mean([ref_iou2d(t1[i:i + 1, 1:5], t2[i, 1:5])[0] for i in range(len(t1))])
    return spatial * temporal


def ref_nms3dt(tubes, overlap):
    order = np.argsort([score for _, score in tubes], kind='stable')[::-1].tolist()
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if ref_iou3dt(tubes[j][0], tubes[i][0]) <= overlap]
    return keep


def ref_pr_to_ap(pr):
    return np.sum((pr[1:, 1] - pr[:-1, 1]) * (pr[1:, 0] + pr[:-1, 0]) * 0.5)


def ref_frame_map(gt, vlist, alldets, th):
    aps = []
    for ilabel in range(len(gt['labels'])):
        detections = alldets[alldets[:, 2] == ilabel]
        remaining = {}
        for iv, v in enumerate(vlist):
            for tube in gt['gttubes'][v].get(ilabel, []):
                for row in tube:
                    remaining.setdefault((iv, int(row[0])), []).append(row[1:5].tolist())
        remaining = {k: np.array(boxes) for k, boxes in remaining.items()}
        fn = sum(len(g) for g in remaining.values())
        tp = fp = 0
        pr = [(1.0, 0.0)]
        for j in np.argsort(-detections[:, 3], kind='stable'):
            k = (int(detections[j, 0]), int(detections[j, 1]))
            positive = False
            if k in remaining:
                ious = ref_iou2d(remaining[k], detections[j, 4:8])
                amax = np.argmax(ious)
                if ious[amax] >= th:
                    positive = True
                    remaining[k] = np.delete(remaining[k], amax, 0)
                    if remaining[k].size == 0:
                        del remaining[k]
            tp, fn, fp = (tp + 1, fn - 1, fp) if positive else (tp, fn, fp + 1)
            pr.append((tp / (tp + fp), tp / (tp + fn)))
        aps.append(ref_pr_to_ap(np.array(pr)))
    return float(np.mean(aps))


def ref_video_map(gt, vlist, tubes, th):
    aps = []
    for ilabel in range(len(gt['labels'])):
        detections = []
        for v in vlist:
            ltubes = [(t, s) for label, s, t in tubes.get(v, []) if label == ilabel]
            detections += [(v, ltubes[i][1], ltubes[i][0]) for i in ref_nms3dt(ltubes, 0.3)]
        remaining = {v: list(gt['gttubes'][v][ilabel]) for v in vlist
                     if gt['gttubes'][v].get(ilabel)}
        fn = sum(len(g) for g in remaining.values())
        tp = fp = 0
        pr = [(1.0, 0.0)]
        for j in np.argsort(-np.array([d[1] for d in detections]), kind='stable'):
            v, _, tube = detections[j]
            positive = False
            if v in remaining:
                ious = [ref_iou3dt(g, tube) for g in remaining[v]]
                amax = int(np.argmax(ious))
                if ious[amax] >= th:
                    positive = True
                    del remaining[v][amax]
                    if not remaining[v]:
                        del remaining[v]
            tp, fn, fp = (tp + 1, fn - 1, fp) if positive else (tp, fn, fp + 1)
            pr.append((tp / (tp + fp), tp / (tp + fn)))
        aps.append(ref_pr_to_ap(np.array(pr)))
    return float(np.mean(aps))


# ------------------------------------------------------------------------- generated input
def _detections(gt, vlist, rng):
    rows = []
    num_classes = len(gt['labels'])
    for iv, v in enumerate(vlist):
        for label, tubes in gt['gttubes'][v].items():
            for tube in tubes:
                for row in tube[rng.random(len(tube)) < 0.9]:
                    for _ in range(rng.integers(1, 3)):  # a second box is a duplicate
                        box = row[1:5] + rng.normal(0, 8, 4)
                        rows.append([iv, row[0], label, rng.random(), *box])
                    if rng.random() < 0.3:
                        rows.append([iv, row[0], rng.integers(num_classes), rng.random(),
                                     *row[1:5]])
        for _ in range(5):
            xy = rng.uniform(0, 250, 2)
            rows.append([iv, rng.integers(1, gt['nframes'][v] + 1), rng.integers(num_classes),
                         rng.random(), *xy, *xy + rng.uniform(20, 80, 2)])
    return np.array(rows, dtype=np.float64)


def _tubes(gt, vlist, rng):
    tubes = {}
    num_classes = len(gt['labels'])
    for v in vlist:
        tubes[v] = []
        for label, label_tubes in gt['gttubes'][v].items():
            for tube in label_tubes:
                for _ in range(3):
                    lo = int(rng.integers(0, len(tube) // 2))
                    hi = int(rng.integers(len(tube) // 2, len(tube)))
                    noisy = tube[lo:hi + 1].astype(np.float64)
                    noisy[:, 1:] += rng.normal(0, 5, (len(noisy), 4)) + rng.normal(0, 10, 4)
                    tubes[v].append((int(rng.choice([label, rng.integers(num_classes)])),
                                     float(rng.random()), noisy))
    return tubes


@pytest.fixture
def jhmdb(shared_data):
    gt = safe_pickle_load(osp.join(shared_data, 'act', 'JHMDB-GT.pkl'))
    return gt, list(gt['test_videos'][0])


def test_frame_map_equals_reference_act(jhmdb):
    gt, vlist = jhmdb
    dets = _detections(gt, vlist, np.random.default_rng(0))
    assert len(dets) > 10000
    for th in (0.3, 0.5, 0.75):
        ours = frame_ap(gt, dets, vlist, iou_thr=th, protocol='act')
        assert ours['mAP'] == pytest.approx(ref_frame_map(gt, vlist, dets, th), abs=1e-9)
    # Every JHMDB frame is annotated, so 'annotated' scores the same detections.
    annotated = frame_ap(gt, dets, vlist, protocol='act', frames='annotated')
    assert annotated['mAP'] == frame_ap(gt, dets, vlist, protocol='act')['mAP']


def test_video_map_equals_reference_act(jhmdb):
    gt, vlist = jhmdb
    tubes = _tubes(gt, vlist, np.random.default_rng(1))
    thrs = (0.1, 0.2, 0.5, 0.75)
    ours = video_ap(gt, tubes, vlist, thrs, protocol='act')
    for th in thrs:
        expected = ref_video_map(gt, vlist, tubes, th)
        assert ours['mAP'][f'{th:g}'] == pytest.approx(expected, abs=1e-9)
    high = np.mean([ref_video_map(gt, vlist, tubes, 0.5 + 0.05 * i) for i in range(10)])
    assert ours['mAP']['0.5:0.95'] == pytest.approx(high, abs=1e-9)
