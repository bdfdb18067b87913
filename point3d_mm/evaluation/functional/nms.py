"""Greedy non-maximum suppression of boxes and tubes (pure numpy)."""
from typing import Sequence

import numpy as np

from .overlaps import iou2d, tube_iou


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
    remaining = list(np.argsort(-np.asarray(scores, dtype=np.float64), kind='stable'))
    keep = []
    while remaining:
        best = remaining.pop(0)
        keep.append(best)
        remaining = [i for i in remaining
                     if tube_iou(tubes[i], tubes[best], protocol) <= iou_thr]
    return np.asarray(keep, dtype=np.int64)
