"""Box and tube overlaps under the two evaluation protocols (pure numpy).

``protocol='act'`` follows the ACT evaluation code (Kalogeiton et al. 2017, reused by
MOC-Detector and YOWO's video evaluation): boxes hold inclusive pixel coordinates, so widths
and heights get +1, and a temporal overlap counts frames inclusively. ``protocol='voc'``
follows mmaction2 1.2.0's ``multisports_utils``: no +1 anywhere, and temporal extents are
``last - first``.
"""
from typing import Tuple

import numpy as np

PROTOCOLS: Tuple[str, str] = ('act', 'voc')

#: An action tube: ``(label, score, (L, 5) rows frame, x1, y1, x2, y2)``, frames consecutive.
Tube = Tuple[int, float, np.ndarray]


def check_protocol(protocol: str) -> None:
    """Raise ``ValueError`` unless ``protocol`` is one of :data:`PROTOCOLS`."""
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')


def iou2d(boxes_a: np.ndarray, boxes_b: np.ndarray, plus_one: bool = False) -> np.ndarray:
    """Pairwise IoU of two sets of boxes.

    Args:
        boxes_a: (N, 4) boxes ``x1, y1, x2, y2``.
        boxes_b: (M, 4) boxes ``x1, y1, x2, y2``.
        plus_one: Treat coordinates as inclusive pixel indices (width ``x2 - x1 + 1``), as the
            ACT protocol does.

    Returns:
        (N, M) float64 IoU matrix. A pair whose union is empty (degenerate boxes) gets 0.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    extra = 1.0 if plus_one else 0.0
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    wh = np.maximum(wh + extra, 0.0)
    inter = wh[..., 0] * wh[..., 1]
    union = _area(a, extra)[:, None] + _area(b, extra)[None, :] - inter
    return _safe_divide(inter, union)


def paired_iou(boxes_a: np.ndarray, boxes_b: np.ndarray, plus_one: bool = False) -> np.ndarray:
    """IoU of corresponding rows of two equally long sets of boxes.

    Args:
        boxes_a: (N, 4) boxes ``x1, y1, x2, y2``.
        boxes_b: (N, 4) boxes ``x1, y1, x2, y2``.
        plus_one: As in :func:`iou2d`.

    Returns:
        (N,) float64 IoU of ``boxes_a[i]`` with ``boxes_b[i]``.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    extra = 1.0 if plus_one else 0.0
    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.maximum(width + extra, 0.0) * np.maximum(height + extra, 0.0)
    return _safe_divide(inter, _area(a, extra) + _area(b, extra) - inter)


def tube_iou(tube_a: np.ndarray, tube_b: np.ndarray, protocol: str = 'act') -> float:
    """Spatio-temporal IoU of two tubes: temporal IoU × mean spatial IoU over the overlap.

    The spatial term averages the per-frame IoU over every frame of the temporal overlap
    ``[max(first), min(last)]``; a frame that one tube lacks (a tube with holes) counts as 0.
    For tubes without holes this is exactly ACT's ``iou3dt`` and mmaction2's ``iou3dt_voc``.

    Args:
        tube_a: (La, 5) rows ``frame, x1, y1, x2, y2``, sorted by frame.
        tube_b: (Lb, 5) rows ``frame, x1, y1, x2, y2``, sorted by frame.
        protocol: ``'act'``: temporal IoU with inclusive frame counts
            ``(tmax - tmin + 1) / (umax - umin + 1)`` and boxes with +1. ``'voc'``:
            ``(tmax - tmin) / (umax - umin)`` (0 when both tubes are the same single frame,
            where mmaction2 divides 0 by 0) and boxes without +1.

    Returns:
        The IoU in [0, 1].
    """
    check_protocol(protocol)
    a = np.asarray(tube_a, dtype=np.float64)
    b = np.asarray(tube_b, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return 0.0
    tmin = max(a[0, 0], b[0, 0])
    tmax = min(a[-1, 0], b[-1, 0])
    if tmax < tmin:
        return 0.0
    umin = min(a[0, 0], b[0, 0])
    umax = max(a[-1, 0], b[-1, 0])
    if protocol == 'act':
        temporal = (tmax - tmin + 1) / (umax - umin + 1)
    elif umax > umin:
        temporal = (tmax - tmin) / (umax - umin)
    else:
        return 0.0
    in_a = a[(a[:, 0] >= tmin) & (a[:, 0] <= tmax)]
    in_b = b[(b[:, 0] >= tmin) & (b[:, 0] <= tmax)]
    _, ia, ib = np.intersect1d(in_a[:, 0], in_b[:, 0], assume_unique=True,
                               return_indices=True)
    ious = paired_iou(in_a[ia, 1:5], in_b[ib, 1:5], plus_one=protocol == 'act')
    spatial = ious.sum() / (tmax - tmin + 1)
    return float(temporal * spatial)


def _area(boxes: np.ndarray, extra: float) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0] + extra) * (boxes[:, 3] - boxes[:, 1] + extra)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)
