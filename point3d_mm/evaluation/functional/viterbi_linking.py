"""The paper's tube linking: Gkioxari & Malik's (2015) Viterbi path search, per class.

The paper: "We use the linking algorithm from [12] and compute scores with the definition
in [19]. After all the linking scores are computed, the Viterbi algorithm [8] is applied to
find the optimal action tube" ([12] Gkioxari & Malik, *Finding action tubes*, CVPR 2015;
[19] YOWO). :class:`ViterbiTubeLinker` is that search:
per video and class, the best-scoring path of detections through the frames is found by
dynamic programming, its detections are removed and the search is repeated; each path is
then trimmed in time. It is registered beside the greedy online
:class:`~point3d_mm.evaluation.functional.TubeLinker` and has its interface (``linker(rows)``
for one video, ``linker.link_videos(rows, videos)`` for many), so ``VideoMAP``, inference,
the visualisation hook and the tools take either.

Pure numpy. How it is computed: every (video, class) is an independent stream and all
streams advance together, one numpy step per frame number, over flat arrays of the links
between detections. One forward pass gives every detection its best path ending there; in
the forest of best predecessors, paths of different trees do not share a detection, so all
paths that the one-at-a-time search would take next without recomputing anything are
taken in one pass (see :meth:`ViterbiTubeLinker._take_paths`), and only the streams whose
next path is not yet known are searched again.
"""
from typing import List, NamedTuple, Optional, Tuple

import numpy as np

from .overlaps import Tube, group_ranks, run_starts, run_stops
from .tube_linking import TubeLinkerBase, _Rows

# The detections that may be linked, in path-search order: by frame, then video, label,
# decreasing score and input order.
_Nodes = _Rows


class _Links(NamedTuple):
    """Allowed links ``src -> dst`` between detections of one stream, (E,) arrays sorted
    by ``dst`` and, within a ``dst``, by preference among equal totals; ``gain`` is the
    link's term of the path score."""
    src: np.ndarray
    dst: np.ndarray
    gain: np.ndarray


