"""Online linking of per-frame action detections into scored, trimmed action tubes.

Pure numpy, like the rest of :mod:`point3d_mm.evaluation.functional`: the linker is
post-processing that the model never calls. ``point3d_mm.evaluation`` registers
:class:`TubeLinker` into mmaction2's ``TASK_UTILS`` so configs can name it.
:class:`TubeLinkerBase` holds what it shares with
:class:`~point3d_mm.evaluation.functional.ViterbiTubeLinker`: settings, per-frame
preparation, interface, trimming and tube NMS.

How it is computed: linking is sequential in time, but every (video, class) is an
independent stream, so all streams of all videos advance together, one frame number per
step, with the state of every track in flat arrays (:class:`_Tracks`). A step costs a fixed
number of numpy calls however many videos and tracks take part, where Python objects per
track and per detection would cost far more than the arithmetic; that is fast enough
without compiling the loop (numba). Every float is computed with the operations, in the
order, of linking one track at a time (the motion fit even goes through the same BLAS
calls), so link decisions do not depend on how the work is batched.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .nms import grouped_tube_nms
from .overlaps import (
    Tube,
    TubeStack,
    check_protocol,
    group_ranks,
    paired_iou,
    run_starts,
    run_stops,
)


class _Rows(NamedTuple):
    """Detections after the per-frame preparation, sorted by video, frame, label,
    decreasing score and input order: (N,) arrays, boxes (N, 4); ``stream`` numbers the
    (video, label) pairs."""
    video: np.ndarray
    frame: np.ndarray
    label: np.ndarray
    stream: np.ndarray
    score: np.ndarray
    boxes: np.ndarray


class TubeLinkerBase:
    """What the tube linkers share: their settings, the per-frame preparation of the
    detections, the ``linker(rows)`` / ``linker.link_videos(rows, videos)`` interface, and
    the trimming and tube NMS of what they link. A linker implements :meth:`_link_rows`,
    its search for paths through the prepared detections of all videos at once.

    Preparation: detections scored below ``score_thr`` are dropped; per video, frame and
    class, greedy NMS at ``frame_nms_thr`` runs and the best ``max_per_frame`` survivors are
    kept. Post-processing: a linked path, boxes interpolated over the frames it skips, is
    labelled action / background by :func:`viterbi_trim` (``Σ_t (s_t - trim_score)·on_t -
    switch_penalty · #switches``); each action segment of at least ``min_length`` frames
    with a detected frame is a tube, and tubes of one video and class go through tube NMS.

    Both linkers default to the same values of these settings, so that comparing them
    measures the search, not the settings.

    Args:
        score_thr: Detections scored below are ignored: low scores are mostly background
            and other classes' actors (the decoder reports the top classes of every box),
            and each would start a tube, so linking cost would grow with the decoder's
            output size.
        frame_nms_thr: Per frame and class NMS IoU threshold before linking (1.0: none). A
            tube takes one detection per frame, so a near-duplicate box would start a
            parallel tube along the same actor, a false positive in video-AP. 0.6 and the
            cap below are ACT's linking values (also mmaction2's ``link_tubes``).
        max_per_frame: Detections kept per frame and class after NMS (>= 1): bounds the
            tubes started and the (tube, detection) pairs scored per frame.
        iou_weight: λ (>= 0), the weight of the IoU in the link score: how much spatial
            continuity counts against detection scores.
        link_iou_thr: A detection may follow another in a tube only with IoU >= this: below
            it the detection is another actor or a false positive, and linking it would drag
            the tube off its actor. Low (0.2) because the IoU term of the link score already
            ranks the candidates; this only rules out the implausible.
        max_gap: Consecutive frames without a detection that a tube bridges (>= 0):
            detectors miss frames (occlusion, blur), and without bridging each miss would
            split a tube in two, each far from the true tube in spatio-temporal IoU; beyond
            it (5 frames, 0.2 s at 25 fps) the actor is taken to have left.
        trim_score: Frames scored below this push the Viterbi trimming towards background;
            0 disables trimming. Needed for untrimmed videos (UCF101-24), where a tube
            would otherwise run on through the frames after the action ends.
        switch_penalty: Cost (>= 0) of one action/background change in the trimming: a dip
            shorter than it is worth does not cut a tube in two.
        min_length: Shorter tubes (in frames, gaps included; >= 1) are dropped: tubes of
            one or two detections are nearly always false positives.
        tube_nms_thr: Tube NMS threshold per video and class (tube IoU of ``protocol``);
            None for none. Duplicate tubes of one actor are false positives; 0.3 is the
            threshold ACT's evaluation applies (``ACT_EVAL_TUBE_NMS_THR``), so the tubes are
            the same under either protocol.
        protocol: Box convention for IoUs, ``'act'`` (+1) or ``'voc'``.
    """

    def __init__(self, score_thr: float, frame_nms_thr: float, max_per_frame: int,
                 iou_weight: float, link_iou_thr: float, max_gap: int, trim_score: float,
                 switch_penalty: float, min_length: int, tube_nms_thr: Optional[float],
                 protocol: str) -> None:
        check_protocol(protocol)
        wrong = [need for need, ok in (
            (f'max_gap >= 0 (got {max_gap})', max_gap >= 0),
            (f'min_length >= 1 (got {min_length})', min_length >= 1),
            (f'max_per_frame >= 1 (got {max_per_frame})', max_per_frame >= 1),
            (f'iou_weight >= 0 (got {iou_weight})', iou_weight >= 0),
            (f'switch_penalty >= 0 (got {switch_penalty})', switch_penalty >= 0)) if not ok]
        if wrong:
            raise ValueError(f'{type(self).__name__}: need {", ".join(wrong)}')
        # Grouped by the step they set: preparation, linking, trimming, tube NMS.
        self.score_thr, self.frame_nms_thr, self.max_per_frame = (score_thr, frame_nms_thr,
                                                                  max_per_frame)
        self.iou_weight, self.link_iou_thr, self.max_gap = iou_weight, link_iou_thr, max_gap
        self.trim_score, self.switch_penalty, self.min_length = (trim_score, switch_penalty,
                                                                 min_length)
        self.tube_nms_thr, self.protocol = tube_nms_thr, protocol

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
        return self._link_rows(self._prepare(dets[dets[:, 3] >= self.score_thr]), num_videos)

    def _link_rows(self, rows: _Rows, num_videos: int) -> List[List[Tube]]:
        """The linker's search: tubes of each of ``num_videos`` videos, best first, from
        the prepared detections ``rows``."""
        raise NotImplementedError

    def _prepare(self, dets: np.ndarray) -> _Rows:
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
        return _Rows(video, frame, label, stream, dets[:, 3], boxes)

    def _nms_boxes(self, video: np.ndarray, frame: np.ndarray, label: np.ndarray,
                   boxes: np.ndarray) -> np.ndarray:
        """(N, 4) the boxes whose IoUs the frame NMS compares: the boxes themselves, the
        floats of :func:`~.nms.nms2d` on each frame and class alone."""
        return boxes

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

    def _action_segments(self, score: np.ndarray, detected: np.ndarray, starts: np.ndarray,
                         lengths: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Trim K interpolated paths and keep their tubes.

        Args:
            score: (D,) per-frame scores of the paths, path after path.
            detected: (D,) bool, the frames with a detection.
            starts, lengths: (K,) each path's first index in the D frames and its length.

        Returns:
            (S,) start and stop in the D frames of every action segment of at least
            ``min_length`` frames with a detected frame, and (D + 1,) the detected frames
            before each index.
        """
        on = _viterbi_on(score - self.trim_score, starts, lengths, self.trim_score > 0,
                         self.switch_penalty)
        start, stop = _runs(on, starts)
        detected_before = np.concatenate(([0], np.cumsum(detected)))
        ok = ((stop - start >= self.min_length)
              & (detected_before[stop] > detected_before[start]))
        return start[ok], stop[ok], detected_before

    def _tube_nms(self, dense: np.ndarray, start: np.ndarray, stop: np.ndarray,
                  video: np.ndarray, label: np.ndarray, score: np.ndarray) -> np.ndarray:
        """(S,) bool: the tubes ``dense[start:stop]`` that survive tube NMS among the tubes
        of their video and class (ties: the one listed first)."""
        if self.tube_nms_thr is None or not len(score):
            return np.ones(len(score), dtype=bool)
        group = np.unique(video * (label.max() + 1) + label, return_inverse=True)[1]
        return grouped_tube_nms(TubeStack(dense, start, stop - start), score,
                                group.reshape(-1), self.tube_nms_thr, self.protocol)


