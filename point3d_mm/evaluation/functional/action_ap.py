"""Frame-AP and video-AP of spatio-temporal action detections (pure numpy).

Three protocols (see ``docs/evaluation_protocols.md``); ``'yowov3'`` is frame-AP only:

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
* ``'yowov3'``: YOWOv3's ``scripts/ucf_eval.py`` with ``evaluator/eval.py`` ``compute_ap``
  (YOLO-style, as YOWOFormer reports too). No +1. Matching per frame over the IoU
  matrix (ultralytics' rule): each detection takes its best-overlapping ground truth of its
  class with IoU >= the threshold, and of the detections that take one ground truth the
  highest-scored is the true positive, the others false positives. That is ``'voc'``'s
  matching without a score-ordered loop; only ties in IoU or score may be broken
  differently. Where it differs from ``'voc'``: (1) AP: the curve is padded with (recall 0,
  precision 1) and (recall 1, precision 0), its precision envelope taken and integrated
  with the trapezoid rule over the recall points, so while recall stays below 1 the last
  segment adds the triangle ``(1 - recall) * precision / 2`` (VOC adds nothing there); a
  class with ground truth and no detection scores 0. (2) Ground truth on a frame where the
  detector returned no box at all is not counted (YOWOv3 appends no targets for such a
  frame). (3) No class is skipped by name. YOWOv3 scores only the frames of its test list
  (annotated key frames): ``frames='annotated'`` is its setting.

All protocols leave classes without ground truth in the evaluated videos out of the mean
(their AP is ``nan``), as mmaction2 does; ACT would divide by zero or count them as 0.
Detections with equal scores keep their input order (a stable sort); ACT and mmaction2 use
numpy's default unstable sort there, so ties may be ordered differently.
"""
import numbers
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .nms import grouped_tube_nms
from .overlaps import (
    PROTOCOLS,
    Tube,
    TubeStack,
    check_protocol,
    group_ranks,
    paired_iou,
    run_starts,
    run_stops,
    stacked_tube_iou,
)
from .rows import check_rows

FRAME_SETS: Tuple[str, str] = ('all', 'annotated')
#: Protocols of frame-AP: those of video-AP (:data:`~.overlaps.PROTOCOLS`) and YOWOv3's.
FRAME_PROTOCOLS: Tuple[str, ...] = PROTOCOLS + ('yowov3',)
#: mmaction2's MultiSports evaluation never scores these classes (too few examples).
MULTISPORTS_SKIPPED_LABELS: Tuple[str, ...] = (
    'aerobic kick jump', 'aerobic off axis jump', 'aerobic butterfly jump',
    'aerobic balance turn', 'basketball save', 'basketball jump ball')
#: The spatio-temporal IoU thresholds of the video-mAPs that ACT, MOC and YOWO report.
VIDEO_THRS: Tuple[float, ...] = (0.1, 0.2, 0.5, 0.75)
#: The thresholds averaged into video-mAP@0.5:0.95, written as ACT writes them.
VIDEO_AVERAGE_THRS: Tuple[float, ...] = tuple(0.5 + 0.05 * i for i in range(10))
#: Tube NMS threshold that ``ACT.py`` applies per video and class before video-AP.
ACT_EVAL_TUBE_NMS_THR = 0.3


def check_iou_thresholds(name: str, thresholds: Sequence[float]) -> None:
    """Raise one ``ValueError`` naming ``name`` unless every threshold is a number in [0, 1]
    (above 1 nothing would match, and below 0 everything would)."""
    wrong = [t for t in thresholds
             if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 <= t <= 1]
    if wrong or isinstance(thresholds, (str, bytes)):
        raise ValueError(f'{name} must be IoU thresholds in [0, 1]; got {list(thresholds)!r}')


