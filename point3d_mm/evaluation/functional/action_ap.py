"""Frame-AP and video-AP of spatio-temporal action detections (pure numpy).

Two protocols (see ``docs/evaluation_protocols.md``):

* ``'act'`` (default): the ACT evaluation code (Kalogeiton et al. 2017; MOC-Detector's
  ``ACT.py``). Box areas and overlaps with +1, inclusive temporal overlaps. Detections are
  matched greedily by descending score: each takes the best-overlapping ground truth *still
  unmatched*, and a matched ground truth is removed. AP is the trapezoid rule over the
  precision/recall curve that starts at (precision 1, recall 0). Before video-AP, tubes of one
  video and class go through tube NMS at 0.3, as ``ACT.py`` does.
* ``'voc'``: mmaction2 1.2.0's ``multisports_utils.frameAP``/``videoAP``. No +1. Each detection
  looks only at its best-overlapping ground truth; if that one is already matched, the
  detection is a false positive (a duplicate). VOC all-point interpolated AP. Labels that
  mmaction2 skips by name (:data:`MULTISPORTS_SKIPPED_LABELS`) are skipped.

Both protocols leave classes without ground truth in the evaluated videos out of the mean
(their AP is ``nan``), as mmaction2 does; ACT would divide by zero or count them as 0.
Detections with equal scores keep their input order (a stable sort); ACT and mmaction2 use
numpy's default unstable sort there, so ties may be ordered differently.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .nms import tube_nms
from .overlaps import Tube, check_protocol, paired_iou, tube_iou

FRAME_SETS: Tuple[str, str] = ('all', 'annotated')
#: mmaction2's MultiSports evaluation never scores these classes (too few examples).
MULTISPORTS_SKIPPED_LABELS: Tuple[str, ...] = (
    'aerobic kick jump', 'aerobic off axis jump', 'aerobic butterfly jump',
    'aerobic balance turn', 'basketball save', 'basketball jump ball')
#: The thresholds averaged into video-mAP@0.5:0.95, written as ACT writes them.
VIDEO_AVERAGE_THRS: Tuple[float, ...] = tuple(0.5 + 0.05 * i for i in range(10))
#: Tube NMS threshold that ``ACT.py`` applies per video and class before video-AP.
ACT_EVAL_TUBE_NMS_THR = 0.3


def average_precision(is_tp: np.ndarray, num_gt: int, protocol: str = 'act') -> float:
    """AP of a ranked list of detections.

    Args:
        is_tp: (D,) bool, whether each detection, in descending score order, is a true
            positive.
        num_gt: Number of ground-truth instances.
        protocol: ``'act'``: trapezoid rule over the (recall, precision) points, starting
            at (0, 1). ``'voc'``: all-point interpolated AP (precision made monotone,
            summed over recall steps).

    Returns:
        AP in [0, 1]; ``nan`` when ``num_gt`` is 0.
    """
    check_protocol(protocol)
    if num_gt <= 0:
        return float('nan')
    tp = np.cumsum(np.asarray(is_tp, dtype=bool), dtype=np.float64)
    precision = tp / np.arange(1, len(tp) + 1)
    recall = tp / num_gt
    if protocol == 'act':
        p = np.concatenate(([1.0], precision))
        r = np.concatenate(([0.0], recall))
        return float(np.sum(np.diff(r) * (p[1:] + p[:-1]) * 0.5))
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([0.0], precision, [0.0]))
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[steps] - r[steps - 1]) * p[steps]))


def frame_ap(gt: Mapping, detections: np.ndarray, videos: Sequence[str],
             iou_thr: float = 0.5, protocol: str = 'act', frames: str = 'all',
             exclude_labels: Optional[Sequence[str]] = None) -> Dict:
    """Per-class frame-AP and frame-mAP.

    Args:
        gt: ACT ground truth: ``labels`` (class names) and ``gttubes``
            ``{video: {label: [(N, 5) frame, x1, y1, x2, y2]}}``, frames 1-based.
        detections: (D, 8) rows ``video_index, frame, label, score, x1, y1, x2, y2``;
            ``video_index`` indexes ``videos``, ``label`` is 0-based.
        videos: The evaluated videos (a test split). Their ground truth is scored.
        iou_thr: A detection matches a ground-truth box with IoU >= ``iou_thr``.
        protocol: ``'act'`` or ``'voc'`` (module docstring).
        frames: ``'all'`` scores detections on every frame of the videos; ``'annotated'``
            drops detections on frames without any ground-truth box, as YOWO does.
        exclude_labels: Class names left out; ``None`` means none for ``'act'`` and
            :data:`MULTISPORTS_SKIPPED_LABELS` for ``'voc'``.

    Returns:
        dict with ``labels`` (C names), ``ap`` (C,) float64 (``nan`` for excluded classes and
        classes without ground truth), ``mAP`` (mean over the other classes), ``num_gt`` (C,)
        ground-truth boxes and ``num_det`` (C,) scored detections.
    """
    check_protocol(protocol)
    if frames not in FRAME_SETS:
        raise ValueError(f'frames must be one of {FRAME_SETS}, got {frames!r}')
    labels = list(gt['labels'])
    num_classes = len(labels)
    gt_label, gt_video, gt_frame, gt_boxes = _gt_frame_boxes(gt, videos)
    dets = _check_detections(detections, len(videos), num_classes)
    det_frame = dets[:, 1].astype(np.int64)
    det_video = dets[:, 0].astype(np.int64)
    det_label = dets[:, 2].astype(np.int64)

    low = min(gt_frame.min(initial=0), det_frame.min(initial=0))
    span = max(gt_frame.max(initial=0), det_frame.max(initial=0)) - low + 1
    gt_place = gt_video * span + (gt_frame - low)
    det_place = det_video * span + (det_frame - low)
    if frames == 'annotated':
        keep = np.isin(det_place, gt_place)
        dets, det_place, det_label = dets[keep], det_place[keep], det_label[keep]

    rank = np.argsort(-dets[:, 3], kind='stable')
    dets, det_place, det_label = dets[rank], det_place[rank], det_label[rank]
    stride = len(videos) * span
    det_idx, gt_idx, ious = _frame_pairs(det_label * stride + det_place, dets[:, 4:8],
                                         gt_label * stride + gt_place, gt_boxes,
                                         plus_one=protocol == 'act')
    is_tp = _match(det_idx, gt_idx, ious, len(dets), iou_thr, protocol)

    num_gt = np.bincount(gt_label, minlength=num_classes)
    num_det = np.bincount(det_label, minlength=num_classes)
    ap = np.array([average_precision(is_tp[det_label == c], num_gt[c], protocol)
                   for c in range(num_classes)])
    ap[_excluded(labels, protocol, exclude_labels)] = np.nan
    return dict(labels=labels, ap=ap, mAP=_nanmean(ap), num_gt=num_gt, num_det=num_det)


def video_ap(gt: Mapping, tubes: Mapping[str, Sequence[Tube]], videos: Sequence[str],
             iou_thrs: Sequence[float] = (0.1, 0.2, 0.5, 0.75), protocol: str = 'act',
             average_thrs: Optional[Sequence[float]] = VIDEO_AVERAGE_THRS,
             nms_thr: Optional[float] = None,
             exclude_labels: Optional[Sequence[str]] = None) -> Dict:
    """Per-class video-AP and video-mAP at several spatio-temporal IoU thresholds.

    Args:
        gt: ACT ground truth (see :func:`frame_ap`).
        tubes: ``{video: [(label, score, (L, 5) frame, x1, y1, x2, y2), ...]}``, tube rows
            sorted by frame. Videos outside ``videos`` are ignored.
        videos: The evaluated videos (a test split).
        iou_thrs: Thresholds on :func:`tube_iou` reported one by one.
        protocol: ``'act'`` or ``'voc'`` (module docstring).
        average_thrs: Thresholds whose mAPs are averaged into one more entry, named
            ``'<min>:<max>'`` (default 0.5, 0.55, ..., 0.95); ``None`` for none.
        nms_thr: Tube NMS per video and class before matching; ``None`` means the
            protocol's own (0.3 for ``'act'``, none for ``'voc'``); 1.0 disables it.
        exclude_labels: As in :func:`frame_ap`.

    Returns:
        dict with ``labels`` (C names), ``ap`` {threshold name: (C,) float64},
        ``mAP`` {threshold name: float}, ``num_gt`` (C,) ground-truth tubes and ``num_det``
        (C,) scored tubes. Threshold names are ``f'{thr:g}'`` and ``'0.5:0.95'``.
    """
    check_protocol(protocol)
    labels = list(gt['labels'])
    num_classes = len(labels)
    if nms_thr is None:
        nms_thr = ACT_EVAL_TUBE_NMS_THR if protocol == 'act' else 1.0
    gt_tubes = _gt_video_tubes(gt, videos, num_classes)
    det_tubes = _video_detections(tubes, videos, num_classes, nms_thr, protocol)

    thrs = [float(t) for t in iou_thrs]
    average = [float(t) for t in average_thrs] if average_thrs else []
    all_thrs = sorted(set(thrs) | set(average))
    ap = {thr: np.full(num_classes, np.nan) for thr in all_thrs}
    num_gt = np.array([sum(len(g) for g in gt_tubes[c].values()) for c in range(num_classes)])
    num_det = np.array([len(det_tubes[c]) for c in range(num_classes)])
    for c in range(num_classes):
        ranked = sorted(det_tubes[c], key=lambda det: -det[1])
        det_idx, gt_idx, ious = _tube_pairs(ranked, gt_tubes[c], protocol)
        for thr in all_thrs:
            is_tp = _match(det_idx, gt_idx, ious, len(ranked), thr, protocol)
            ap[thr][c] = average_precision(is_tp, num_gt[c], protocol)
    excluded = _excluded(labels, protocol, exclude_labels)
    for values in ap.values():
        values[excluded] = np.nan

    result_ap = {f'{thr:g}': ap[thr] for thr in thrs}
    result_map = {name: _nanmean(values) for name, values in result_ap.items()}
    if average:
        name = f'{min(average):g}:{max(average):g}'
        result_ap[name] = np.mean([ap[thr] for thr in average], axis=0)
        result_map[name] = float(np.mean([_nanmean(ap[thr]) for thr in average]))
    return dict(labels=labels, ap=result_ap, mAP=result_map, num_gt=num_gt, num_det=num_det)


def class_agnostic(gt: Mapping, detections: np.ndarray) -> Tuple[Dict, np.ndarray]:
    """Ground truth and frame detections with every class merged into one, ``'actor'``:
    scoring them with :func:`frame_ap` measures detection alone, whatever the classes.

    A detector that writes a box once per probable class (Point3D's ``classes_per_box``, score
    = centre score × class probability) has those rows merged into one detection (same video,
    frame and coordinates) whose score is the sum of theirs: the centre score times the
    probability mass of the listed classes. An actor annotated with several classes (a tube
    under each) counts once per tube, and ``frame_ap(..., protocol='voc')`` scores the
    merged class, so the MultiSports labels it skips by name count too.

    Args:
        gt: ACT ground truth (see :func:`frame_ap`).
        detections: (D, 8) rows ``video_index, frame, label, score, x1, y1, x2, y2``.

    Returns:
        ``(gt, detections)``: a shallow copy of ``gt`` with ``labels == ['actor']`` and every
        video's tubes under label 0, and the merged (D', 8) detections with label 0, in order
        of their first row.
    """
    merged_gt = dict(gt)
    merged_gt['labels'] = ['actor']
    merged_gt['gttubes'] = {
        video: {0: [tube for label_tubes in tubes.values() for tube in label_tubes]}
        for video, tubes in gt['gttubes'].items()}
    dets = np.asarray(detections, dtype=np.float64).reshape(-1, 8)
    _, first, groups = np.unique(dets[:, [0, 1, 4, 5, 6, 7]], axis=0, return_index=True,
                                 return_inverse=True)
    groups = groups.ravel()
    scores = np.zeros(len(first))
    np.add.at(scores, groups, dets[:, 3])
    order = np.argsort(first, kind='stable')
    merged = dets[first[order]].copy()
    merged[:, 2] = 0
    merged[:, 3] = scores[order]
    return merged_gt, merged


def _gt_frame_boxes(gt: Mapping, videos: Sequence[str]
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flatten ground-truth tubes into boxes: labels, video indices, frames (D,), boxes (D, 4).

    Boxes of one video, frame and label keep the order of their tubes in ``gttubes``, which
    decides ties in IoU as in the reference code.
    """
    parts = []
    for iv, video in enumerate(videos):
        for label, label_tubes in _video_gt(gt, video).items():
            for tube in label_tubes:
                tube = np.asarray(tube, dtype=np.float64).reshape(-1, 5)
                parts.append(np.column_stack([np.full(len(tube), int(label)),
                                              np.full(len(tube), iv), tube]))
    rows = np.concatenate(parts) if parts else np.zeros((0, 7))
    return (rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64),
            rows[:, 2].astype(np.int64), rows[:, 3:7])