class ViterbiTubeLinker(TubeLinkerBase):
    r"""Link per-frame detections into action tubes by Gkioxari & Malik's Viterbi search.

    **Path score.** Per video and class ``c``, the detections of class ``c`` (after
    ``score_thr``, the per-frame NMS and the per-frame cap) are the nodes; a path is a
    sequence of them ``d_1, ..., d_n`` in strictly increasing frames ``t_1 < ... < t_n`` and
    scores

    .. math::

        E(d_1..d_n) = \sum_{i=1}^{n} s(d_i)
            + \sum_{i=1}^{n-1} \big[\lambda \cdot \mathrm{IoU}(d_i, d_{i+1})
                                  + \alpha \cdot s(d_i)\, s(d_{i+1})\big],

    where ``s`` is the detection's class-``c`` score, ``λ = iou_weight`` and ``α =
    score_product_weight``. A link ``d_i -> d_{i+1}`` is allowed only when
    ``1 <= t_{i+1} - t_i <= max_gap + 1`` and ``IoU(d_i, d_{i+1}) >= link_iou_thr``.

    This is Gkioxari & Malik's energy (``α = 0``; their ``1/T`` factor is dropped because
    a path here need not span the whole video) with YOWO's two additions, which the paper
    cites for its scores: the product term ``α·s·s`` and the threshold function ``ψ(IoU)``,
    read here as forbidding a link rather than zeroing its score. (YOWO writes the score
    per link, ``ψ·[s_i + s_{i+1} + α s_i s_{i+1} + β IoU]``; summed over a path that
    counts inner detections twice, i.e. ``λ = β/2`` up to the two end detections.)

    **Start and end.** A path may start and end at any detection: it spans the frames
    between its first and last detection, not necessarily the whole video. Every term is
    non-negative (scores are), so a path extends as far as allowed links reach; where the
    class has a linkable detection in every frame, the first path covers the whole video,
    as in Gkioxari & Malik.

    **Search.** Dynamic programming over the frames (Viterbi): ``F(d) = s(d) + max(0,
    max_{d' -> d} F(d') + λ IoU(d', d) + α s(d') s(d))``; the best path ends at the
    detection with the largest ``F`` and is read back along the best predecessors. Its
    detections are removed and the search is repeated until no detection of the class is
    left (each path is the best of the detections remaining). Equal totals: the path that
    ends earlier wins, then the one whose end is higher scored, then listed first; among
    equal predecessors, the one in the later frame, then higher scored, then listed first.

    **Tubes.** A path's frames from its first to its last detection form a tube; boxes and
    scores of frames it skips are interpolated linearly. The tube is trimmed in time by
    :func:`~point3d_mm.evaluation.functional.viterbi_trim`, a two-state (action /
    background) Viterbi labelling that maximises ``Σ_t (s_t - trim_score)·on_t -
    switch_penalty · #switches``; each action segment of at least ``min_length`` frames with
    a detected frame is a tube, scored by the mean score of its detected frames (YOWO's and
    MOC's tube score, comparable across videos unlike the length-dependent ``E``). Tubes of
    one class then go through tube NMS; a video's tubes are listed best first.

    Cost: the forward pass is one step per frame, shared by all classes and videos, each
    step O(links into that frame); links per detection are at most ``(max_gap + 1) *
    max_per_frame``. One pass usually takes all of a stream's paths; passes repeat while
    some stream's next path is unknown (3 passes on ``benchmark_eval.py``'s UCF101-24-like
    detections; about 20 with 10 random, overlapping boxes of one class in every frame).
    Memory: O(detections + links).

    Defaults: every setting it shares with :class:`TubeLinker` has TubeLinker's value
    (:class:`~point3d_mm.evaluation.functional.tube_linking.TubeLinkerBase`), so that
    comparing the two measures the search, not the settings.

    Args:
        score_thr: Detections scored below are ignored. Low-scored detections are mostly
            other classes' actors and background; keeping them all would make the graph,
            and the number of paths, grow with the detector's output size.
        frame_nms_thr: Per frame and class NMS IoU threshold before linking (1.0: none).
            The search takes one box per frame, so a near-duplicate of a linked box would
            otherwise form a second path along the same actor, a false positive tube.
        max_per_frame: Detections kept per frame and class after NMS. Bounds the links
            per detection, hence the search's cost, when a detector reports many boxes.
        iou_weight: λ, the weight of the IoU in the path score (Gkioxari & Malik's λ).
        score_product_weight: α, the weight of YOWO's ``s(d_i) s(d_{i+1})`` term; 0 is
            Gkioxari & Malik's energy.
        link_iou_thr: Links between boxes overlapping less are not allowed (YOWO's ψ), so
            that a path does not jump between two actors of the same class.
        max_gap: Frames a link may skip; 0 is Gkioxari & Malik's strict linking. Their
            proposals covered every frame; a detector misses some, and without a bridge
            each miss would split a tube in two, each scoring far lower spatio-temporal
            IoU against the true tube.
        trim_score: Frames scored below this push the trimming towards background; 0
            keeps every path whole. Needed for untrimmed videos (UCF101-24), where a path
            runs on over frames where the action has ended.
        switch_penalty: Cost of one action/background change in the trimming: a dip
            shorter than it is worth does not cut a tube.
        min_length: Shorter tubes (frames, skipped ones included) are dropped: paths of
            one or two stray detections are nearly always false positives.
        tube_nms_thr: Tube NMS threshold per video and class (tube IoU of ``protocol``);
            None for none. Removing a path's detections does not remove boxes beside them
            that the frame NMS kept, which can form a second, overlapping tube.
        protocol: As in :class:`TubeLinkerBase`.
    """

    def __init__(self,
                 score_thr: float = 0.01,
                 frame_nms_thr: float = 0.6,
                 max_per_frame: int = 10,
                 iou_weight: float = 1.0,
                 score_product_weight: float = 0.0,
                 link_iou_thr: float = 0.2,
                 max_gap: int = 5,
                 trim_score: float = 0.05,
                 switch_penalty: float = 1.0,
                 min_length: int = 3,
                 tube_nms_thr: Optional[float] = 0.3,
                 protocol: str = 'act') -> None:
        if score_product_weight < 0:
            raise ValueError('ViterbiTubeLinker: score_product_weight must be >= 0; got '
                             f'{score_product_weight}')
        self.score_product_weight = score_product_weight
        super().__init__(score_thr, frame_nms_thr, max_per_frame, iou_weight, link_iou_thr,
                         max_gap, trim_score, switch_penalty, min_length, tube_nms_thr,
                         protocol)

    def _link_rows(self, rows: _Rows, num_videos: int) -> List[List[Tube]]:
        by_frame = np.argsort(rows.frame, kind='stable')
        nodes = _Nodes(*(a[by_frame] for a in rows))
        path = self._search(nodes, self._links(nodes))
        return self._tubes(nodes, path, num_videos)

    def _links(self, nodes: _Nodes) -> _Links:
        """Every allowed link between two detections of one stream (class docstring)."""
        num = len(nodes.frame)
        low = nodes.frame.min(initial=0)
        span = int(nodes.frame.max(initial=0)) - int(low) + self.max_gap + 2
        # Sorted by stream, later frame first, then number (nodes are numbered in search
        # order, so within a frame a lower number is higher scored, then listed first):
        # the possible predecessors of a detection are one run of this order, in
        # preference order, and the links come out grouped by ``dst`` without a sort.
        key = nodes.stream * span + (span - 1 - (nodes.frame - low))
        by_key = np.argsort(key, kind='stable')
        sorted_key = key[by_key]
        lo = np.searchsorted(sorted_key, key + 1, side='left')
        count = np.searchsorted(sorted_key, key + self.max_gap + 1, side='right') - lo
        dst = np.repeat(np.arange(num), count)
        src = by_key[np.repeat(lo, count) + group_ranks(count)]
        src, dst, iou = _linked_pairs(nodes.boxes, src, dst, self.link_iou_thr,
                                      self.protocol == 'act')
        gain = self.iou_weight * iou
        if self.score_product_weight:
            gain = gain + self.score_product_weight * nodes.score[src] * nodes.score[dst]
        return _Links(src, dst, gain)

    def _search(self, nodes: _Nodes, links: _Links) -> np.ndarray:
        """(N,) the path of each detection, paths numbered in the order they are found.

        Rounds of: a forward pass over the detections left, then :meth:`_take_paths`. Each
        round takes at least one path from every stream with detections left.
        """
        num = len(nodes.frame)
        path = np.full(num, -1, dtype=np.int64)
        left = np.ones(num, dtype=bool)
        while left.any():
            keep = left[links.src] & left[links.dst]
            links = _Links(links.src[keep], links.dst[keep], links.gain[keep])
            total, pred = _forward(nodes, links, num)
            found = int(path.max(initial=-1)) + 1
            self._take_paths(nodes, np.flatnonzero(left), total, pred, path, found)
            left = path < 0
        return path

    @staticmethod
    def _take_paths(nodes: _Nodes, live: np.ndarray, total: np.ndarray, pred: np.ndarray,
                    path: np.ndarray, found: int) -> None:
        """Take every path the one-at-a-time search would take next: write their numbers,
        from ``found`` on in the order taken, into ``path`` at their detections.

        The best predecessors form a forest; a detection's best path runs to its tree's
        root. Walking a stream's detections ``live`` by decreasing ``total`` (ties as in the
        class docstring), the first detection of each tree ends a path (its *head*), and a
        later detection of that tree either lies on the head's path or its best path
        shares detections with it. Removing taken paths leaves the totals of untouched
        trees as they were and can only lower the others, so heads are taken in this order
        until the first detection that is neither a head nor on its head's path: its total
        after the removal is unknown until the next round.
        """
        order = live[np.lexsort((live, -total[live], nodes.stream[live]))]
        root = _roots(pred)
        _, first = np.unique(root[order], return_index=True)
        is_head = np.zeros(len(order), dtype=bool)
        is_head[first] = True
        heads = order[first]
        head_of = np.full(len(pred), -1, dtype=np.int64)
        current, owner = heads, heads
        while len(current):
            head_of[current] = owner
            back = pred[current]
            more = back >= 0
            current, owner = back[more], owner[more]
        stops = ~is_head & (head_of[order] < 0)
        stream = nodes.stream[order]
        starts = run_starts(stream)
        stops_before = np.cumsum(stops) - stops
        stops_before -= np.repeat(stops_before[starts], run_stops(starts, len(order)) - starts)
        taken_heads = order[is_head & (stops_before == 0)]
        number = np.full(len(pred) + 1, -1, dtype=np.int64)  # by head; -1 for none
        number[taken_heads] = found + np.arange(len(taken_heads))
        on_taken = number[head_of] >= 0
        path[on_taken] = number[head_of[on_taken]]

    def _tubes(self, nodes: _Nodes, path: np.ndarray, num_videos: int) -> List[List[Tube]]:
        """Interpolate, trim, score and NMS the paths; list them per video, best first."""
        out: List[List[Tube]] = [[] for _ in range(num_videos)]
        if not len(path):
            return out
        members = np.lexsort((nodes.frame, path))  # by path, oldest first
        first = run_starts(path[members])
        last = run_stops(first, len(members)) - 1
        spans = nodes.frame[members[last]] - nodes.frame[members[first]] + 1
        long = np.repeat(spans >= self.min_length, last - first + 1)
        dense = _dense(nodes, members[long], path[members[long]])
        if dense is None:
            return out
        rows, score, detected, starts, lengths, owner = dense
        start, stop, detected_before = self._action_segments(score, detected, starts, lengths)
        count = detected_before[stop] - detected_before[start]
        # Summed segment by segment, so that a tube's score does not depend on the other
        # videos linked with it.
        bounds = np.column_stack([detected_before[start], detected_before[stop]]).ravel()
        sums = np.add.reduceat(np.append(score[detected], 0.0), bounds)[::2]
        tube_score = sums / count
        video, label = nodes.video[owner[start]], nodes.label[owner[start]]
        kept = self._tube_nms(rows, start, stop, video, label, tube_score)
        # Best first; ties by label, first frame, then the order the paths were found.
        final = np.lexsort((path[owner[start]], rows[start, 0], label, -tube_score, video))
        for i in final[kept[final]].tolist():
            out[video[i]].append((int(label[i]), float(tube_score[i]),
                                  rows[start[i]:stop[i]].copy()))
        return out


