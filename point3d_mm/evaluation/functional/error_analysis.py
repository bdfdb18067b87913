"""Why a frame-mAP or video-mAP is what it is: error kinds and the AP gained by fixing each
(pure numpy; the COCO / TIDE error diagnosis, Bolya et al. ECCV 2020, for action boxes and
tubes).

Detections are ranked by descending score (a stable sort) and matched to the ground truth
exactly as :func:`~.action_ap.frame_ap` (boxes, the IoU of :func:`~.overlaps.iou2d`) and
:func:`~.action_ap.video_ap` (tubes, :func:`~.overlaps.tube_iou`, after the protocol's tube
NMS) match them under ``protocol`` (``'act'`` or ``'voc'``), so the analysed AP is theirs.
With ``iou_thr`` (0.5) and ``loc_thr`` (0.1), a detection that is not a true positive gets
exactly one kind, the first of these that applies:

1. ``duplicate``: a ground truth of its class overlaps it with IoU >= ``iou_thr``, but the
   matching gave that ground truth (every such one, for ``'act'``; its best one, for
   ``'voc'``) to a higher-scored detection.
2. ``wrong_class``: a ground truth of another class overlaps it with IoU >= ``iou_thr``.
3. ``localisation``: its best IoU with a ground truth of its class is in
   [``loc_thr``, ``iou_thr``).
4. ``background``: everything else (IoU < ``loc_thr`` with every ground truth of its class,
   and < ``iou_thr`` with every other one).

A ground truth is ``missed`` when no detection is matched to it; there is no score threshold
(every detection counts, as AP ranks every detection), so ``missed`` is ``num_gt - tp``. Of
the missed, ``missed_unexplained`` are those no ``wrong_class`` or ``localisation`` error
points at (its *target*: the best-overlapping ground truth of the other class with IoU >=
``iou_thr``, respectively of its own class), i.e. ground truth that fixing the detections
would not find.

The AP when every error of one kind is fixed (the others left as they are; ranks unchanged):

* ``duplicate``, ``background``: those detections are removed.
* ``localisation``: each such detection, in rank order, takes its target's box: it becomes a
  true positive of the target unless a detection already holds the target, and is removed
  otherwise.
* ``wrong_class``: the same with the target's class; the detection moves to that class.
* ``missed``: the unexplained missed ground truths are removed from the count of ground truth
  (a class left with none drops out of the mean, as classes without ground truth do).

Per-class AP is :func:`~.action_ap.average_precision` of the protocol, the mean is over the
classes with ground truth (and not excluded by name, as in ``frame_ap``); ``dAP`` is the
fixed mAP minus the mAP.

Tubes (video level) split the localisation errors and the missed ground-truth tubes into
*temporal* and *spatial*, by the two factors of ``tube_iou`` = temporal IoU ``t`` × mean
spatial IoU ``s`` over the temporal overlap (``s = tube_iou / t``):

* a localisation error is ``temporal`` when ``t`` is the smaller factor (``t < s``, or
  ``t == 0``), ``spatial`` otherwise, taken against its target;
* a missed ground-truth tube is taken against the detected tube of its class and video with
  the highest tube IoU among those sharing a frame with it: ``temporal`` or ``spatial`` by
  the same rule, ``undetected`` when no detected tube of its class shares a frame with it.
"""
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .action_ap import (
    ACT_EVAL_TUBE_NMS_THR,
    FRAME_SETS,
    average_precision,
    excluded_classes,
    ground_truth_boxes,
    ground_truth_tubes,
    match_ranked,
    mean_over_scored,
)
from .nms import tube_nms
from .overlaps import Tube, check_protocol, paired_iou, tube_iou
from .rows import check_rows

#: Kinds of a detection, in the order of their codes; every kind but the first is an error.
DET_KINDS: Tuple[str, ...] = ('true_positive', 'duplicate', 'wrong_class', 'localisation',
                              'background')