class TubeLinker(TubeLinkerBase):
    """Link per-frame detections of one video into per-class action tubes, greedily online.

    Online linking as in ACT (Kalogeiton et al. 2017) and MOC-Detector, a greedy, one-pass
    form of Gkioxari & Malik's (2015) linking: frames are visited in order (all classes in
    one pass); every tube alive at frame t may take one detection of its own class, with
    link score ``s(last box) + s(detection) + iou_weight · IoU(predicted box, detection)``;
    pairs are assigned greedily by decreasing link score among those with ``IoU >=
    link_iou_thr``. The predicted box follows a constant-velocity fit to the tube's last
    ``motion_window`` boxes, which keeps two actors of one class apart when they cross
    (``motion_window=1`` links to the last box, as the original linking does). The paper's
    own linking, a Viterbi search for the best path of the whole video, is
    :class:`~point3d_mm.evaluation.functional.ViterbiTubeLinker`.
    A tube survives ``max_gap`` frames without a detection (boxes are interpolated over the
    gap) and ends after that, so an actor who leaves and comes back starts a new tube.
    Unassigned detections start new tubes.

    Each finished tube is trimmed in time by a two-state Viterbi pass (action /
    background): a frame earns ``score - trim_score`` in the action state, changing state
    costs ``switch_penalty``; every action segment of at least ``min_length`` frames becomes
    a tube scored by the mean of its detection scores (YOWO's and MOC's tube score). Tubes
    of one class then go through tube NMS.

    Memory is O(frames × detections per frame): the videos' detections and their tubes.

    Args:
        score_thr, frame_nms_thr, max_per_frame: The per-frame preparation, as in
            :class:`TubeLinkerBase`.
        iou_weight: λ in the link score above (:class:`TubeLinkerBase`).
        link_iou_thr: A detection may extend a tube only with IoU >= this to the predicted
            box (:class:`TubeLinkerBase`).
        max_gap: Frames without a detection that a tube survives (:class:`TubeLinkerBase`).
        motion_window: Detected boxes the motion model is fitted to; 1 predicts the last
            box. A fit over several boxes averages out their jitter, so crossing actors of
            one class keep their tubes.
        trim_score, switch_penalty, min_length: The trimming, as in
            :class:`TubeLinkerBase`.
        tube_nms_thr, protocol: As in :class:`TubeLinkerBase`; tube NMS is per class.
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
        super().__init__(score_thr, frame_nms_thr, max_per_frame, iou_weight, link_iou_thr,
                         max_gap, trim_score, switch_penalty, min_length, tube_nms_thr,
                         protocol)
        self.motion_window = motion_window

    def _link_rows(self, rows: _Rows, num_videos: int) -> List[List[Tube]]:
        return self._tubes(rows, self._link(rows), num_videos)

    def _nms_boxes(self, video: np.ndarray, frame: np.ndarray, label: np.ndarray,
                   boxes: np.ndarray) -> np.ndarray:
        """The boxes shifted apart by class (:func:`_shift_classes_apart`): the floats that
        one NMS call over all classes of a frame compares, as online linking of one video
        at a time runs it."""
        return _shift_classes_apart(video, frame, label, boxes)

    def _link(self, rows: _Rows) -> np.ndarray:
        """(N,) the track of each detection; tracks are numbered by birth (frame, then row).

        All streams advance together, one frame number per step: tracks whose gap has
        grown past ``max_gap`` leave ``active``, the others bid for the step's detections of
        their stream, and the unassigned detections start new tracks.
        """
        tracks = _Tracks(rows, self.motion_window)
        by_frame = np.argsort(rows.frame, kind='stable')
        starts = run_starts(rows.frame[by_frame])
        bounds = np.append(starts, len(by_frame)).tolist()
        active = np.zeros(0, dtype=np.int64)  # sorted by (stream, track)
        for step, frame in enumerate(rows.frame[by_frame[starts]].tolist()):
            step_rows = by_frame[bounds[step]:bounds[step + 1]]
            active = active[frame - tracks.last_frame[active] - 1 <= self.max_gap]
            taken = self._extend(tracks, active, step_rows, frame)
            born = tracks.start(step_rows[~taken], frame)
            at = np.searchsorted(tracks.stream[active], tracks.stream[born], side='right')
            active = np.insert(active, at, born)
        return tracks.track_of_row[:-1]

    def _extend(self, tracks: '_Tracks', active: np.ndarray, step_rows: np.ndarray,
                frame: int) -> np.ndarray:
        """Assign the detections ``step_rows`` of one frame to active tracks of their stream.

        Returns:
            (R,) bool, the detections that extended a track.
        """
        taken = np.zeros(len(step_rows), dtype=bool)
        streams = tracks.stream[active]
        wanted = tracks.rows.stream[step_rows]
        low = np.searchsorted(streams, wanted, side='left')
        count = np.searchsorted(streams, wanted, side='right') - low
        if not count.any():
            return taken
        det = np.repeat(np.arange(len(step_rows)), count)
        slot = np.repeat(low, count) + group_ranks(count)  # position in active
        track, row = active[slot], step_rows[det]
        ious = paired_iou(tracks.predict(track, frame), tracks.rows.boxes[row],
                          self.protocol == 'act')
        ok = ious >= self.link_iou_thr
        det, slot, track, row, ious = det[ok], slot[ok], track[ok], row[ok], ious[ok]
        link = tracks.last_score[track] + tracks.rows.score[row] + self.iou_weight * ious
        # Pairs in the order a greedy pass over one stream would take them: by decreasing
        # link score, ties by the track's birth, then by the detection's rank.
        order = np.lexsort((det, track, -link))
        won = order[_greedy_matching(slot[order], det[order], len(active), len(step_rows))]
        tracks.extend(track[won], row[won], frame)
        taken[det[won]] = True
        return taken

    def _tubes(self, rows: _Rows, track_of_row: np.ndarray, num_videos: int
               ) -> List[List[Tube]]:
        """Cut every track into scored tubes and list them per video, best first, after
        tube NMS per class, in the order per-video online linking lists them."""
        tracks = _TrackRows(rows, track_of_row)
        rank = self._track_order(tracks)
        start, stop, track, score, dense = self._segments(rows, tracks)
        # A video's classes come in the order of their first track, with tubes or not.
        class_rank = _group_min(tracks.video, tracks.label, rank)[track]
        video, label = tracks.video[track], tracks.label[track]
        order = np.lexsort((start, rank[track], class_rank, video))
        start, stop, video, label, score, class_rank = (
            a[order] for a in (start, stop, video, label, score, class_rank))
        kept = self._tube_nms(dense, start, stop, video, label, score)
        final = np.lexsort((np.arange(len(score)), class_rank, -score, video))
        out: List[List[Tube]] = [[] for _ in range(num_videos)]
        for i in final[kept[final]].tolist():
            out[video[i]].append((int(label[i]), float(score[i]), dense[start[i]:stop[i]]))
        return out

    def _track_order(self, tracks: '_TrackRows') -> np.ndarray:
        """(T,) the rank of each track in the order a per-video online pass lists its
        tracks: finished ones by the frame that ended them, then by birth; then the tracks
        alive at the end, by birth.

        A track ends at the first frame of its video with detections that lies more than
        ``max_gap`` frames after its last detection.
        """
        low = int(tracks.frames.min(initial=0))
        span = int(tracks.frames.max(initial=0)) - low + self.max_gap + 3
        frame_codes = np.unique(tracks.frame_video * span + (tracks.frames - low))
        ended = np.searchsorted(frame_codes, tracks.video * span
                                + (tracks.last_frame - low + self.max_gap + 1), side='right')
        video_end = np.searchsorted(frame_codes, (tracks.video + 1) * span, side='left')
        ended = np.minimum(ended, video_end)
        num = len(ended)
        rank = np.empty(num, dtype=np.int64)
        rank[np.lexsort((np.arange(num), ended, tracks.video))] = np.arange(num)
        return rank

    def _segments(self, rows: _Rows, tracks: '_TrackRows'
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Interpolate each track over its gaps, trim it and keep its long action segments.

        Returns:
            (S,) segment start and stop in the (D, 5) dense rows, (S,) track, (S,) score
            (the mean detection score) and the (D, 5) dense rows ``frame, x1, y1, x2, y2``.
        """
        # A track spanning fewer than min_length frames cannot yield a tube.
        long = np.repeat(tracks.span >= self.min_length, tracks.size)
        dense = _Dense(rows, tracks.rows[long], tracks.track[long])
        start, stop, detected_before = self._action_segments(dense.score, dense.detected,
                                                             dense.starts, dense.lengths)
        score = _detected_means(dense.score, dense.detected, detected_before, start, stop)
        return start, stop, dense.track[start], score, dense.rows


