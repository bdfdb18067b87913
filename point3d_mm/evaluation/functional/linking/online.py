"""Greedy online linking of per-frame action detections into tubes (ACT, MOC-Detector).

How it is computed: linking is sequential in time, but every (video, class) is an
independent stream, so all streams of all videos advance together, one frame number per
step, with the state of every track in flat arrays (:class:`_Tracks`). A step costs a fixed
number of numpy calls however many videos and tracks take part, where Python objects per
track and per detection would cost far more than the arithmetic; that is fast enough
without compiling the loop (numba). Every float is computed with the operations, in the
order, of linking one track at a time (the motion fit even goes through the same BLAS
calls), so link decisions do not depend on how the work is batched.
"""
from typing import Tuple

import numpy as np

from ..overlaps import group_ranks, paired_iou, run_starts, run_stops
from .base import LinkRows, SettingRule, TubeLinkerBase, TubeSegments


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
        motion_window: Detected boxes the motion model is fitted to (1 to 1000); 1 predicts
            the last box. A fit over several boxes averages out their jitter, so crossing actors
            of one class keep their tubes.
        **settings: The settings every linker has (:class:`~.base.TubeLinkerBase`, with
            their defaults): here ``iou_weight`` is λ in the link score above,
            ``link_iou_thr`` applies to the predicted box and ``max_gap`` is the frames a
            tube survives without a detection.
    """

    #: A fit over more than 1000 boxes (40 s at 25 fps) is no motion model of an actor.
    SETTINGS = dict(TubeLinkerBase.SETTINGS, motion_window=SettingRule('integer', 1, 1000))

    def __init__(self, *, motion_window: int = 10, **settings) -> None:
        self.motion_window = motion_window
        super().__init__(**settings)

    def _find_paths(self, rows: LinkRows) -> np.ndarray:
        return self._link(rows)

    def _nms_boxes(self, video: np.ndarray, frame: np.ndarray, label: np.ndarray,
                   boxes: np.ndarray) -> np.ndarray:
        """The boxes shifted apart by class (:func:`_shift_classes_apart`): the floats that
        one NMS call over all classes of a frame compares, as online linking of one video
        at a time runs it."""
        return _shift_classes_apart(video, frame, label, boxes)

    def _link(self, rows: LinkRows) -> np.ndarray:
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

    def _tube_order(self, rows: LinkRows, path: np.ndarray, tubes: TubeSegments
                    ) -> Tuple[np.ndarray, np.ndarray]:
        """The order in which per-video online linking meets and lists the tubes: tube NMS
        meets them by video, class (classes in the order of their first track, with tubes
        or not), track (:meth:`_track_order`) and first frame; they are listed per video
        by decreasing score, ties in that order."""
        tracks = _TrackRows(rows, path)
        rank = self._track_order(tracks)
        track = path[tubes.row]
        class_rank = _group_min(tracks.video, tracks.label, rank)[track]
        video = tracks.video[track]
        met = np.lexsort((tubes.start, rank[track], class_rank, video))
        listed = np.lexsort((np.arange(len(met)), class_rank[met], -tubes.score[met],
                             video[met]))
        return met, met[listed]

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


class _Tracks:
    """The state of every track, one row per track; at most one track per detection.

    A track keeps its last detection (row, frame, score), a link from each of its
    detections to the previous one, and its motion model: a least-squares line per box
    coordinate through its last ``window`` detected boxes, held as mean frame, mean box
    and slope, so that one wrong or noisy box barely moves the prediction.
    """

    def __init__(self, rows: LinkRows, window: int) -> None:
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

    def __init__(self, rows: LinkRows, track_of_row: np.ndarray) -> None:
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




def _shift_classes_apart(video: np.ndarray, frame: np.ndarray, label: np.ndarray,
                         boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes moved by ``label * (2 max|coordinate| + 2)``, the maximum over their
    frame, so that boxes of different classes never overlap: the floats that one NMS call
    over all classes of a frame would compare."""
    frame_start = run_starts(video, frame)
    frame_size = run_stops(frame_start, len(label)) - frame_start
    reach = np.maximum.reduceat(np.abs(boxes).max(axis=1), frame_start)
    return boxes + (label * (np.repeat(reach, frame_size) * 2 + 2))[:, None]


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