FP_KINDS: Tuple[str, ...] = DET_KINDS[1:]
#: Error kinds whose fix is reported (``fixed_ap``, ``dAP``).
FIXES: Tuple[str, ...] = FP_KINDS + ('missed',)
TP, DUPLICATE, WRONG_CLASS, LOCALISATION, BACKGROUND = range(len(DET_KINDS))
#: The detection kinds whose fix edits detections (``missed`` edits the ground-truth count).
FIX_CODES = {'duplicate': DUPLICATE, 'wrong_class': WRONG_CLASS,
             'localisation': LOCALISATION, 'background': BACKGROUND}
#: Kinds of detections that are not scored: outside the annotated frames, suppressed by NMS.
NOT_SCORED = 'not_scored'
SUPPRESSED = 'suppressed'
#: Defaults of the thresholds (module docstring).
IOU_THR = 0.5
LOC_THR = 0.1


class Pairs(NamedTuple):
    """(detection, ground truth) pairs on the same video (and frame, for boxes), of any
    classes, sorted by detection, then by decreasing IoU, then by ground truth: the order in
    which matching considers them.

    ``det``, ``gt``: (P,) int64 ranked detection and ground-truth indices; ``iou``: (P,)
    float64; ``temporal``: (P,) temporal IoU (tubes; ones for boxes); ``shares_frame``: (P,)
    bool, the pair has a frame in common (tubes; all true for boxes).
    """
    det: np.ndarray
    gt: np.ndarray
    iou: np.ndarray
    temporal: np.ndarray
    shares_frame: np.ndarray


# ------------------------------------------------------------------------ public API
def frame_errors(gt: Mapping, detections: np.ndarray, videos: Sequence[str],
                 iou_thr: float = IOU_THR, loc_thr: float = LOC_THR, protocol: str = 'act',
                 frames: str = 'all', exclude_labels: Optional[Sequence[str]] = None) -> Dict:
    """Error breakdown of frame-AP (module docstring).

    Args:
        gt: ACT ground truth (``labels``, ``gttubes``).
        detections: (D, 8) rows ``video_index, frame, label, score, x1, y1, x2, y2``;
            ``video_index`` indexes ``videos``, ``label`` is 0-based.
        videos: The evaluated videos.
        iou_thr: IoU of a true positive.
        loc_thr: Lowest IoU of a localisation error.
        protocol: ``'act'`` or ``'voc'``, as in ``frame_ap``.
        frames: ``'all'`` or ``'annotated'``, as in ``frame_ap``.
        exclude_labels: As in ``frame_ap``.

    Returns:
        The dict of :func:`_analyse` with ``level='frame'`` and ``det_kind``: (D,) kind name of
        each input row (``'not_scored'`` for rows that ``frames='annotated'`` drops).
    """
    check_protocol(protocol)
    if frames not in FRAME_SETS:
        raise ValueError(f'frames must be one of {FRAME_SETS}, got {frames!r}')
    labels = list(gt['labels'])
    gt_label, gt_video, gt_frame, gt_boxes = ground_truth_boxes(gt, videos)
    dets = check_rows(detections, len(videos), len(labels))
    gt_key, det_key = frame_keys(np.column_stack([gt_video, gt_frame]),
                                 dets[:, :2].astype(np.int64))
    scored = np.isin(det_key, gt_key) if frames == 'annotated' else np.ones(len(dets), bool)
    origin = np.flatnonzero(scored)
    origin = origin[np.argsort(-dets[origin, 3], kind='stable')]
    pairs = frame_box_pairs(det_key[origin], dets[origin, 4:8], gt_key, gt_boxes,
                            plus_one=protocol == 'act')
    result = _analyse(dets[origin, 2].astype(np.int64), gt_label, pairs, labels, iou_thr,
                      loc_thr, protocol, exclude_labels)
    det_kind = np.full(len(dets), NOT_SCORED, dtype=object)
    det_kind[origin] = np.asarray(DET_KINDS, dtype=object)[result.pop('kind_code')]
    del result['target'], result['matched']
    result.update(level='frame', frames=frames, det_kind=det_kind)
    return result


