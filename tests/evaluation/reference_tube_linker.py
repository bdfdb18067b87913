"""A frozen copy of ``TubeLinker`` as it was before it was vectorised, with the box and tube
helpers it called: the reference that ``test_linker_equivalence.py`` holds the package's
linker to. Not part of the package; do not edit it to follow the package.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

PROTOCOLS: Tuple[str, str] = ('act', 'voc')

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


class _Track:
    """A tube being built: its detected frames, boxes and scores, and a motion model.

    The motion model is a least-squares line per box coordinate through the last
    ``window`` detected boxes, so one wrong or noisy box barely moves the prediction.
    """

    __slots__ = ('label', 'frames', 'boxes', 'scores', 'window', '_mean_frame', '_mean_box',
                 '_slope')

    def __init__(self, label: int, frame: int, box: np.ndarray, score: float,
                 window: int) -> None:
        self.label = label
        self.frames = [frame]
        self.boxes = [box]
        self.scores = [score]
        self.window = window
        self._mean_frame = float(frame)
        self._mean_box = box
        self._slope = np.zeros(4)

    def predict(self, frame: int) -> np.ndarray:
        """The (4,) box expected at ``frame``."""
        return self._mean_box + self._slope * (frame - self._mean_frame)

    def extend(self, frame: int, box: np.ndarray, score: float) -> None:
        self.frames.append(frame)
        self.boxes.append(box)
        self.scores.append(score)
        if self.window < 2:
            self._mean_frame, self._mean_box = float(frame), box
            return
        t = np.array(self.frames[-self.window:], dtype=np.float64)
        b = np.array(self.boxes[-self.window:])
        self._mean_frame = t.sum() / len(t)
        self._mean_box = b.sum(axis=0) / len(t)
        dt = t - self._mean_frame
        self._slope = dt @ (b - self._mean_box) / (dt @ dt)


class TubeLinker:
    """Link per-frame detections of one video into per-class action tubes.

    Online linking in the manner of Gkioxari & Malik (2015) as used by ACT, MOC-Detector and
    YOWO: frames are visited in order (all classes in one pass); every tube alive at frame t
    may take one detection of its own class, with link score ``s(last box) + s(detection) +
    iou_weight · IoU(predicted box, detection)``; pairs are assigned greedily by decreasing
    link score among those with ``IoU >= link_iou_thr``. The predicted box follows a
    constant-velocity fit to the tube's last ``motion_window`` boxes, which keeps two actors
    of one class apart when they cross (``motion_window=1`` links to the last box, as the
    original linking does).
    A tube survives ``max_gap`` frames without a detection (boxes are interpolated over the
    gap) and ends after that, so an actor who leaves and comes back starts a new tube.
    Unassigned detections start new tubes.

    Each finished tube is trimmed in time by a two-state Viterbi pass (action /
    background): a frame earns ``score - trim_score`` in the action state, changing state
    costs ``switch_penalty``; every action segment of at least ``min_length`` frames becomes
    a tube scored by the mean of its detection scores (YOWO's and MOC's tube score). Tubes
    of one class then go through tube NMS.

    Memory is O(frames × detections per frame): the video's detections and its tubes.

    Args:
        score_thr: Detections scored below are ignored.
        frame_nms_thr: Per frame and class NMS IoU threshold before linking (1.0: none).
        max_per_frame: Detections kept per frame and class after NMS.
        iou_weight: λ, the weight of the IoU in the link score.
        link_iou_thr: A detection may extend a tube only with IoU >= this to the predicted
            box.
        max_gap: Consecutive frames without a detection that a tube survives.
        motion_window: Detected boxes the motion model is fitted to; 1 predicts the last box.
        trim_score: Frames scored below this push the Viterbi trimming towards background;
            0 disables trimming.
        switch_penalty: Cost of one action/background change in the trimming.
        min_length: Shorter tubes (in frames, gaps included) are dropped.
        tube_nms_thr: Tube NMS threshold per class (tube IoU of ``protocol``); None for none.
        protocol: Box convention for IoUs, ``'act'`` (+1) or ``'voc'``.
    """

    def __init__(self,
                 score_thr: float = 0.01,
                 frame_nms_thr: float = 0.6,
                 max_per_frame: int = 10,
                 iou_weight: float = 1.0,
                 link_iou_thr: float = 0.2,
                 max_gap: int = 5,
                 motion_window: int = 10,
                 trim_score: float = 0.05,
                 switch_penalty: float = 1.0,
                 min_length: int = 3,
                 tube_nms_thr: Optional[float] = 0.3,
                 protocol: str = 'act') -> None:
        check_protocol(protocol)
        if max_gap < 0 or min_length < 1 or max_per_frame < 1:
            raise ValueError('need max_gap >= 0, min_length >= 1 and max_per_frame >= 1')
        self.score_thr = score_thr
        self.frame_nms_thr = frame_nms_thr
        self.max_per_frame = max_per_frame
        self.iou_weight = iou_weight
        self.link_iou_thr = link_iou_thr
        self.max_gap = max_gap
        self.motion_window = motion_window
        self.trim_score = trim_score
        self.switch_penalty = switch_penalty
        self.min_length = min_length
        self.tube_nms_thr = tube_nms_thr
        self.protocol = protocol

    def __call__(self, detections: np.ndarray) -> List[Tube]:
        """Link the detections of one video.

        Args:
            detections: (N, 7) rows ``frame, label, score, x1, y1, x2, y2`` or (N, 8) rows
                with a leading ``video_index`` (ignored), frames 1-based.

        Returns:
            Tubes ``(label, score, (L, 5) frame, x1, y1, x2, y2)`` with consecutive frames,
            best first.
        """
        dets = np.asarray(detections, dtype=np.float64)
        if dets.size == 0:
            return []
        if dets.ndim != 2 or dets.shape[1] not in (7, 8):
            raise ValueError('detections must be (N, 7) frame, label, score, x1, y1, x2, y2 '
                             f'or (N, 8) with a leading video index; got {dets.shape}')
        dets = dets[:, -7:]
        dets = dets[dets[:, 2] >= self.score_thr]
        tubes: List[Tube] = []
        by_label: Dict[int, List[Tuple[float, np.ndarray]]] = {}
        for track in self._link(dets):
            by_label.setdefault(track.label, []).extend(self._finish(track))
        for label, scored in by_label.items():
            keep = range(len(scored))
            if self.tube_nms_thr is not None and len(scored) > 1:
                keep = tube_nms([t for _, t in scored], [s for s, _ in scored],
                                self.tube_nms_thr, self.protocol)
            tubes.extend((label, scored[i][0], scored[i][1]) for i in keep)
        return sorted(tubes, key=lambda tube: -tube[1])

    def link_videos(self, detections: np.ndarray,
                    videos: Sequence[str]) -> Dict[str, List[Tube]]:
        """Link the detections of many videos.

        Args:
            detections: (D, 8) rows ``video_index, frame, label, score, x1, y1, x2, y2``.
            videos: Names indexed by ``video_index``.

        Returns:
            ``{video: tubes}`` for every video with detections.
        """
        dets = np.asarray(detections, dtype=np.float64).reshape(-1, 8)
        order = np.argsort(dets[:, 0], kind='stable')
        dets = dets[order]
        indices, starts = np.unique(dets[:, 0].astype(np.int64), return_index=True)
        bounds = np.append(starts, len(dets))
        return {videos[iv]: self(dets[bounds[i]:bounds[i + 1], 1:])
                for i, iv in enumerate(indices.tolist())}

    def _link(self, dets: np.ndarray) -> List[_Track]:
        """Link (N, 7) detections of one video, all classes in one pass over its frames."""
        dets = dets[np.lexsort((-dets[:, 2], dets[:, 1], dets[:, 0]))]
        frames, starts = np.unique(dets[:, 0].astype(np.int64), return_index=True)
        bounds = np.append(starts, len(dets)).tolist()
        labels_all = dets[:, 1].astype(np.int64)
        plus_one = self.protocol == 'act'
        active: List[_Track] = []
        finished: List[_Track] = []
        for i, frame in enumerate(frames.tolist()):
            labels = labels_all[bounds[i]:bounds[i + 1]]
            scores, boxes = dets[bounds[i]:bounds[i + 1], 2], dets[bounds[i]:bounds[i + 1], 3:7]
            if len(labels) > 1 and np.any(labels[1:] == labels[:-1]):
                keep = self._frame_nms(boxes, labels, scores, plus_one)
                labels, scores, boxes = labels[keep], scores[keep], boxes[keep]

            alive = [t for t in active if frame - t.frames[-1] - 1 <= self.max_gap]
            finished.extend(t for t in active if frame - t.frames[-1] - 1 > self.max_gap)
            taken = np.zeros(len(boxes), dtype=bool)
            if alive:
                predicted = np.stack([t.predict(frame) for t in alive])
                same_class = np.array([t.label for t in alive])[:, None] == labels[None, :]
                ious = iou2d(predicted, boxes, plus_one)
                ti, di = np.nonzero(same_class & (ious >= self.link_iou_thr))
                if len(ti):
                    last_scores = np.array([t.scores[-1] for t in alive])
                    link = last_scores[ti] + scores[di] + self.iou_weight * ious[ti, di]
                    order = np.argsort(-link, kind='stable')
                    extended = np.zeros(len(alive), dtype=bool)
                    for t, d in zip(ti[order].tolist(), di[order].tolist()):
                        if not extended[t] and not taken[d]:
                            extended[t] = taken[d] = True
                            alive[t].extend(frame, boxes[d], float(scores[d]))
            active = alive + [
                _Track(int(labels[d]), frame, boxes[d], float(scores[d]), self.motion_window)
                for d in np.flatnonzero(~taken).tolist()]
        return finished + active

    def _frame_nms(self, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                   plus_one: bool) -> np.ndarray:
        """Indices kept by per-class NMS and the per-class cap, in (label, score) order.

        Rows arrive sorted by label, then by decreasing score. Boxes of different classes
        are shifted apart so that one NMS call never suppresses across classes.
        """
        shift = (labels * (np.abs(boxes).max() * 2 + 2))[:, None]
        keep = np.sort(nms2d(boxes + shift, scores, self.frame_nms_thr, plus_one))
        kept_labels = labels[keep]
        first = np.searchsorted(kept_labels, kept_labels, side='left')
        return keep[np.arange(len(keep)) - first < self.max_per_frame]

    def _finish(self, track: _Track) -> List[Tuple[float, np.ndarray]]:
        """Interpolate a track over its gaps, trim it and split it into scored tubes."""
        frames = np.asarray(track.frames, dtype=np.float64)
        boxes = np.asarray(track.boxes, dtype=np.float64)
        scores = np.asarray(track.scores, dtype=np.float64)
        full = np.arange(frames[0], frames[-1] + 1)
        dense_boxes = np.column_stack([np.interp(full, frames, boxes[:, k]) for k in range(4)])
        dense_scores = np.interp(full, frames, scores)
        detected = np.isin(full, frames)
        on = viterbi_trim(dense_scores, self.trim_score, self.switch_penalty)

        edges = np.flatnonzero(np.diff(np.concatenate(([0], on.astype(np.int8), [0]))))
        tubes = []
        for start, stop in zip(edges[0::2].tolist(), edges[1::2].tolist()):
            if stop - start < self.min_length or not detected[start:stop].any():
                continue
            segment_detected = detected[start:stop]
            score = float(dense_scores[start:stop][segment_detected].mean())
            tube = np.column_stack([full[start:stop], dense_boxes[start:stop]])
            tubes.append((score, tube))
        return tubes


def viterbi_trim(scores: np.ndarray, trim_score: float, switch_penalty: float) -> np.ndarray:
    """Label each frame of a tube as action (True) or background by a 2-state Viterbi pass.

    Maximises ``sum((scores[t] - trim_score) * on[t]) - switch_penalty * (number of t with
    on[t] != on[t - 1])``; either state may start and end the tube for free, so a tube
    whose frames all score above ``trim_score`` is kept whole.

    Args:
        scores: (L,) per-frame detection scores.
        trim_score: Score below which a frame favours the background.
        switch_penalty: Cost of one change of state between consecutive frames.

    Returns:
        (L,) bool, True where the tube is kept.
    """
    gains = np.asarray(scores, dtype=np.float64) - trim_score
    if trim_score <= 0 or np.all(gains >= 0):
        return np.ones(len(gains), dtype=bool)
    # off/on: best total of a labelling of frames 0..t that ends in that state;
    # came_from[t, s]: whether that labelling had frame t - 1 in the action state.
    off, on = 0.0, gains[0]
    came_from = np.zeros((len(gains), 2), dtype=bool)
    for t, gain in enumerate(gains[1:].tolist(), start=1):
        came_from[t] = (on - switch_penalty > off, on >= off - switch_penalty)
        off, on = max(off, on - switch_penalty), max(on, off - switch_penalty) + gain
    labels = np.zeros(len(gains), dtype=bool)
    state = on >= off
    for t in range(len(gains) - 1, -1, -1):
        labels[t] = state
        state = came_from[t, int(state)]
    return labels
