"""Box and tube overlaps under the two evaluation protocols (pure numpy).

``protocol='act'`` follows the ACT evaluation code (Kalogeiton et al. 2017, reused by
MOC-Detector and YOWO's video evaluation): boxes hold inclusive pixel coordinates, so widths
and heights get +1, and a temporal overlap counts frames inclusively. ``protocol='voc'``
follows mmaction2 1.2.0's ``multisports_utils``: no +1 anywhere, and temporal extents are
``last - first``.
"""
from typing import Sequence, Tuple

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
    return _iou(width, height, _area(a, extra), _area(b, extra), extra)


def overlapping_pairs(boxes: np.ndarray, first: np.ndarray, second: np.ndarray,
                      iou_thr: float, plus_one: bool = False
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs ``(first[i], second[i])`` of rows of ``boxes`` whose IoU is at least
    ``iou_thr``, and their IoUs: :func:`paired_iou` of ``boxes[first]`` and
    ``boxes[second]`` (the same floats), filtered.

    Computed on coordinate columns with areas once per box, and with ``iou_thr > 0`` pairs
    apart in x are dropped before the rest is computed: for many pairs of few boxes (the
    links of a path search) that costs far less than gathering (P, 4) boxes twice.

    Args:
        boxes: (N, 4) boxes ``x1, y1, x2, y2``.
        first, second: (P,) row indices into ``boxes``.
        iou_thr: Lowest IoU kept.
        plus_one: As in :func:`iou2d`.

    Returns:
        (K,) the kept ``first`` and ``second`` and their (K,) IoUs, in input order.
    """
    extra = 1.0 if plus_one else 0.0
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k], dtype=np.float64) for k in range(4))
    area = (x2 - x1 + extra) * (y2 - y1 + extra)
    width = np.minimum(x2[first], x2[second]) - np.maximum(x1[first], x1[second])
    if iou_thr > 0:
        near = width + extra > 0
        first, second, width = first[near], second[near], width[near]
    height = np.minimum(y2[first], y2[second]) - np.maximum(y1[first], y1[second])
    iou = _iou(width, height, area[first], area[second], extra)
    ok = iou >= iou_thr
    return first[ok], second[ok], iou[ok]


def _iou(width: np.ndarray, height: np.ndarray, area_a: np.ndarray, area_b: np.ndarray,
         extra: float) -> np.ndarray:
    """IoUs from the overlaps' widths and heights (before ``extra``) and the boxes' areas."""
    inter = np.maximum(width + extra, 0.0) * np.maximum(height + extra, 0.0)
    return _safe_divide(inter, area_a + area_b - inter)


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


class TubeStack:
    """N tubes in one array, for computing many tube IoUs with a few numpy calls.

    Args:
        rows: (R, 5) rows ``frame, x1, y1, x2, y2`` holding the tubes.
        start: (N,) first row of each tube.
        length: (N,) rows of each tube.

    Per tube (N,), ``first``/``last`` frame and ``consecutive``: whether its frames are
    integers stepping by 1 (then a frame's row is found by subtraction).
    """

    def __init__(self, rows: np.ndarray, start: np.ndarray, length: np.ndarray) -> None:
        self.rows = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        self.start = np.asarray(start, dtype=np.int64)
        self.length = np.asarray(length, dtype=np.int64)
        nonempty = self.length > 0
        self.first = np.zeros(len(self.length))
        self.last = np.zeros(len(self.length))
        self.first[nonempty] = self.rows[self.start[nonempty], 0]
        self.last[nonempty] = self.rows[self.start[nonempty] + self.length[nonempty] - 1, 0]
        offset = group_ranks(self.length)
        frames = self.rows[np.repeat(self.start, self.length) + offset, 0]
        off_step = np.bincount(np.repeat(np.arange(len(self.length)), self.length),
                               weights=frames != np.repeat(self.first, self.length) + offset,
                               minlength=len(self.length))
        self.consecutive = nonempty & (np.floor(self.first) == self.first) & (off_step == 0)

    @classmethod
    def of(cls, tubes: Sequence[np.ndarray]) -> 'TubeStack':
        """Stack N tubes, each (L, 5) rows ``frame, x1, y1, x2, y2`` sorted by frame."""
        tubes = [np.asarray(t, dtype=np.float64).reshape(-1, 5) for t in tubes]
        length = np.array([len(t) for t in tubes], dtype=np.int64)
        rows = np.concatenate(tubes) if tubes else np.zeros((0, 5))
        return cls(rows, np.cumsum(length) - length, length)

    def __len__(self) -> int:
        return len(self.length)

    def tube(self, i: int) -> np.ndarray:
        """The (L, 5) tube ``i``."""
        return self.rows[self.start[i]:self.start[i] + self.length[i]]


def stacked_tube_iou(a: TubeStack, b: TubeStack, index_a: np.ndarray, index_b: np.ndarray,
                     protocol: str = 'act') -> np.ndarray:
    """:func:`tube_iou` of many pairs of tubes, the same floats as one call per pair.

    Args:
        a, b: The tubes.
        index_a, index_b: (P,) pairs: tube ``index_a[p]`` of ``a`` with tube ``index_b[p]`` of
            ``b``.
        protocol: As in :func:`tube_iou`.

    Returns:
        (P,) float64 tube IoUs.
    """
    check_protocol(protocol)
    index_a = np.asarray(index_a, dtype=np.int64)
    index_b = np.asarray(index_b, dtype=np.int64)
    out = np.zeros(len(index_a))
    fa, la, fb, lb = a.first[index_a], a.last[index_a], b.first[index_b], b.last[index_b]
    tmin, tmax = np.maximum(fa, fb), np.minimum(la, lb)
    umin, umax = np.minimum(fa, fb), np.maximum(la, lb)
    valid = (a.length[index_a] > 0) & (b.length[index_b] > 0) & ~(tmax < tmin)
    if protocol == 'act':
        temporal = (tmax - tmin + 1) / (umax - umin + 1)
    else:
        valid &= umax > umin
        temporal = np.divide(tmax - tmin, umax - umin, out=np.zeros(len(out)), where=valid)
    fast = valid & a.consecutive[index_a] & b.consecutive[index_b]
    spatial = _consecutive_spatial_iou(a, b, index_a[fast], index_b[fast], tmin[fast],
                                       tmax[fast], protocol == 'act')
    out[fast] = temporal[fast] * spatial
    for p in np.flatnonzero(valid & ~fast).tolist():
        out[p] = tube_iou(a.tube(index_a[p]), b.tube(index_b[p]), protocol)
    return out


def _consecutive_spatial_iou(a: TubeStack, b: TubeStack, index_a: np.ndarray,
                             index_b: np.ndarray, tmin: np.ndarray, tmax: np.ndarray,
                             plus_one: bool) -> np.ndarray:
    """(P,) mean box IoU over frames ``tmin..tmax`` of pairs of consecutive tubes.

    Pairs with equally long overlaps are summed as the rows of one matrix, which numpy
    sums like the lone array :func:`tube_iou` sums.
    """
    length = (tmax - tmin).astype(np.int64) + 1
    by_length = np.argsort(length, kind='stable')
    length = length[by_length]
    first_a = a.start[index_a] + (tmin - a.first[index_a]).astype(np.int64)
    first_b = b.start[index_b] + (tmin - b.first[index_b]).astype(np.int64)
    offsets = group_ranks(length)
    rows_a = np.repeat(first_a[by_length], length) + offsets
    rows_b = np.repeat(first_b[by_length], length) + offsets
    ious = paired_iou(a.rows[rows_a, 1:5], b.rows[rows_b, 1:5], plus_one=plus_one)
    sums = np.empty(len(length))
    flat_start = np.cumsum(length) - length
    lengths, counts = np.unique(length, return_counts=True)
    lo = 0
    for n, count in zip(lengths.tolist(), counts.tolist()):
        block = ious[flat_start[lo]:flat_start[lo] + n * count]
        sums[lo:lo + count] = block.reshape(count, n).sum(axis=1)
        lo += count
    spatial = np.empty(len(length))
    spatial[by_length] = sums / (tmax[by_length] - tmin[by_length] + 1)
    return spatial


def _area(boxes: np.ndarray, extra: float) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0] + extra) * (boxes[:, 3] - boxes[:, 1] + extra)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def run_starts(*keys: np.ndarray) -> np.ndarray:
    """Indices (R,) where a run of equal values of the keys, each (N,), begins."""
    change = np.zeros(len(keys[0]), dtype=bool)
    change[:1] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


def run_stops(starts: np.ndarray, n: int) -> np.ndarray:
    """Where the runs that begin at ``starts`` (R,), of N elements in all, end (exclusive)."""
    return np.append(starts[1:], n)[:len(starts)]


def group_ranks(sizes: np.ndarray) -> np.ndarray:
    """The rank of each element within its group, for consecutive groups of ``sizes`` (G,):
    ``concatenate([arange(s) for s in sizes])``."""
    sizes = np.asarray(sizes, dtype=np.int64)
    return np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