def video_errors(gt: Mapping, tubes: Mapping[str, Sequence[Tube]], videos: Sequence[str],
                 iou_thr: float = IOU_THR, loc_thr: float = LOC_THR, protocol: str = 'act',
                 nms_thr: Optional[float] = None,
                 exclude_labels: Optional[Sequence[str]] = None) -> Dict:
    """Error breakdown of video-AP at one threshold, with the temporal/spatial split.

    Args:
        gt: ACT ground truth.
        tubes: ``{video: [(label, score, (L, 5) frame, x1, y1, x2, y2), ...]}``; videos
            outside ``videos`` are ignored.
        videos: The evaluated videos.
        iou_thr: Tube IoU of a true positive.
        loc_thr: Lowest tube IoU of a localisation error.
        protocol: ``'act'`` or ``'voc'``, as in ``video_ap``.
        nms_thr: Tube NMS per video and class; ``None`` means the protocol's, as in
            ``video_ap``.
        exclude_labels: As in ``video_ap``.

    Returns:
        The dict of :func:`_analyse` with ``level='video'``, the counts
        ``localisation_temporal``, ``localisation_spatial``, ``missed_temporal``,
        ``missed_spatial``, ``missed_undetected`` added, and ``det_kind``:
        ``{video: [kind name of each input tube]}`` (``'suppressed'`` for tubes removed by
        NMS) for the evaluated videos.
    """
    check_protocol(protocol)
    labels = list(gt['labels'])
    if nms_thr is None:
        nms_thr = ACT_EVAL_TUBE_NMS_THR if protocol == 'act' else 1.0
    gt_tubes, gt_label, gt_video = ground_truth_tubes(gt, videos)
    det_label, det_score, det_video, det_tubes, det_origin = _det_tubes(
        tubes, videos, len(labels), nms_thr, protocol)
    rank = np.argsort(-det_score, kind='stable')
    det_tubes = [det_tubes[i] for i in rank]
    pairs = _tube_pairs(det_video[rank], det_tubes, gt_video, gt_tubes, protocol)
    result = _analyse(det_label[rank], gt_label, pairs, labels, iou_thr, loc_thr, protocol,
                      exclude_labels)
    codes = result.pop('kind_code')
    result['counts'].update(_tube_splits(pairs, codes, result.pop('target'),
                                         result.pop('matched'), det_label[rank], gt_label,
                                         len(labels)))
    det_kind = {video: [SUPPRESSED] * len(tubes.get(video, ())) for video in videos}
    for i, code in zip(rank.tolist(), codes.tolist()):
        video, position = det_origin[i]
        det_kind[video][position] = DET_KINDS[code]
    result.update(level='video', det_kind=det_kind)
    return result


def summarise(result: Dict) -> Dict:
    """A JSON-ready summary of :func:`frame_errors` / :func:`video_errors`: settings,
    ``per_class`` rows and an ``overall`` row, APs as fractions, ``nan`` as ``None``."""
    labels = result['labels']
    per_class = []
    for c, label in enumerate(labels):
        per_class.append(dict(
            label=str(label), num_gt=int(result['num_gt'][c]),
            num_det=int(result['num_det'][c]), ap=_plain(result['ap'][c]),
            counts={k: int(v[c]) for k, v in result['counts'].items()},
            fixed_ap={k: _plain(v[c]) for k, v in result['fixed_ap'].items()},
            dAP={k: _plain(v[c] - result['ap'][c]) for k, v in result['fixed_ap'].items()}))
    overall = dict(
        num_gt=int(np.sum(result['num_gt'])), num_det=int(np.sum(result['num_det'])),
        mAP=_plain(result['mAP']),
        counts={k: int(np.sum(v)) for k, v in result['counts'].items()},
        fixed_mAP={k: _plain(v) for k, v in result['fixed_mAP'].items()},
        dAP={k: _plain(v) for k, v in result['dAP'].items()})
    settings = {k: result[k] for k in ('level', 'protocol', 'iou_thr', 'loc_thr', 'frames')
                if k in result}
    return dict(settings, per_class=per_class, overall=overall)