def _forward(nodes: _Nodes, links: _Links, num: int) -> Tuple[np.ndarray, np.ndarray]:
    """The Viterbi forward pass over all streams at once.

    Returns:
        (N,) ``total``, the score of the best path ending at each detection, and (N,)
        ``pred``, its previous detection (-1 where the path starts).
    """
    total = nodes.score.astype(np.float64).copy()
    pred = np.full(num, -1, dtype=np.int64)
    if not len(links.src):
        return total, pred
    best = np.full(num, -np.inf)
    group = run_starts(links.dst)  # the links into one detection
    target = links.dst[group]
    step = run_starts(nodes.frame[target])  # the detections of one frame
    step_bounds = np.append(step, len(group)).tolist()
    link_bounds = np.append(group, len(links.src))[step_bounds].tolist()
    local = group - np.repeat(group[step], np.diff(step_bounds))
    for k in range(len(step)):
        g0, g1 = step_bounds[k], step_bounds[k + 1]
        e0, e1 = link_bounds[k], link_bounds[k + 1]
        reach = total[links.src[e0:e1]] + links.gain[e0:e1]
        peak = np.maximum.reduceat(reach, local[g0:g1])
        into = target[g0:g1]
        best[into] = peak
        total[into] = nodes.score[into] + np.maximum(peak, 0.0)
    # The first link (in preference order) that reaches each detection's best; the same
    # floats as in the pass, since a detection's total is final before later frames.
    reach = total[links.src] + links.gain
    hit = np.flatnonzero((reach == best[links.dst]) & (best[links.dst] >= 0))
    ends, first = np.unique(links.dst[hit], return_index=True)
    pred[ends] = links.src[hit[first]]
    return total, pred