class _Tracks:
    """The state of every track, one row per track; at most one track per detection.

    A track keeps its last detection (row, frame, score), a link from each of its
    detections to the previous one, and its motion model: a least-squares line per box
    coordinate through its last ``window`` detected boxes, held as mean frame, mean box
    and slope, so that one wrong or noisy box barely moves the prediction.
    """

    def __init__(self, rows: _Rows, window: int) -> None:
        capacity = len(rows.frame)
        self.rows = rows
        self.window = window
        self.size = 0
        self.stream = np.zeros(capacity, dtype=np.int64)
        self.last_row = np.zeros(capacity, dtype=np.int64)
        self.last_frame = np.zeros(capacity, dtype=np.int64)
        self.last_score = np.zeros(capacity)
        self.count = np.zeros(capacity, dtype=np.int64)
        self.mean_frame = np.zeros(capacity)
        self.mean_box = np.zeros((capacity, 4))
        self.slope = np.zeros((capacity, 4))
        # Per detection, plus a sentinel at index ``capacity`` that links to itself, with
        # frame and box 0.
        self.previous_row = np.full(capacity + 1, capacity, dtype=np.int64)
        self.track_of_row = np.full(capacity + 1, -1, dtype=np.int64)
        self.frame_or_zero = np.append(rows.frame, 0).astype(np.float64)
        self.boxes_or_zero = np.concatenate([rows.boxes, np.zeros((1, 4))])

    def start(self, rows: np.ndarray, frame: int) -> np.ndarray:
        """Start one track per detection in ``rows`` (R,); returns their (R,) ids."""
        ids = np.arange(self.size, self.size + len(rows))
        self.size += len(rows)
        self.stream[ids] = self.rows.stream[rows]
        self.track_of_row[rows] = ids
        self.last_row[ids] = rows
        self.last_frame[ids] = frame
        self.last_score[ids] = self.rows.score[rows]
        self.count[ids] = 1
        self.mean_frame[ids] = float(frame)
        self.mean_box[ids] = self.rows.boxes[rows]
        return ids

    def predict(self, ids: np.ndarray, frame: int) -> np.ndarray:
        """(M, 4) boxes that tracks ``ids`` (M,) expect at ``frame``."""
        return self.mean_box[ids] + self.slope[ids] * (frame - self.mean_frame[ids])[:, None]

    def extend(self, ids: np.ndarray, rows: np.ndarray, frame: int) -> None:
        """Append detection ``rows[i]`` to track ``ids[i]`` and refit its motion model."""
        self.previous_row[rows] = self.last_row[ids]
        self.track_of_row[rows] = ids
        self.last_row[ids] = rows
        self.last_frame[ids] = frame
        self.last_score[ids] = self.rows.score[rows]
        self.count[ids] += 1
        if self.window < 2:
            self.mean_frame[ids] = float(frame)
            self.mean_box[ids] = self.rows.boxes[rows]
        elif len(ids):
            self._fit(ids)

    def _fit(self, ids: np.ndarray) -> None:
        """Refit the motion models of tracks ``ids`` (M,) to their last ``window`` boxes.

        A window shorter than ``window`` is padded with zeros before its oldest box, which
        leaves the sequential sums over the window unchanged. The matmuls go in groups of
        equal window length: numpy runs a batched matmul as one BLAS call per track with
        the shapes of a lone track's fit, so each track gets the floats it would get alone.
        """
        w = self.window
        window = np.empty((w, len(ids)), dtype=np.int64)  # oldest first
        window[-1] = self.last_row[ids]
        for j in range(w - 2, -1, -1):
            window[j] = self.previous_row[window[j + 1]]
        length = np.minimum(self.count[ids], w)
        frames = self.frame_or_zero[window]
        boxes = self.boxes_or_zero[window]
        mean_frame = np.add.reduce(frames, axis=0) / length
        mean_box = np.add.reduce(boxes, axis=0) / length[:, None]  # sequential sums
        dt = (frames - mean_frame).T  # (M, w)
        deviation = (boxes - mean_box).transpose(1, 0, 2)  # (M, w, 4)
        moment = np.empty((len(ids), 4))
        spread = np.empty(len(ids))
        for n in np.unique(length).tolist():
            group = np.flatnonzero(length == n)
            d = np.ascontiguousarray(dt[group, w - n:])
            c = np.ascontiguousarray(deviation[group, w - n:])
            moment[group] = np.matmul(d[:, None, :], c)[:, 0]
            spread[group] = np.matmul(d[:, None, :], d[:, :, None])[:, 0, 0]
        self.mean_frame[ids] = mean_frame
        self.mean_box[ids] = mean_box
        self.slope[ids] = moment / spread[:, None]


