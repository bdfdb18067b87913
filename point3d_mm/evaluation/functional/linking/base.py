"""What every tube linker shares: its settings (defaults, types, ranges), the checks of its
input, the per-frame preparation of the detections, and the making of tubes from the paths
it finds (interpolation over skipped frames, trimming, scoring, tube NMS and listing).

A linker (:class:`~.online.TubeLinker`, :class:`~.viterbi.ViterbiTubeLinker`) implements its
search for paths through the prepared detections (:meth:`TubeLinkerBase._find_paths`) and
states the order in which it lists its tubes (:meth:`TubeLinkerBase._tube_order`).

Pure numpy. Every video and class is an independent stream; all streams of all videos are
prepared, searched and cut into tubes together, in a fixed number of numpy calls per step.
"""
import math
import numbers
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..nms import grouped_tube_nms
from ..overlaps import (
    PROTOCOLS,
    Tube,
    TubeStack,
    group_ranks,
    paired_iou,
    run_starts,
    run_stops,
)
from .trimming import action_runs, trim_paths


class LinkRows(NamedTuple):
    """Detections after the per-frame preparation, sorted by video, frame, label,
    decreasing score and input order: (N,) arrays, boxes (N, 4); ``stream`` numbers the
    (video, label) pairs."""
    video: np.ndarray
    frame: np.ndarray
    label: np.ndarray
    stream: np.ndarray
    score: np.ndarray
    boxes: np.ndarray


class TubeSegments(NamedTuple):
    """The tubes cut from the linked paths, (S,) each: ``start`` in the interpolated rows;
    ``row``, the detection at or before the tube's first frame (its video, label and path
    are that detection's); ``frame``, the tube's first frame; ``score``, the tube score."""
    start: np.ndarray
    row: np.ndarray
    frame: np.ndarray
    score: np.ndarray


#: The largest count setting (frames, boxes): its arithmetic stays far inside int64.
MAX_COUNT = 1_000_000


class SettingRule(NamedTuple):
    """The type and range of one linker setting (bounds inclusive, None: unbounded)."""
    kind: str  # 'integer', 'number' or 'choice'
    low: Optional[float] = None
    high: Optional[float] = None
    optional: bool = False  # None allowed
    choices: Tuple[str, ...] = ()

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.kind == 'choice':
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(
                value, numbers.Integral if self.kind == 'integer' else numbers.Real):
            return False
        if not math.isfinite(float(value)):
            return False
        return ((self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))

    def describe(self) -> str:
        if self.kind == 'choice':
            wanted = f'one of {", ".join(map(repr, self.choices))}'
        else:
            article = 'an' if self.kind == 'integer' else 'a'
            wanted = (f'{article} {self.kind} in [{self.low}, {self.high}]'
                      if self.high is not None else f'{article} {self.kind} >= {self.low}')
        return ('None or ' if self.optional else '') + wanted


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'