# -------------------------------------------------------------- the shared analysis
def _analyse(det_label: np.ndarray, gt_label: np.ndarray, pairs: Pairs, labels: List[str],
             iou_thr: float, loc_thr: float, protocol: str,
             exclude_labels: Optional[Sequence[str]]) -> Dict:
    """Match, classify and fix ranked detections (module docstring).

    Args:
        det_label: (D,) classes of the detections, in rank order.
        gt_label: (G,) classes of the ground truths.
        pairs: Overlapping (detection, ground truth) pairs of any classes.

    Returns:
        dict with ``labels``, ``protocol``, ``iou_thr``, ``loc_thr``; ``num_gt``, ``num_det``
        (C,); ``counts`` {``tp``, every FP kind, ``missed``, ``missed_unexplained``: (C,)
        int64}, detections counted in their own class; ``ap`` (C,) and ``mAP``;
        ``fixed_ap`` {fix: (C,)}, ``fixed_mAP`` and ``dAP`` {fix: float}; and, for the
        caller, ``kind_code`` (D,), ``target`` (D,) and ``matched`` (D,) ground-truth index
        or -1.
    """
    num_classes = len(labels)
    same = det_label[pairs.det] == gt_label[pairs.gt]
    matched = match_ranked(pairs.det[same], pairs.gt[same], pairs.iou[same], len(det_label),
                           iou_thr, protocol)
    kind, target = _classify(pairs, same, matched, iou_thr, loc_thr)
    num_gt = np.bincount(gt_label, minlength=num_classes)
    excluded = excluded_classes(labels, protocol, exclude_labels)

    counts = {'tp': np.bincount(det_label[kind == TP], minlength=num_classes)}
    for code, name in enumerate(DET_KINDS[1:], start=1):
        counts[name] = np.bincount(det_label[kind == code], minlength=num_classes)
    unexplained = _unexplained_missed(kind, target, matched, len(gt_label))
    counts['missed'] = num_gt - counts['tp']
    counts['missed_unexplained'] = np.bincount(gt_label[unexplained], minlength=num_classes)

    ap = _class_ap(det_label, matched >= 0, num_gt, protocol, excluded)
    fixed_ap = {}
    for fix in FIX_CODES:
        fixed_label, fixed_tp, keep = _fixed(kind, target, det_label, matched, gt_label,
                                             FIX_CODES[fix])
        fixed_ap[fix] = _class_ap(fixed_label[keep], fixed_tp[keep], num_gt, protocol,
                                  excluded)
    fewer_gt = num_gt - counts['missed_unexplained']
    fixed_ap['missed'] = _class_ap(det_label, matched >= 0, fewer_gt, protocol, excluded)
    m_ap = mean_over_scored(ap)
    fixed_map = {fix: mean_over_scored(values) for fix, values in fixed_ap.items()}
    return dict(labels=labels, protocol=protocol, iou_thr=float(iou_thr),
                loc_thr=float(loc_thr), num_gt=num_gt,
                num_det=np.bincount(det_label, minlength=num_classes), counts=counts,
                ap=ap, mAP=m_ap, fixed_ap=fixed_ap, fixed_mAP=fixed_map,
                dAP={fix: value - m_ap for fix, value in fixed_map.items()},
                kind_code=kind, target=target, matched=matched)


def _classify(pairs: Pairs, same: np.ndarray, matched: np.ndarray, iou_thr: float,
              loc_thr: float) -> Tuple[np.ndarray, np.ndarray]:
    """(D,) kind codes and (D,) target ground truth (-1 for background) of ranked detections.

    Later assignments win, so they run from the last kind of the precedence to the first.
    """
    num_det = len(matched)
    same_iou, same_gt = _best_pair(pairs, same, num_det)
    other_iou, other_gt = _best_pair(pairs, ~same, num_det)
    kind = np.full(num_det, BACKGROUND, dtype=np.int64)
    target = np.full(num_det, -1, dtype=np.int64)
    for code, iou, gt_idx, low in ((LOCALISATION, same_iou, same_gt, loc_thr),
                                   (WRONG_CLASS, other_iou, other_gt, iou_thr),
                                   (DUPLICATE, same_iou, same_gt, iou_thr)):
        hit = (gt_idx >= 0) & (iou >= low)
        kind[hit] = code
        target[hit] = gt_idx[hit]
    tp = matched >= 0
    kind[tp] = TP
    target[tp] = matched[tp]
    return kind, target