def _gt_video_tubes(gt: Mapping, videos: Sequence[str],
                    num_classes: int) -> List[Dict[int, List[np.ndarray]]]:
    """Ground-truth tubes per class: ``[{video_index: [(L, 5) tube, ...]}]``."""
    per_class: List[Dict[int, List[np.ndarray]]] = [{} for _ in range(num_classes)]
    for iv, video in enumerate(videos):
        for label, label_tubes in _video_gt(gt, video).items():
            if label_tubes:
                per_class[int(label)][iv] = [np.asarray(t, dtype=np.float64).reshape(-1, 5)
                                             for t in label_tubes]
    return per_class


def _video_gt(gt: Mapping, video: str) -> Mapping:
    try:
        return gt['gttubes'][video]
    except KeyError:
        raise ValueError(f'video {video!r} is not in the ground truth') from None


def _video_detections(tubes: Mapping[str, Sequence[Tube]], videos: Sequence[str],
                      num_classes: int, nms_thr: float, protocol: str
                      ) -> List[List[Tuple[int, float, np.ndarray]]]:
    """Detected tubes per class, ``[(video_index, score, tube)]``, after per-video tube NMS."""
    per_class: List[List[Tuple[int, float, np.ndarray]]] = [[] for _ in range(num_classes)]
    for iv, video in enumerate(videos):
        by_label: Dict[int, List[Tuple[float, np.ndarray]]] = {}
        for label, score, tube in tubes.get(video, ()):
            if not 0 <= int(label) < num_classes:
                raise ValueError(f'tube label {label} of video {video!r} is outside '
                                 f'[0, {num_classes})')
            by_label.setdefault(int(label), []).append(
                (float(score), np.asarray(tube, dtype=np.float64).reshape(-1, 5)))
        for label, scored in by_label.items():
            keep = range(len(scored))
            if nms_thr < 1.0:
                keep = tube_nms([t for _, t in scored], [s for s, _ in scored], nms_thr,
                                protocol)
            per_class[label].extend((iv, *scored[i]) for i in keep)
    return per_class