class TubeLinkerBase:
    """What the tube linkers share: their settings, the per-frame preparation of the
    detections, the ``linker(rows)`` / ``linker.link_videos(rows, videos)`` interface, and
    the making of tubes from linked paths. A linker implements :meth:`_find_paths`, its
    search for paths through the prepared detections of all videos at once, and
    :meth:`_tube_order`, the order in which it lists its tubes.

    Preparation: detections scored below ``score_thr`` are dropped; per video, frame and
    class, greedy NMS at ``frame_nms_thr`` runs and the best ``max_per_frame`` survivors are
    kept. Post-processing: a linked path, boxes interpolated over the frames it skips, is
    labelled action / background by :func:`~.trimming.viterbi_trim` (``Σ_t (s_t -
    trim_score)·on_t - switch_penalty · #switches``); each action segment of at least
    ``min_length`` frames with a detected frame is a tube, scored by the mean score of its
    detected frames (YOWO's and MOC's tube score), and tubes of one video and class go
    through tube NMS.

    Every linker has these defaults, so that comparing two linkers measures their search,
    not their settings. Settings are keyword arguments; each is checked against
    :attr:`SETTINGS`, and all wrong ones are reported in one ``ValueError``.

    Args:
        score_thr: Detections scored below are ignored: low scores are mostly background
            and other classes' actors (the decoder reports the top classes of every box),
            and each would start a tube, so linking cost would grow with the decoder's
            output size.
        frame_nms_thr: Per frame and class NMS IoU threshold before linking (1.0: none). A
            tube takes one detection per frame, so a near-duplicate box would start a
            parallel tube along the same actor, a false positive in video-AP. 0.6 and the
            cap below are ACT's linking values (also mmaction2's ``link_tubes``).
        max_per_frame: Detections kept per frame and class after NMS: bounds the tubes
            started and the (tube, detection) pairs scored per frame.
        iou_weight: λ, the weight of the IoU in the link score: how much spatial continuity
            counts against detection scores.
        link_iou_thr: A detection may follow another in a tube only with IoU >= this: below
            it the detection is another actor or a false positive, and linking it would drag
            the tube off its actor. Low (0.2) because the IoU term of the link score already
            ranks the candidates; this only rules out the implausible.
        max_gap: Consecutive frames without a detection that a tube bridges: detectors miss
            frames (occlusion, blur), and without bridging each miss would split a tube in
            two, each far from the true tube in spatio-temporal IoU; beyond it (5 frames,
            0.2 s at 25 fps) the actor is taken to have left.
        trim_score: Frames scored below this push the Viterbi trimming towards background;
            0 disables trimming. Needed for untrimmed videos (UCF101-24), where a tube
            would otherwise run on through the frames after the action ends.
        switch_penalty: Cost of one action/background change in the trimming: a dip
            shorter than it is worth does not cut a tube in two.
        min_length: Shorter tubes (in frames, gaps included) are dropped: tubes of one or
            two detections are nearly always false positives.
        tube_nms_thr: Tube NMS threshold per video and class (tube IoU of ``protocol``);
            None for none. Duplicate tubes of one actor are false positives; 0.3 is the
            threshold ACT's evaluation applies (``ACT_EVAL_TUBE_NMS_THR``), so the tubes are
            the same under either protocol.
        protocol: Box convention for IoUs, ``'act'`` (+1) or ``'voc'``.
    """

    #: The type and range of every setting; a linker adds its own settings to these.
    #: Counts of frames or boxes are at most :data:`MAX_COUNT` (far beyond any video).
    SETTINGS: Dict[str, SettingRule] = dict(
        score_thr=SettingRule('number', 0),
        frame_nms_thr=SettingRule('number', 0, 1),
        max_per_frame=SettingRule('integer', 1, MAX_COUNT),
        iou_weight=SettingRule('number', 0),
        link_iou_thr=SettingRule('number', 0, 1),
        max_gap=SettingRule('integer', 0, MAX_COUNT),
        trim_score=SettingRule('number', 0),
        switch_penalty=SettingRule('number', 0),
        min_length=SettingRule('integer', 1, MAX_COUNT),
        tube_nms_thr=SettingRule('number', 0, 1, optional=True),
        protocol=SettingRule('choice', choices=PROTOCOLS))

    #: How boxes and scores are interpolated over a skipped frame t between detected
    #: frames t0 and t1 (each linker keeps the floats of its reference):
    #: ``'slope'``: ``(v1 - v0) / (t1 - t0) · (t - t0) + v0``, ``np.interp``'s arithmetic;
    #: ``'weight'``: ``v0 + (t - t0) / (t1 - t0) · (v1 - v0)``.
    interpolation = 'slope'

    def __init__(self, *,
                 score_thr: float = 0.01,
                 frame_nms_thr: float = 0.6,
                 max_per_frame: int = 10,
                 iou_weight: float = 1.0,
                 link_iou_thr: float = 0.2,
                 max_gap: int = 5,
                 trim_score: float = 0.05,
                 switch_penalty: float = 1.0,
                 min_length: int = 3,
                 tube_nms_thr: Optional[float] = 0.3,
                 protocol: str = 'act') -> None:
        # Grouped by the step they set: preparation, linking, trimming, tube NMS. A linker
        # sets its own settings before calling this, so that all are checked at once.
        self.score_thr, self.frame_nms_thr, self.max_per_frame = (score_thr, frame_nms_thr,
                                                                  max_per_frame)
        self.iou_weight, self.link_iou_thr, self.max_gap = iou_weight, link_iou_thr, max_gap
        self.trim_score, self.switch_penalty, self.min_length = (trim_score, switch_penalty,
                                                                 min_length)
        self.tube_nms_thr, self.protocol = tube_nms_thr, protocol
        self.check_settings({name: getattr(self, name) for name in self.SETTINGS})

    @classmethod
    def check_settings(cls, settings: Mapping[str, Any]) -> None:
        """Raise one ``ValueError`` naming every unknown setting (with the valid names) and
        every setting of the wrong type or out of range (with what it needs), in the order
        of :attr:`SETTINGS`."""
        unknown = [name for name in settings if name not in cls.SETTINGS]
        wrong = [f'{name}={_shown(settings[name])} (need {rule.describe()})'
                 for name, rule in cls.SETTINGS.items()
                 if name in settings and not rule.accepts(settings[name])]
        problems = []
        if unknown:
            problems.append(f'unknown setting(s) {", ".join(map(_shown, unknown))} (valid: '
                            f'{", ".join(cls.SETTINGS)})')
        if wrong:
            problems.append(f'wrong setting(s) {", ".join(wrong)}')
        if problems:
            raise ValueError(f'{cls.__name__}: {"; ".join(problems)}')

    def __call__(self, detections: np.ndarray) -> List[Tube]:
        """Link the detections of one video.

        Args:
            detections: (N, 7) rows ``frame, label, score, x1, y1, x2, y2`` or (N, 8) rows
                with a leading ``video_index`` (ignored), frames 1-based.

        Returns:
            Tubes ``(label, score, (L, 5) frame, x1, y1, x2, y2)`` with consecutive frames,
            best first.
        """
        dets = self._check(detections, (7, 8), 'detections must be (N, 7) rows frame, '
                           'label, score, x1, y1, x2, y2 or (N, 8) with a leading video index')
        if not len(dets):
            return []
        dets = np.column_stack([np.zeros(len(dets)), dets[:, -7:]])
        return self._link_all(dets, 1)[0]

    def link_videos(self, detections: np.ndarray,
                    videos: Sequence[str]) -> Dict[str, List[Tube]]:
        """Link the detections of many videos.

        Args:
            detections: (D, 8) rows ``video_index, frame, label, score, x1, y1, x2, y2``.
            videos: Names indexed by ``video_index`` (as a list is: -1 is the last).

        Returns:
            ``{video: tubes}`` for every video with detections.
        """
        dets = self._check(detections, (8,), 'detections must be (D, 8) rows video_index, '
                           'frame, label, score, x1, y1, x2, y2')
        if not len(dets):
            return {}
        index = dets[:, 0].astype(np.int64)  # negative ones count from the end, as in lists
        if index.min() < -len(videos) or index.max() >= len(videos):
            raise ValueError(f'{type(self).__name__}: video index {int(index.max())} or '
                             f'{int(index.min())} is outside the {len(videos)} videos named')
        indices, dets[:, 0] = np.unique(index, return_inverse=True)
        linked = self._link_all(dets, len(indices))
        return {videos[iv]: tubes for iv, tubes in zip(indices.tolist(), linked)}

    # ------------------------------------------------------------ what a linker implements
    def _find_paths(self, rows: LinkRows) -> np.ndarray:
        """The linker's search: (N,) the path of each prepared detection, paths numbered
        0..P-1, at most one detection per frame on a path."""
        raise NotImplementedError

    def _tube_order(self, rows: LinkRows, path: np.ndarray, tubes: TubeSegments
                    ) -> Tuple[np.ndarray, np.ndarray]:
        """The linker's listing: (S,) the order in which tube NMS meets the tubes (among
        equal scores of one video and class, the first met is kept), and (S,) the order in
        which they are listed (per video, best first; ties as the linker states)."""
        raise NotImplementedError

    def _nms_boxes(self, video: np.ndarray, frame: np.ndarray, label: np.ndarray,
                   boxes: np.ndarray) -> np.ndarray:
        """(N, 4) the boxes whose IoUs the frame NMS compares: the boxes themselves, the
        floats of :func:`~..nms.nms2d` on each frame and class alone."""
        return boxes

    def _tube_scores(self, score: np.ndarray, detected: np.ndarray,
                     detected_before: np.ndarray, start: np.ndarray,
                     stop: np.ndarray) -> np.ndarray:
        """(S,) mean score of the detected frames in ``[start, stop)`` of each tube, the
        floats of ``np.mean`` of each tube's scores alone.

        Tubes with equally many detected frames are summed as the rows of one matrix, which
        numpy sums like a lone array; ``np.add.reduceat`` would sum in another order.
        """
        where = np.flatnonzero(detected)
        count = detected_before[stop] - detected_before[start]
        means = np.empty(len(start))
        for k in np.unique(count).tolist():
            group = np.flatnonzero(count == k)
            values = score[where[detected_before[start[group]][:, None] + np.arange(k)]]
            means[group] = values.sum(axis=1) / k
        return means

    # ------------------------------------------------------------------ shared steps
    def _check(self, detections, widths: Tuple[int, ...], shape_message: str) -> np.ndarray:
        """Detections as a float64 array of one of ``widths`` columns, or one clear error."""
        name = type(self).__name__
        try:
            dets = np.array(detections, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f'{name}: {shape_message}; got a '
                             f'{type(detections).__name__} that is not numbers') from None
        if dets.size == 0:
            return np.zeros((0, widths[-1]))
        if dets.ndim != 2 or dets.shape[1] not in widths:
            raise ValueError(f'{name}: {shape_message}; got shape {dets.shape}')
        if not np.isfinite(dets).all():
            row = int(np.flatnonzero(~np.isfinite(dets).all(axis=1))[0])
            raise ValueError(f'{name}: detection row {row} holds NaN or infinity')
        ids = dets[:, :dets.shape[1] - 5]  # video index (if any), frame, label
        wrong = (ids != np.round(ids)).any(axis=1) | (ids[:, -2:] < 0).any(axis=1)
        if wrong.any():
            raise ValueError(f'{name}: detection row {int(np.flatnonzero(wrong)[0])} has a '
                             'frame or label that is not a non-negative integer, or a video '
                             'index that is not an integer')
        return dets

    def _link_all(self, dets: np.ndarray, num_videos: int) -> List[List[Tube]]:
        """Tubes of each of ``num_videos`` videos from their (D, 8) detections, videos
        numbered 0..num_videos-1."""
        rows = self._prepare(dets[dets[:, 3] >= self.score_thr])
        return self._tubes(rows, self._find_paths(rows), num_videos)

    def _prepare(self, dets: np.ndarray) -> LinkRows:
        """Sort (D, 8) detections and apply the per frame and class NMS and cap."""
        dets = dets[np.lexsort((-dets[:, 3], dets[:, 2], dets[:, 1], dets[:, 0]))]
        video, frame, label = (dets[:, i].astype(np.int64) for i in range(3))
        boxes = dets[:, 4:8]
        if len(dets):
            keep = self._frame_nms(video, frame, label, boxes)
            video, frame, label, dets, boxes = (a[keep] for a in (video, frame, label, dets,
                                                                  boxes))
        # One stream per (video, class): labels are shifted to start at 0.
        low = label.min(initial=0)
        stream = video * (label.max(initial=0) - low + 1) + (label - low)
        return LinkRows(video, frame, label, stream, dets[:, 3], boxes)

    def _frame_nms(self, video: np.ndarray, frame: np.ndarray, label: np.ndarray,
                   boxes: np.ndarray) -> np.ndarray:
        """(N,) bool: the rows that per-class NMS and the per-class cap keep in every frame.

        Rows come sorted by video, frame, label and decreasing score. Only classes with two
        detections in a frame are touched.
        """
        class_start = run_starts(video, frame, label)
        size = run_stops(class_start, len(label)) - class_start
        crowded = size > 1
        if not crowded.any():
            return np.ones(len(label), dtype=bool)
        size = size[crowded]
        rank = group_ranks(size)
        rows = np.repeat(class_start[crowded], size) + rank
        # Every row paired with each better row of its class and frame.
        earlier = np.repeat(rows - rank, rank) + group_ranks(rank)
        later = np.repeat(rows, rank)
        compared = self._nms_boxes(video, frame, label, boxes)
        overlaps = paired_iou(compared[earlier], compared[later],
                              self.protocol == 'act') > self.frame_nms_thr
        rank_of_row = np.zeros(len(label), dtype=np.int64)
        rank_of_row[rows] = rank
        keep = _greedy_survivors(len(label), rank_of_row, earlier[overlaps], later[overlaps])
        kept = keep[rows]
        kept_before = np.cumsum(kept) - kept
        kept_rank = kept_before - np.repeat(kept_before[np.cumsum(size) - size], size)
        keep[rows] = kept & (kept_rank < self.max_per_frame)
        return keep

    def _tubes(self, rows: LinkRows, path: np.ndarray, num_videos: int) -> List[List[Tube]]:
        """Interpolate, trim, score and NMS the paths; list the tubes per video."""
        out: List[List[Tube]] = [[] for _ in range(num_videos)]
        members = np.lexsort((rows.frame, path))  # by path, oldest first
        first = run_starts(path[members])
        last = run_stops(first, len(members)) - 1
        # A path spanning fewer than min_length frames cannot yield a tube.
        spans = rows.frame[members[last]] - rows.frame[members[first]] + 1
        samples = members[np.repeat(spans >= self.min_length, last - first + 1)]
        if not len(samples):
            return out
        dense = _interpolate(rows, samples, path[samples], self.interpolation)
        on = trim_paths(dense.score - self.trim_score, dense.starts, dense.lengths,
                        self.trim_score > 0, self.switch_penalty)
        start, stop = action_runs(on, dense.starts)
        detected_before = np.concatenate(([0], np.cumsum(dense.detected)))
        ok = ((stop - start >= self.min_length)
              & (detected_before[stop] > detected_before[start]))
        start, stop = start[ok], stop[ok]
        score = self._tube_scores(dense.score, dense.detected, detected_before, start, stop)
        row = dense.row[start]
        nms_order, listing = self._tube_order(
            rows, path, TubeSegments(start, row, dense.rows[start, 0], score))
        video, label = rows.video[row], rows.label[row]
        kept = np.zeros(len(start), dtype=bool)
        kept[nms_order] = self._tube_nms(dense.rows, *(a[nms_order] for a in (
            start, stop, video, label, score)))
        for i in listing[kept[listing]].tolist():
            out[video[i]].append((int(label[i]), float(score[i]),
                                  dense.rows[start[i]:stop[i]]))
        return out

    def _tube_nms(self, dense: np.ndarray, start: np.ndarray, stop: np.ndarray,
                  video: np.ndarray, label: np.ndarray, score: np.ndarray) -> np.ndarray:
        """(S,) bool: the tubes ``dense[start:stop]`` that survive tube NMS among the tubes
        of their video and class (ties: the one listed first)."""
        if self.tube_nms_thr is None or not len(score):
            return np.ones(len(score), dtype=bool)
        group = np.unique(video * (label.max() + 1) + label, return_inverse=True)[1]
        return grouped_tube_nms(TubeStack(dense, start, stop - start), score,
                                group.reshape(-1), self.tube_nms_thr, self.protocol)