class _TrackRows:
    """The detections of every track (tracks numbered 0..T-1, each with a detection).

    ``rows`` (N,) groups the detections by track, oldest first; ``track`` (N,) is their
    track; per track (T,): ``size``, ``video``, ``label``, ``last_frame`` and ``span`` (frames
    from the first to the last detection). ``frames``/``frame_video`` (N,) list every
    detection's frame and video.
    """

    def __init__(self, rows: _Rows, track_of_row: np.ndarray) -> None:
        self.rows = np.argsort(track_of_row, kind='stable')  # rows ascend in time
        self.track = track_of_row[self.rows]
        first = run_starts(self.track)
        last = run_stops(first, len(self.rows)) - 1
        self.size = last - first + 1
        self.video = rows.video[self.rows[first]]
        self.label = rows.label[self.rows[first]]
        self.last_frame = rows.frame[self.rows[last]]
        self.span = self.last_frame - rows.frame[self.rows[first]] + 1
        self.frames, self.frame_video = rows.frame, rows.video


class _Dense:
    """Every frame of some tracks from their first to their last detection, with boxes
    and scores interpolated linearly over the gaps with ``np.interp``'s arithmetic.

    (D, 5) ``rows`` ``frame, x1, y1, x2, y2``; (D,) ``score``, ``detected``, ``track``;
    per track (K,): ``starts`` into the D rows and ``lengths``.
    """

    def __init__(self, rows: _Rows, samples: np.ndarray, sample_track: np.ndarray) -> None:
        frame = rows.frame[samples]
        first = run_starts(sample_track)
        last = run_stops(first, len(samples)) - 1
        self.lengths = frame[last] - frame[first] + 1
        self.starts = np.cumsum(self.lengths) - self.lengths
        self.track = np.repeat(sample_track[first], self.lengths)
        dense_frame = np.repeat(frame[first], self.lengths) + group_ranks(self.lengths)
        low = frame.min(initial=0)
        span = frame.max(initial=0) - low + 1
        left = np.searchsorted(sample_track * span + (frame - low),
                               self.track * span + (dense_frame - low), side='right') - 1
        right = np.minimum(left + 1, np.repeat(last, self.lengths))
        self.detected = frame[left] == dense_frame
        values = np.column_stack([rows.boxes[samples], rows.score[samples]])
        dense_values = values[left]
        gap = np.flatnonzero(~self.detected)
        x0 = frame[left[gap]].astype(np.float64)
        x1 = frame[right[gap]].astype(np.float64)
        slope = (values[right[gap]] - values[left[gap]]) / (x1 - x0)[:, None]
        dense_values[gap] = slope * (dense_frame[gap] - x0)[:, None] + values[left[gap]]
        self.rows = np.column_stack([dense_frame.astype(np.float64), dense_values[:, :4]])
        self.score = dense_values[:, 4]


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
    gains = np.asarray(scores, dtype=np.float64).reshape(-1) - trim_score
    starts = np.zeros(min(len(gains), 1), dtype=np.int64)
    return _viterbi_on(gains, starts, np.full(len(starts), len(gains)), trim_score > 0,
                       switch_penalty)