def average_precision(is_tp: np.ndarray, num_gt: int, protocol: str = 'act') -> float:
    """AP of a ranked list of detections.

    Args:
        is_tp: (D,) bool, whether each detection, in descending score order, is a true
            positive.
        num_gt: Number of ground-truth instances.
        protocol: ``'act'``: trapezoid rule over the (recall, precision) points, starting
            at (0, 1). ``'voc'``: all-point interpolated AP (precision made monotone,
            summed over recall steps). ``'yowov3'``: the points padded with (0, 1) and
            (1, 0), precision made monotone, trapezoid rule; 0 without detections.

    Returns:
        AP in [0, 1]; ``nan`` when ``num_gt`` is 0.
    """
    _check_frame_protocol(protocol)
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
    p = np.concatenate(([1.0 if protocol == 'yowov3' else 0.0], precision, [0.0]))
    p = np.maximum.accumulate(p[::-1])[::-1]
    if protocol == 'yowov3':
        return float(np.sum(np.diff(r) * (p[1:] + p[:-1]) * 0.5)) if len(tp) else 0.0
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
        protocol: ``'act'``, ``'voc'`` or ``'yowov3'`` (module docstring).
        frames: ``'all'`` scores detections on every frame of the videos; ``'annotated'``
            drops detections on frames without any ground-truth box, as YOWO and YOWOv3 do.
        exclude_labels: Class names left out; ``None`` means
            :data:`MULTISPORTS_SKIPPED_LABELS` for ``'voc'``, none for the others.

    Returns:
        dict with ``labels`` (C names), ``ap`` (C,) float64 (``nan`` for excluded classes and
        classes without ground truth), ``mAP`` (mean over the other classes), ``num_gt`` (C,)
        ground-truth boxes and ``num_det`` (C,) scored detections.
    """
    _check_frame_protocol(protocol)
    if frames not in FRAME_SETS:
        raise ValueError(f'frames must be one of {FRAME_SETS}, got {frames!r}')
    check_iou_thresholds('iou_thr', [iou_thr])
    labels = list(gt['labels'])
    num_classes = len(labels)
    gt_label, gt_video, gt_frame, gt_boxes = ground_truth_boxes(gt, videos)
    dets = check_rows(detections, len(videos), num_classes)
    det_video, det_frame, det_label = (dets[:, i].astype(np.int64) for i in range(3))

    low = min(gt_frame.min(initial=0), det_frame.min(initial=0))
    span = max(gt_frame.max(initial=0), det_frame.max(initial=0)) - low + 1
    num_places = len(videos) * span
    gt_place = gt_video * span + (gt_frame - low)
    det_place = det_video * span + (det_frame - low)
    gt_order = np.argsort(gt_place, kind='stable')
    gt_first, gt_count = _place_ranges(gt_place[gt_order], det_place, num_places)
    if frames == 'annotated':
        keep = gt_count > 0
        dets, det_label, gt_first, gt_count = (a[keep] for a in (dets, det_label, gt_first,
                                                                 gt_count))

    rank = _descending_order(dets[:, 3])
    det_label = det_label[rank]
    det_idx, gt_idx = _same_class_pairs(det_label, gt_first[rank], gt_count[rank], gt_order,
                                        gt_label)
    ious = paired_iou(dets[rank[det_idx], 4:8], gt_boxes[gt_idx], plus_one=protocol == 'act')
    det_idx, gt_idx, ious = _order_candidates(det_idx, gt_idx, ious)
    is_tp = match_ranked(det_idx, gt_idx, ious, len(dets), iou_thr, protocol) >= 0

    counted = np.ones(len(gt_label), dtype=bool)
    if protocol == 'yowov3':  # ground truth of a frame without any detection is not counted
        detected = np.zeros(num_places, dtype=bool)
        detected[det_place] = True
        counted = detected[gt_place]
    num_gt = np.bincount(gt_label[counted], minlength=num_classes)
    num_det = np.bincount(det_label, minlength=num_classes)
    by_class = _by_class(det_label, num_classes)
    ap = np.array([average_precision(is_tp[members], num_gt[c], protocol)
                   for c, members in enumerate(by_class)])
    ap[excluded_classes(labels, protocol, exclude_labels)] = np.nan
    return dict(labels=labels, ap=ap, mAP=mean_over_scored(ap), num_gt=num_gt, num_det=num_det)


def video_ap(gt: Mapping, tubes: Mapping[str, Sequence[Tube]], videos: Sequence[str],
             iou_thrs: Sequence[float] = VIDEO_THRS, protocol: str = 'act',
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
    check_iou_thresholds('iou_thrs', iou_thrs)
    check_iou_thresholds('average_thrs', average_thrs or ())
    labels = list(gt['labels'])
    num_classes = len(labels)
    if nms_thr is None:
        nms_thr = ACT_EVAL_TUBE_NMS_THR if protocol == 'act' else 1.0
    gt_tubes, gt_label, gt_video = _gt_tube_stack(gt, videos)
    dets = _DetectedTubes(tubes, videos, num_classes, nms_thr, protocol)

    thrs = [float(t) for t in iou_thrs]
    average = [float(t) for t in average_thrs] if average_thrs else []
    all_thrs = sorted(set(thrs) | set(average))
    num_gt = np.bincount(gt_label, minlength=num_classes)
    num_det = np.bincount(dets.label, minlength=num_classes)
    ap = {thr: np.full(num_classes, np.nan) for thr in all_thrs}
    det_idx, gt_idx, ious = _tube_pairs(dets, gt_tubes, gt_label, gt_video, len(videos),
                                        protocol)
    det_start = np.cumsum(num_det) - num_det
    gt_start = np.cumsum(num_gt) - num_gt
    pair_bounds = np.searchsorted(det_idx, np.append(det_start, len(dets.order)))
    for c in range(num_classes):
        pairs = slice(pair_bounds[c], pair_bounds[c + 1])
        class_det, class_gt = det_idx[pairs] - det_start[c], gt_idx[pairs] - gt_start[c]
        for thr in all_thrs:
            is_tp = match_ranked(class_det, class_gt, ious[pairs], num_det[c], thr, protocol) >= 0
            ap[thr][c] = average_precision(is_tp, num_gt[c], protocol)
    excluded = excluded_classes(labels, protocol, exclude_labels)
    for values in ap.values():
        values[excluded] = np.nan

    result_ap = {f'{thr:g}': ap[thr] for thr in thrs}
    result_map = {name: mean_over_scored(values) for name, values in result_ap.items()}
    if average:
        name = f'{min(average):g}:{max(average):g}'
        result_ap[name] = np.mean([ap[thr] for thr in average], axis=0)
        result_map[name] = float(np.mean([mean_over_scored(ap[thr]) for thr in average]))
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


def ground_truth_tubes(gt: Mapping, videos: Sequence[str]
                       ) -> Tuple[List[np.ndarray], np.ndarray, np.ndarray]:
    """The ground-truth tubes of the videos, video by video in the order of ``gttubes``
    (which decides ties in IoU as in the reference codes): G (L, 5) arrays and their (G,)
    labels and video indices."""
    tubes, labels, video_index = [], [], []
    for iv, video in enumerate(videos):
        for label, label_tubes in _video_gt(gt, video).items():
            for tube in label_tubes:
                tubes.append(np.asarray(tube, dtype=np.float64).reshape(-1, 5))
                labels.append(int(label))
                video_index.append(iv)
    return tubes, np.array(labels, dtype=np.int64), np.array(video_index, dtype=np.int64)


def ground_truth_boxes(gt: Mapping, videos: Sequence[str]
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ground-truth tubes as boxes: labels, video indices, frames (G,), boxes (G, 4), in
    the order of :func:`ground_truth_tubes`."""
    tubes, labels, video_index = ground_truth_tubes(gt, videos)
    lengths = [len(t) for t in tubes]
    rows = np.concatenate(tubes) if tubes else np.zeros((0, 5))
    return (np.repeat(labels, lengths), np.repeat(video_index, lengths),
            rows[:, 0].astype(np.int64), rows[:, 1:5])