class _Interpolated(NamedTuple):
    """Every frame of some paths from their first to their last detection: (D, 5) ``rows``
    ``frame, x1, y1, x2, y2`` and (D,) ``score``, interpolated over the skipped frames;
    (D,) ``detected``, the frames with a detection, and ``row``, the detection at or before
    each frame; per path (K,): ``starts`` into the D rows and ``lengths``."""
    rows: np.ndarray
    score: np.ndarray
    detected: np.ndarray
    row: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray


def _interpolate(rows: LinkRows, samples: np.ndarray, sample_path: np.ndarray,
                 formula: str) -> _Interpolated:
    """The paths of the detections ``samples`` (S,), grouped by ``sample_path`` and oldest
    first within a path, at every frame, boxes and scores interpolated linearly over the
    skipped frames by ``formula`` (:attr:`TubeLinkerBase.interpolation`)."""
    frame = rows.frame[samples]
    first = run_starts(sample_path)
    last = run_stops(first, len(samples)) - 1
    lengths = frame[last] - frame[first] + 1
    starts = np.cumsum(lengths) - lengths
    dense_frame = np.repeat(frame[first], lengths) + group_ranks(lengths)
    low = frame.min()
    span = int(frame.max()) - int(low) + 1
    path_index = np.repeat(np.arange(len(first)), last - first + 1)
    left = np.searchsorted(path_index * span + (frame - low),
                           np.repeat(np.arange(len(first)), lengths) * span
                           + (dense_frame - low), side='right') - 1
    right = np.minimum(left + 1, np.repeat(last, lengths))
    values = np.column_stack([rows.boxes[samples], rows.score[samples]])
    detected = frame[left] == dense_frame
    dense = values[left]
    gap = np.flatnonzero(~detected)
    t0 = frame[left[gap]].astype(np.float64)
    t1 = frame[right[gap]].astype(np.float64)
    v0, v1 = values[left[gap]], values[right[gap]]
    if formula == 'slope':
        dense[gap] = (v1 - v0) / (t1 - t0)[:, None] * (dense_frame[gap] - t0)[:, None] + v0
    elif formula == 'weight':
        dense[gap] = v0 + ((dense_frame[gap] - t0) / (t1 - t0))[:, None] * (v1 - v0)
    else:
        raise ValueError(f'interpolation must be slope or weight, got {formula!r}')
    return _Interpolated(np.column_stack([dense_frame.astype(np.float64), dense[:, :4]]),
                         dense[:, 4], detected, samples[left], starts, lengths)


def _greedy_survivors(num_rows: int, rank: np.ndarray, earlier: np.ndarray,
                      later: np.ndarray) -> np.ndarray:
    """(num_rows,) bool: the rows that greedy NMS keeps within their groups.

    Args:
        num_rows: Rows in all.
        rank: (num_rows,) rank of each row in its group (0 for the best).
        earlier, later: (P,) pairs of rows of one group, ``rank[earlier] < rank[later]``,
            that overlap too much.
    """
    kept = np.ones(num_rows, dtype=bool)
    by_rank = np.argsort(rank[later], kind='stable')
    earlier, later = earlier[by_rank], later[by_rank]
    bounds = np.searchsorted(rank[later], np.arange(int(rank.max(initial=0)) + 2))
    for r in range(1, len(bounds) - 1):
        lo, hi = bounds[r], bounds[r + 1]
        kept[later[lo:hi][kept[earlier[lo:hi]]]] = False
    return kept