def _viterbi_on(gains: np.ndarray, starts: np.ndarray, lengths: np.ndarray, enabled: bool,
                switch_penalty: float) -> np.ndarray:
    """:func:`viterbi_trim` of K tubes at once.

    Args:
        gains: (D,) ``score - trim_score`` of the tubes' frames, tube after tube.
        starts: (K,) first index of each tube in ``gains``.
        lengths: (K,) frames of each tube (>= 1).
        enabled: False keeps every frame.
        switch_penalty: As in :func:`viterbi_trim`.

    Returns:
        (D,) bool, True where a tube is kept.
    """
    on = np.ones(len(gains), dtype=bool)
    if not enabled or not len(starts):
        return on
    negative = np.add.reduceat((~(gains >= 0)).astype(np.int64), starts) > 0
    if negative.any():
        _viterbi_paths(gains, starts[negative], lengths[negative], switch_penalty, on)
    return on


def _viterbi_paths(gains: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                   switch_penalty: float, on: np.ndarray) -> None:
    """Write the best labelling of each tube into ``on``, advancing all tubes together.

    Tubes are sorted by decreasing length, so the tubes still running at frame t are a
    prefix. ``off``/``act``: best total of a labelling of frames 0..t that ends in that
    state; ``from_act_to_off``/``from_act_to_act`` (D,): whether that labelling had frame
    t - 1 in the action state.
    """
    by_length = np.argsort(-lengths, kind='stable')
    starts, lengths = starts[by_length], lengths[by_length]
    running = np.searchsorted(-lengths, -np.arange(int(lengths[0]) + 1), side='left')
    from_act_to_off = np.zeros(len(gains), dtype=bool)
    from_act_to_act = np.zeros(len(gains), dtype=bool)
    off, act = np.zeros(len(starts)), gains[starts]
    final = np.zeros(len(starts), dtype=bool)
    final[running[1]:] = act[running[1]:] >= off[running[1]:]
    for t in range(1, len(running) - 1):
        k = running[t]
        frames = starts[:k] + t
        o, a = off[:k], act[:k]
        from_act_to_off[frames] = a - switch_penalty > o
        from_act_to_act[frames] = a >= o - switch_penalty
        off[:k], act[:k] = (np.maximum(o, a - switch_penalty),
                            np.maximum(a, o - switch_penalty) + gains[frames])
        ending = slice(running[t + 1], k)
        final[ending] = act[ending] >= off[ending]
    state = final
    for t in range(len(running) - 2, -1, -1):
        k = running[t]
        frames = starts[:k] + t
        on[frames] = state[:k]
        state[:k] = np.where(state[:k], from_act_to_act[frames], from_act_to_off[frames])