def _best_pair(pairs: Pairs, mask: np.ndarray, num_det: int) -> Tuple[np.ndarray, np.ndarray]:
    """(D,) best IoU (0 where none) and (D,) its ground truth (-1) among the pairs in
    ``mask``; pairs are sorted so that a detection's first pair is its best."""
    det, gt_idx, iou = pairs.det[mask], pairs.gt[mask], pairs.iou[mask]
    first = np.r_[True, det[1:] != det[:-1]] if len(det) else np.zeros(0, dtype=bool)
    best_iou = np.zeros(num_det)
    best_gt = np.full(num_det, -1, dtype=np.int64)
    best_iou[det[first]] = iou[first]
    best_gt[det[first]] = gt_idx[first]
    return best_iou, best_gt


def _unexplained_missed(kind: np.ndarray, target: np.ndarray, matched: np.ndarray,
                        num_gt: int) -> np.ndarray:
    """(G,) bool: ground truth neither matched nor the target of a wrong-class or
    localisation error."""
    found = np.zeros(num_gt, dtype=bool)
    found[matched[matched >= 0]] = True
    aimed = np.isin(kind, (WRONG_CLASS, LOCALISATION))
    found[target[aimed]] = True
    return ~found


def _fixed(kind: np.ndarray, target: np.ndarray, det_label: np.ndarray,
           matched: np.ndarray, gt_label: np.ndarray,
           code: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranked detections with every error of kind ``code`` fixed (module docstring).

    Returns:
        (D,) labels, (D,) true-positive flags and (D,) bool of the detections kept.
    """
    label = det_label.copy()
    is_tp = matched >= 0
    keep = np.ones(len(kind), dtype=bool)
    chosen = np.flatnonzero(kind == code)
    if code in (DUPLICATE, BACKGROUND):
        keep[chosen] = False
        return label, is_tp, keep
    held = set(matched[is_tp].tolist())
    for d in chosen.tolist():
        g = int(target[d])
        if g in held:
            keep[d] = False
            continue
        held.add(g)
        is_tp[d] = True
        label[d] = gt_label[g]
    return label, is_tp, keep


def _class_ap(det_label: np.ndarray, is_tp: np.ndarray, num_gt: np.ndarray, protocol: str,
              excluded: np.ndarray) -> np.ndarray:
    """(C,) AP of ranked detections per class; ``nan`` for excluded classes and classes
    without ground truth."""
    ap = np.array([average_precision(is_tp[det_label == c], int(num_gt[c]), protocol)
                   for c in range(len(num_gt))])
    ap[excluded] = np.nan
    return ap


# -------------------------------------------------------------------------- boxes
def frame_keys(gt_place: np.ndarray, det_place: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """One int64 key per (video, frame) of the (G, 2) ground-truth and (D, 2) detection
    places, equal exactly when the places are."""
    low = min(gt_place[:, 1].min(initial=0), det_place[:, 1].min(initial=0))
    span = max(gt_place[:, 1].max(initial=0), det_place[:, 1].max(initial=0)) - low + 1
    return (gt_place[:, 0] * span + gt_place[:, 1] - low,
            det_place[:, 0] * span + det_place[:, 1] - low)


def frame_box_pairs(det_key: np.ndarray, det_boxes: np.ndarray, gt_key: np.ndarray,
                    gt_boxes: np.ndarray, plus_one: bool) -> Pairs:
    """Every (ranked detection, ground-truth box) pair on the same video and frame, of any
    classes, found by sorting and searching rather than by a loop over frames."""
    gt_order = np.argsort(gt_key, kind='stable')
    sorted_keys = gt_key[gt_order]
    start = np.searchsorted(sorted_keys, det_key, side='left')
    counts = np.searchsorted(sorted_keys, det_key, side='right') - start
    det_idx = np.repeat(np.arange(len(det_key)), counts)
    within = np.arange(len(det_idx)) - np.repeat(np.cumsum(counts) - counts, counts)
    gt_idx = gt_order[np.repeat(start, counts) + within]
    ious = paired_iou(det_boxes[det_idx], gt_boxes[gt_idx], plus_one=plus_one)
    return _sorted_pairs([det_idx], [gt_idx], [ious], None, None)


# -------------------------------------------------------------------------- tubes
def _det_tubes(tubes: Mapping[str, Sequence[Tube]], videos: Sequence[str], num_classes: int,
               nms_thr: float, protocol: str):
    """Detected tubes of ``videos`` that survive tube NMS per video and class, in
    ``video_ap``'s order: (T,) labels, (T,) scores, (T,) video indices, T (L, 5) arrays and
    T ``(video, position in its list)`` origins."""
    labels, scores, video_idx, kept_tubes, origins = [], [], [], [], []
    for iv, video in enumerate(videos):
        by_label: Dict[int, List[int]] = {}
        entries = list(tubes.get(video, ()))
        for position, (label, _, _) in enumerate(entries):
            if not 0 <= int(label) < num_classes:
                raise ValueError(f'tube label {label} of video {video!r} is outside '
                                 f'[0, {num_classes}), the ground truth\'s classes')
            by_label.setdefault(int(label), []).append(position)
        for label, positions in by_label.items():
            arrays = [np.asarray(entries[p][2], dtype=np.float64).reshape(-1, 5)
                      for p in positions]
            keep = range(len(positions))
            if nms_thr < 1.0:
                keep = tube_nms(arrays, [float(entries[p][1]) for p in positions], nms_thr,
                                protocol).tolist()
            for k in keep:
                labels.append(label)
                scores.append(float(entries[positions[k]][1]))
                video_idx.append(iv)
                kept_tubes.append(arrays[k])
                origins.append((video, positions[k]))
    return (np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=np.float64),
            np.asarray(video_idx, dtype=np.int64), kept_tubes, origins)


def _tube_pairs(det_video: np.ndarray, det_tubes: List[np.ndarray], gt_video: np.ndarray,
                gt_tubes: List[np.ndarray], protocol: str) -> Pairs:
    """Every (ranked detected tube, ground-truth tube) pair of the same video, any classes,
    with :func:`tube_iou`, the temporal IoU and whether they share a frame."""
    gt_of_video: Dict[int, List[int]] = {}
    for g, iv in enumerate(gt_video.tolist()):
        gt_of_video.setdefault(iv, []).append(g)
    det_idx, gt_idx, ious, temporal, shares = [], [], [], [], []
    for d, iv in enumerate(det_video.tolist()):
        for g in gt_of_video.get(iv, ()):
            det_idx.append(d)
            gt_idx.append(g)
            ious.append(tube_iou(gt_tubes[g], det_tubes[d], protocol))
            t, share = _temporal_iou(gt_tubes[g], det_tubes[d], protocol)
            temporal.append(t)
            shares.append(share)
    return _sorted_pairs([np.asarray(det_idx, dtype=np.int64)],
                         [np.asarray(gt_idx, dtype=np.int64)], [np.asarray(ious, dtype=float)],
                         np.asarray(temporal, dtype=float), np.asarray(shares, dtype=bool))


def _temporal_iou(tube_a: np.ndarray, tube_b: np.ndarray, protocol: str) -> Tuple[float, bool]:
    """Temporal IoU of two tubes with ``tube_iou``'s convention, and whether they share a
    frame span; ``tube_iou`` is this times the mean spatial IoU."""
    if len(tube_a) == 0 or len(tube_b) == 0:
        return 0.0, False
    tmin, tmax = max(tube_a[0, 0], tube_b[0, 0]), min(tube_a[-1, 0], tube_b[-1, 0])
    if tmax < tmin:
        return 0.0, False
    umin, umax = min(tube_a[0, 0], tube_b[0, 0]), max(tube_a[-1, 0], tube_b[-1, 0])
    if protocol == 'act':
        return float((tmax - tmin + 1) / (umax - umin + 1)), True
    return (float((tmax - tmin) / (umax - umin)) if umax > umin else 0.0), True


def _tube_splits(pairs: Pairs, kind: np.ndarray, target: np.ndarray, matched: np.ndarray,
                 det_label: np.ndarray, gt_label: np.ndarray,
                 num_classes: int) -> Dict[str, np.ndarray]:
    """Temporal/spatial split of localisation errors and missed ground-truth tubes (module
    docstring), as (C,) counts: localisation errors in the detection's class, missed tubes
    in the ground truth's."""
    pair_of = {(d, g): p for p, (d, g) in enumerate(zip(pairs.det.tolist(),
                                                        pairs.gt.tolist()))}
    loc = np.flatnonzero(kind == LOCALISATION)
    loc_pairs = np.array([pair_of[(d, int(target[d]))] for d in loc.tolist()], dtype=np.int64)
    loc_temporal = _is_temporal(pairs, loc_pairs)

    missed = np.ones(len(gt_label), dtype=bool)
    missed[matched[matched >= 0]] = False
    same = det_label[pairs.det] == gt_label[pairs.gt]
    candidates = np.flatnonzero(same & pairs.shares_frame & missed[pairs.gt])
    # Best candidate of each missed ground truth: highest IoU, then best-ranked detection.
    candidates = candidates[np.lexsort((pairs.det[candidates], -pairs.iou[candidates],
                                        pairs.gt[candidates]))]
    gts = pairs.gt[candidates]
    best = candidates[np.r_[True, gts[1:] != gts[:-1]]] if len(gts) else candidates
    best_temporal = _is_temporal(pairs, best)
    undetected = missed.copy()
    undetected[pairs.gt[best]] = False

    def count(labels: np.ndarray) -> np.ndarray:
        return np.bincount(labels, minlength=num_classes)

    return dict(localisation_temporal=count(det_label[loc[loc_temporal]]),
                localisation_spatial=count(det_label[loc[~loc_temporal]]),
                missed_temporal=count(gt_label[pairs.gt[best[best_temporal]]]),
                missed_spatial=count(gt_label[pairs.gt[best[~best_temporal]]]),
                missed_undetected=count(gt_label[undetected]))


def _is_temporal(pairs: Pairs, index: np.ndarray) -> np.ndarray:
    """(K,) bool: the temporal IoU is the smaller factor of these pairs' tube IoU."""
    t = pairs.temporal[index]
    spatial = np.divide(pairs.iou[index], t, out=np.zeros_like(t), where=t > 0)
    return (t <= 0) | (t < spatial)


# ------------------------------------------------------------------------ helpers
def _sorted_pairs(det_idx: List[np.ndarray], gt_idx: List[np.ndarray], ious: List[np.ndarray],
                  temporal: Optional[np.ndarray], shares: Optional[np.ndarray]) -> Pairs:
    det = np.concatenate(det_idx).astype(np.int64) if det_idx else np.zeros(0, np.int64)
    gt_idx = np.concatenate(gt_idx).astype(np.int64) if gt_idx else np.zeros(0, np.int64)
    iou = np.concatenate(ious).astype(np.float64) if ious else np.zeros(0)
    temporal = np.ones(len(det)) if temporal is None else temporal
    shares = np.ones(len(det), dtype=bool) if shares is None else shares
    order = np.lexsort((gt_idx, -iou, det))
    return Pairs(det[order], gt_idx[order], iou[order], temporal[order], shares[order])


def _plain(value: float) -> Optional[float]:
    value = float(value)
    return None if np.isnan(value) else value