def _linked_pairs(boxes: np.ndarray, src: np.ndarray, dst: np.ndarray, iou_thr: float,
                  plus_one: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs ``(src, dst)`` (P,) of rows of ``boxes`` (N, 4) with IoU >= ``iou_thr``,
    and their IoUs.

    :func:`~.overlaps.paired_iou`'s arithmetic (the same floats), on 1-D coordinate columns
    and areas computed once per box: the candidate pairs are the linker's largest arrays,
    and gathering four columns per pair costs far less than gathering (P, 4) boxes twice.
    With ``iou_thr > 0``, pairs apart in x are dropped before the rest is computed.
    """
    extra = 1.0 if plus_one else 0.0
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    area = (x2 - x1 + extra) * (y2 - y1 + extra)
    width = np.minimum(x2[src], x2[dst]) - np.maximum(x1[src], x1[dst])
    if iou_thr > 0:
        near = width + extra > 0
        src, dst, width = src[near], dst[near], width[near]
    height = np.minimum(y2[src], y2[dst]) - np.maximum(y1[src], y1[dst])
    inter = np.maximum(width + extra, 0.0) * np.maximum(height + extra, 0.0)
    union = area[src] + area[dst] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    ok = iou >= iou_thr
    return src[ok], dst[ok], iou[ok]


def _roots(pred: np.ndarray) -> np.ndarray:
    """(N,) the first detection of each detection's best path, by pointer doubling."""
    root = np.where(pred >= 0, pred, np.arange(len(pred)))
    while True:
        up = root[root]
        if np.array_equal(up, root):
            return root
        root = up


def _dense(nodes: _Nodes, samples: np.ndarray, owner: np.ndarray):
    """Every frame of the paths ``owner`` (S,) (grouped, oldest first) from their first to
    their last detection ``samples`` (S,), boxes and scores interpolated linearly in
    between.

    Returns:
        None without samples, else (D, 5) rows ``frame, x1, y1, x2, y2``, (D,) score,
        (D,) detected, (K,) start and length of each path in the D rows, (D,) the
        detection that precedes or is each row.
    """
    if not len(samples):
        return None
    frame = nodes.frame[samples]
    first = run_starts(owner)
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
    values = np.column_stack([nodes.boxes[samples], nodes.score[samples]])
    detected = frame[left] == dense_frame
    dense = values[left].copy()
    gap = np.flatnonzero(~detected)
    x0 = frame[left[gap]].astype(np.float64)
    x1 = frame[right[gap]].astype(np.float64)
    weight = ((dense_frame[gap] - x0) / (x1 - x0))[:, None]
    dense[gap] = values[left[gap]] + weight * (values[right[gap]] - values[left[gap]])
    rows = np.column_stack([dense_frame.astype(np.float64), dense[:, :4]])
    return rows, dense[:, 4], detected, starts, lengths, samples[left]