def _gt_tube_stack(gt: Mapping, videos: Sequence[str]
                   ) -> Tuple[TubeStack, np.ndarray, np.ndarray]:
    """The ground-truth tubes of the videos by class, then video, then their order in
    ``gttubes``: the tubes and their (G,) labels and video indices."""
    tubes, labels, video_index = ground_truth_tubes(gt, videos)
    order = np.lexsort((np.arange(len(labels)), video_index, labels))
    return TubeStack.of([tubes[i] for i in order.tolist()]), labels[order], video_index[order]


def _video_gt(gt: Mapping, video: str) -> Mapping:
    try:
        return gt['gttubes'][video]
    except KeyError:
        raise ValueError(f'video {video!r} is not in the ground truth') from None


class _DetectedTubes:
    """The detected tubes of the videos after tube NMS per video and class.

    ``tubes`` holds every input tube; ``order`` (K,) indexes the kept ones by class, then by
    decreasing score, ties in input order (videos in the order of ``videos``); ``label``,
    ``score`` and ``video`` (K,) follow ``order``.
    """

    def __init__(self, tubes: Mapping[str, Sequence[Tube]], videos: Sequence[str],
                 num_classes: int, nms_thr: float, protocol: str) -> None:
        arrays, labels, scores, video_index = [], [], [], []
        for iv, video in enumerate(videos):
            for label, score, tube in tubes.get(video, ()):
                if not 0 <= int(label) < num_classes:
                    raise ValueError(f'tube label {label} of video {video!r} is outside '
                                     f'[0, {num_classes})')
                arrays.append(tube)
                labels.append(int(label))
                scores.append(float(score))
                video_index.append(iv)
        self.tubes = TubeStack.of(arrays)
        label = np.array(labels, dtype=np.int64)
        score = np.array(scores, dtype=np.float64)
        video = np.array(video_index, dtype=np.int64)
        kept = np.ones(len(label), dtype=bool)
        if nms_thr < 1.0:
            kept = grouped_tube_nms(self.tubes, score, video * num_classes + label, nms_thr,
                                    protocol)
        order = np.flatnonzero(kept)
        self.order = order[np.lexsort((order, -score[order], label[order]))]
        self.label, self.score, self.video = (a[self.order] for a in (label, score, video))


