"""Greedy non-maximum suppression of boxes and tubes (pure numpy)."""
from typing import Sequence

import numpy as np

from .overlaps import TubeStack, iou2d, run_starts, stacked_tube_iou


def nms2d(boxes: np.ndarray, scores: np.ndarray, iou_thr: float,
          plus_one: bool = False) -> np.ndarray:
    """Greedy NMS of boxes: keep the best box, drop boxes overlapping it by more than ``iou_thr``.

    Args:
        boxes: (N, 4) boxes ``x1, y1, x2, y2``.
        scores: (N,) scores.
        iou_thr: Boxes with IoU > ``iou_thr`` to a kept, higher scored box are dropped.
        plus_one: As in :func:`iou2d`.

    Returns:
        (K,) int64 indices of the kept boxes, best first (ties keep input order).
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind='stable')
    if len(order) <= 1:
        return order.astype(np.int64)
    ious = iou2d(boxes[order], boxes[order], plus_one=plus_one)
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= ious[i] > iou_thr
    return order[keep].astype(np.int64)


def tube_nms(tubes: Sequence[np.ndarray], scores: Sequence[float], iou_thr: float,
             protocol: str = 'act') -> np.ndarray:
    """Greedy NMS of tubes by :func:`tube_iou` (ACT's ``nms3dt``).

    Args:
        tubes: N tubes, each (L, 5) rows ``frame, x1, y1, x2, y2`` sorted by frame.
        scores: (N,) tube scores.
        iou_thr: Tubes with tube IoU > ``iou_thr`` to a kept, higher scored tube are dropped.
        protocol: ``'act'`` or ``'voc'``, as in :func:`tube_iou`.

    Returns:
        (K,) int64 indices of the kept tubes, best first (ties keep input order).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    kept = grouped_tube_nms(TubeStack.of(tubes), scores, np.zeros(len(scores), np.int64),
                            iou_thr, protocol)
    order = np.argsort(-scores, kind='stable')
    return order[kept[order]].astype(np.int64)


def grouped_tube_nms(tubes: TubeStack, scores: np.ndarray, groups: np.ndarray,
                     iou_thr: float, protocol: str = 'act') -> np.ndarray:
    """:func:`tube_nms` within each group of tubes, all groups at once.

    Each round keeps the best remaining tube of every group and drops the tubes of its
    group that overlap it by more than ``iou_thr``, which is the greedy order of
    :func:`tube_nms` with the same tube IoUs.

    Args:
        tubes: N tubes.
        scores: (N,) tube scores.
        groups: (N,) group of each tube.
        iou_thr: As in :func:`tube_nms`.
        protocol: As in :func:`tube_iou`.

    Returns:
        (N,) bool, the kept tubes.
    """
    scores = np.asarray(scores, dtype=np.float64)
    kept = np.zeros(len(scores), dtype=bool)
    remaining = np.lexsort((-scores, groups))  # by group, then best first, ties by index
    while len(remaining):
        is_best = np.zeros(len(remaining), dtype=bool)
        is_best[run_starts(groups[remaining])] = True
        best = remaining[is_best]
        kept[best] = True
        others = remaining[~is_best]
        their_best = best[np.cumsum(is_best)[~is_best] - 1]
        ious = stacked_tube_iou(tubes, tubes, others, their_best, protocol)
        remaining = others[ious <= iou_thr]
    return kept