def _check_detections(detections: np.ndarray, num_videos: int, num_classes: int) -> np.ndarray:
    dets = np.asarray(detections, dtype=np.float64)
    if dets.size == 0:
        return np.zeros((0, 8))
    if dets.ndim != 2 or dets.shape[1] != 8:
        raise ValueError('detections must be a (D, 8) array of video_index, frame, label, '
                         f'score, x1, y1, x2, y2; got shape {dets.shape}')
    video, label = dets[:, 0].astype(np.int64), dets[:, 2].astype(np.int64)
    if video.min() < 0 or video.max() >= num_videos:
        raise ValueError(f'detection video indices must lie in [0, {num_videos})')
    if label.min() < 0 or label.max() >= num_classes:
        raise ValueError(f'detection labels must lie in [0, {num_classes})')
    return dets


def _frame_pairs(det_keys: np.ndarray, det_boxes: np.ndarray, gt_keys: np.ndarray,
                 gt_boxes: np.ndarray, plus_one: bool
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (detection, ground truth) pairs sharing a key (class, video, frame), with IoUs.

    Returns pairs sorted by detection index, then by decreasing IoU, then by ground-truth
    index, the order in which both protocols consider them.
    """
    gt_order = np.argsort(gt_keys, kind='stable')
    sorted_keys = gt_keys[gt_order]
    start = np.searchsorted(sorted_keys, det_keys, side='left')
    counts = np.searchsorted(sorted_keys, det_keys, side='right') - start
    det_idx = np.repeat(np.arange(len(det_keys)), counts)
    within = np.arange(len(det_idx)) - np.repeat(np.cumsum(counts) - counts, counts)
    gt_idx = gt_order[np.repeat(start, counts) + within]
    ious = paired_iou(det_boxes[det_idx], gt_boxes[gt_idx], plus_one=plus_one)
    order = np.lexsort((gt_idx, -ious, det_idx))
    return det_idx[order], gt_idx[order], ious[order]


def _tube_pairs(ranked: Sequence[Tuple[int, float, np.ndarray]],
                gt_tubes: Mapping[int, Sequence[np.ndarray]], protocol: str
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(detected tube, ground-truth tube) pairs of the same video, ordered as in
    :func:`_frame_pairs`; ground-truth tubes are numbered video by video."""
    first_id, next_id = {}, 0
    for iv, tubes in gt_tubes.items():
        first_id[iv] = next_id
        next_id += len(tubes)
    det_idx, gt_idx, ious = [], [], []
    for d, (iv, _, tube) in enumerate(ranked):
        for g, gt_tube in enumerate(gt_tubes.get(iv, ())):
            det_idx.append(d)
            gt_idx.append(first_id[iv] + g)
            ious.append(tube_iou(gt_tube, tube, protocol))
    det_idx, gt_idx, ious = np.array(det_idx, int), np.array(gt_idx, int), np.array(ious)
    order = np.lexsort((gt_idx, -ious, det_idx))
    return det_idx[order], gt_idx[order], ious[order]


def _match(det_idx: np.ndarray, gt_idx: np.ndarray, ious: np.ndarray, num_det: int,
           iou_thr: float, protocol: str) -> np.ndarray:
    """True positives of ranked detections given their candidate pairs (see ``_frame_pairs``).

    ``'voc'``: a detection's best pair decides; the first detection to claim a ground truth
    with IoU >= ``iou_thr`` is a true positive, later claimants are duplicates.
    ``'act'``: a detection takes its best still-unmatched ground truth with IoU >= ``iou_thr``.
    """
    is_tp = np.zeros(num_det, dtype=bool)
    if protocol == 'voc':
        if len(det_idx) == 0:
            return is_tp
        best = np.flatnonzero(np.r_[True, det_idx[1:] != det_idx[:-1]])
        hit = best[ious[best] >= iou_thr]
        _, first = np.unique(gt_idx[hit], return_index=True)
        is_tp[det_idx[hit[first]]] = True
        return is_tp
    ok = ious >= iou_thr
    matched = set()
    done = -1
    for d, g in zip(det_idx[ok].tolist(), gt_idx[ok].tolist()):
        if d != done and g not in matched:
            matched.add(g)
            is_tp[d] = True
            done = d
    return is_tp


def _excluded(labels: Sequence[str], protocol: str,
              exclude_labels: Optional[Sequence[str]]) -> np.ndarray:
    if exclude_labels is None:
        exclude_labels = MULTISPORTS_SKIPPED_LABELS if protocol == 'voc' else ()
    return np.isin(np.asarray(labels, dtype=object), list(exclude_labels))


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values[~np.isnan(values)].mean()) if np.any(~np.isnan(values)) else float('nan')