def _descending_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(-values, kind='stable')``: decreasing values, ties in index order.

    numpy's unstable sort is about twice as fast as its stable one on floats, so sort with
    it and then put each run of equal values back in index order.
    """
    order = np.argsort(-values)
    ranked = values[order]
    tied = (ranked[1:] == ranked[:-1]) | (np.isnan(ranked[1:]) & np.isnan(ranked[:-1]))
    if tied.any():
        in_run = np.zeros(len(order), dtype=bool)
        in_run[1:] |= tied
        in_run[:-1] |= tied
        members = np.flatnonzero(in_run)
        run = np.cumsum(~np.concatenate(([False], tied))[members])
        order[members] = order[members][np.lexsort((order[members], run))]
    return order


def _place_ranges(sorted_places: np.ndarray, places: np.ndarray, num_places: int
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """First index in ``sorted_places`` (G,) of each of ``places`` (D,), and how many there
    are. Places are integers in [0, num_places); a table of that size replaces binary
    searches when it is not much larger than the inputs."""
    if num_places <= 2 * (len(sorted_places) + len(places)) + (1 << 16):
        count = np.bincount(sorted_places, minlength=num_places)
        first = np.cumsum(count) - count
        return first[places], count[places]
    first = np.searchsorted(sorted_places, places, side='left')
    return first, np.searchsorted(sorted_places, places, side='right') - first


def _same_class_pairs(det_label: np.ndarray, gt_first: np.ndarray, gt_count: np.ndarray,
                      gt_order: np.ndarray, gt_label: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """All (detection, ground truth) pairs of the same class, video and frame.

    Args:
        det_label: (D,) label of each ranked detection.
        gt_first, gt_count: (D,) the ground-truth boxes of each detection's video and frame,
            ``gt_order[gt_first:gt_first + gt_count]``.
        gt_order: (G,) ground-truth boxes by video and frame, ties in index order.
        gt_label: (G,) labels of the ground-truth boxes.

    Returns:
        (P,) detection and ground-truth indices, by detection, then by ground truth.
    """
    candidates = np.flatnonzero(gt_count)
    count = gt_count[candidates]
    det_idx = np.repeat(candidates, count)
    gt_idx = gt_order[np.repeat(gt_first[candidates], count) + group_ranks(count)]
    same = det_label[det_idx] == gt_label[gt_idx]
    return det_idx[same], gt_idx[same]


def _order_candidates(det_idx: np.ndarray, gt_idx: np.ndarray, ious: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (P,) sorted by detection and then by ground truth, reordered by detection,
    then by decreasing IoU, then by ground truth: the order in which both protocols
    consider them. Only detections with several candidates move; with two, by a swap."""
    first = run_starts(det_idx)
    size = run_stops(first, len(det_idx)) - first
    order = np.arange(len(det_idx))
    pair = first[size == 2]
    swap = pair[ious[pair + 1] > ious[pair]]
    order[swap], order[swap + 1] = swap + 1, swap
    several = np.flatnonzero(np.repeat(size > 2, size))
    if len(several):
        order[several] = several[np.lexsort((gt_idx[several], -ious[several],
                                             det_idx[several]))]
    return det_idx[order], gt_idx[order], ious[order]