def _runs(on: np.ndarray, starts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(R,) start and stop of every run of True in ``on`` (D,) that stays within one of
    the tubes starting at ``starts``."""
    new_tube = np.zeros(len(on) + 1, dtype=bool)
    new_tube[starts] = True
    new_tube[-1] = True
    begins = on & (new_tube[:-1] | ~np.concatenate(([False], on[:-1])))
    ends = on & (new_tube[1:] | ~np.concatenate((on[1:], [False])))
    return np.flatnonzero(begins), np.flatnonzero(ends) + 1


def _detected_means(score: np.ndarray, detected: np.ndarray, detected_before: np.ndarray,
                    start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """(S,) mean score of the detected frames in ``[start, stop)`` of each segment.

    Segments with equally many detected frames are summed as the rows of one matrix, which
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


def _shift_classes_apart(video: np.ndarray, frame: np.ndarray, label: np.ndarray,
                         boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes moved by ``label * (2 max|coordinate| + 2)``, the maximum over their
    frame, so that boxes of different classes never overlap: the floats that one NMS call
    over all classes of a frame would compare."""
    frame_start = run_starts(video, frame)
    frame_size = run_stops(frame_start, len(label)) - frame_start
    reach = np.maximum.reduceat(np.abs(boxes).max(axis=1), frame_start)
    return boxes + (label * (np.repeat(reach, frame_size) * 2 + 2))[:, None]


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


def _greedy_matching(track: np.ndarray, det: np.ndarray, num_tracks: int,
                     num_dets: int) -> np.ndarray:
    """(P,) bool: the pairs that a greedy pass over (track, detection) pairs accepts, in
    the given order: a pair is accepted unless its track or its detection is taken.

    Args:
        track: (P,) track of each pair, in [0, num_tracks).
        det: (P,) detection of each pair, in [0, num_dets).

    Computed in rounds: accept every pair that comes first among the remaining pairs of
    its track and of its detection, then drop the pairs that touch an accepted one. Usually
    no two pairs share a track or a detection and one round does.
    """
    won = np.zeros(len(track), dtype=bool)
    left = np.arange(len(track))
    while len(left):
        first_of_track = np.full(num_tracks, len(track))
        first_of_det = np.full(num_dets, len(track))
        np.minimum.at(first_of_track, track[left], left)
        np.minimum.at(first_of_det, det[left], left)
        winners = left[(first_of_track[track[left]] == left)
                       & (first_of_det[det[left]] == left)]
        won[winners] = True
        track_taken = np.zeros(num_tracks, dtype=bool)
        det_taken = np.zeros(num_dets, dtype=bool)
        track_taken[track[winners]] = True
        det_taken[det[winners]] = True
        left = left[~track_taken[track[left]] & ~det_taken[det[left]]]
    return won


def _group_min(major: np.ndarray, minor: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(N,) the smallest of ``values`` (N,) over the elements with equal (major, minor)."""
    order = np.lexsort((values, minor, major))
    first = run_starts(major[order], minor[order])
    size = run_stops(first, len(order)) - first
    out = np.empty_like(values)
    out[order] = np.repeat(values[order[first]], size)
    return out