def _tube_pairs(dets: _DetectedTubes, gt_tubes: TubeStack, gt_label: np.ndarray,
                gt_video: np.ndarray, num_videos: int, protocol: str
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(detected tube, ground-truth tube) pairs of the same class and video with their tube
    IoUs, ordered as in :func:`_order_candidates`. Detected tubes are numbered as in
    ``dets.order``, ground-truth tubes as in ``gt_tubes`` (both by class first)."""
    gt_key = gt_label * num_videos + gt_video
    det_key = dets.label * num_videos + dets.video
    first = np.searchsorted(gt_key, det_key, side='left')
    count = np.searchsorted(gt_key, det_key, side='right') - first
    det_idx = np.repeat(np.arange(len(det_key)), count)
    gt_idx = np.repeat(first, count) + group_ranks(count)
    ious = stacked_tube_iou(gt_tubes, dets.tubes, gt_idx, dets.order[det_idx], protocol)
    return _order_candidates(det_idx, gt_idx, ious)


def _by_class(labels: np.ndarray, num_classes: int) -> List[np.ndarray]:
    """Indices of ``labels`` (D,) in [0, num_classes), class by class, each in index order."""
    small = labels.astype(np.uint16) if num_classes <= 1 << 16 else labels
    order = np.argsort(small, kind='stable')  # numpy radix-sorts 16-bit keys: fast
    bounds = np.searchsorted(labels[order], np.arange(num_classes + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(num_classes)]


def match_ranked(det_idx: np.ndarray, gt_idx: np.ndarray, ious: np.ndarray, num_det: int,
                 iou_thr: float, protocol: str) -> np.ndarray:
    """The ground truth matched to each ranked detection given their candidate pairs of the
    same class, ordered by detection, then decreasing IoU (see :func:`_order_candidates`).

    ``'voc'`` and ``'yowov3'``: a detection's best pair decides; the first detection to claim
    a ground truth with IoU >= ``iou_thr`` is a true positive, later claimants are
    duplicates. ``'act'``: a detection takes its best still-unmatched ground truth with IoU
    >= ``iou_thr``.

    Returns:
        (num_det,) int64 index of the matched ground truth, -1 for a false positive.
    """
    matched = np.full(num_det, -1, dtype=np.int64)
    if protocol in ('voc', 'yowov3'):
        if len(det_idx) == 0:
            return matched
        best = np.flatnonzero(np.r_[True, det_idx[1:] != det_idx[:-1]])
        hit = best[ious[best] >= iou_thr]
        _, first = np.unique(gt_idx[hit], return_index=True)
        matched[det_idx[hit[first]]] = gt_idx[hit[first]]
        return matched
    ok = ious >= iou_thr
    taken = set()
    found = matched.tolist()
    for d, g in zip(det_idx[ok].tolist(), gt_idx[ok].tolist()):
        if found[d] < 0 and g not in taken:
            taken.add(g)
            found[d] = g
    return np.asarray(found, dtype=np.int64)


def excluded_classes(labels: Sequence[str], protocol: str,
                     exclude_labels: Optional[Sequence[str]]) -> np.ndarray:
    """(C,) bool, the classes left out of the scores: ``exclude_labels`` by name, by default
    mmaction2's :data:`MULTISPORTS_SKIPPED_LABELS` under ``'voc'`` and none otherwise."""
    if exclude_labels is None:
        exclude_labels = MULTISPORTS_SKIPPED_LABELS if protocol == 'voc' else ()
    return np.isin(np.asarray(labels, dtype=object), list(exclude_labels))


def mean_over_scored(values: np.ndarray) -> float:
    """The mean of the APs that are not ``nan`` (classes scored), ``nan`` when none is."""
    values = np.asarray(values, dtype=np.float64)
    return float(values[~np.isnan(values)].mean()) if np.any(~np.isnan(values)) else float('nan')


def _check_frame_protocol(protocol: str) -> None:
    if protocol not in FRAME_PROTOCOLS:
        raise ValueError(f'protocol must be one of {FRAME_PROTOCOLS}, got {protocol!r}')
