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
from typing import NamedTuple, Tuple

import numpy as np

from ..overlaps import group_ranks, overlapping_pairs, run_starts, run_stops
from .base import LinkRows, SettingRule, TubeLinkerBase, TubeSegments


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

    Args:
        score_product_weight: α (>= 0), the weight of YOWO's ``s(d_i) s(d_{i+1})`` term; 0
            is Gkioxari & Malik's energy.
        **settings: The settings every linker has, with the same defaults
            (:class:`~.base.TubeLinkerBase`), so that comparing linkers measures the search,
            not the settings. Here ``iou_weight`` is Gkioxari & Malik's λ; ``link_iou_thr``
            is YOWO's ψ, so that a path does not jump between two actors of one class;
            ``max_gap`` is the frames a link may skip (0: Gkioxari & Malik's strict
            linking; their proposals covered every frame, a detector misses some);
            ``frame_nms_thr`` keeps a near-duplicate of a linked box from forming a second
            path along the same actor, and ``tube_nms_thr`` removes the overlapping tube
            that boxes beside a removed path, kept by the frame NMS, can still form.
    """

    SETTINGS = dict(TubeLinkerBase.SETTINGS, score_product_weight=SettingRule('number', 0))
    interpolation = 'weight'

    def __init__(self, *, score_product_weight: float = 0.0, **settings) -> None:
        self.score_product_weight = score_product_weight
        super().__init__(**settings)

    def _find_paths(self, rows: LinkRows) -> np.ndarray:
        # The detections in search order: by frame, then video, label, decreasing score and
        # input order.
        by_frame = np.argsort(rows.frame, kind='stable')
        nodes = LinkRows(*(a[by_frame] for a in rows))
        path = np.empty(len(by_frame), dtype=np.int64)
        path[by_frame] = self._search(nodes, self._links(nodes))
        return path

    def _tube_order(self, rows: LinkRows, path: np.ndarray, tubes: TubeSegments
                    ) -> Tuple[np.ndarray, np.ndarray]:
        """Tube NMS meets the tubes in the order their paths were found; they are listed
        per video by decreasing score, ties by label, first frame, then the order the
        paths were found."""
        listed = np.lexsort((path[tubes.row], tubes.frame, rows.label[tubes.row],
                             -tubes.score, rows.video[tubes.row]))
        return np.arange(len(tubes.start)), listed

    def _tube_scores(self, score: np.ndarray, detected: np.ndarray,
                     detected_before: np.ndarray, start: np.ndarray,
                     stop: np.ndarray) -> np.ndarray:
        """(S,) mean score of the detected frames of each tube, summed tube by tube (so that
        a tube's score does not depend on the other videos linked with it) by
        ``np.add.reduceat``."""
        count = detected_before[stop] - detected_before[start]
        bounds = np.column_stack([detected_before[start], detected_before[stop]]).ravel()
        sums = np.add.reduceat(np.append(score[detected], 0.0), bounds)[::2]
        return sums / count

    def _links(self, nodes: LinkRows) -> _Links:
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
        src, dst, iou = overlapping_pairs(nodes.boxes, src, dst, self.link_iou_thr,
                                      self.protocol == 'act')
        gain = self.iou_weight * iou
        if self.score_product_weight:
            gain = gain + self.score_product_weight * nodes.score[src] * nodes.score[dst]
        return _Links(src, dst, gain)

    def _search(self, nodes: LinkRows, links: _Links) -> np.ndarray:
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
    def _take_paths(nodes: LinkRows, live: np.ndarray, total: np.ndarray, pred: np.ndarray,
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


def _forward(nodes: LinkRows, links: _Links, num: int) -> Tuple[np.ndarray, np.ndarray]:
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


def _roots(pred: np.ndarray) -> np.ndarray:
    """(N,) the first detection of each detection's best path, by pointer doubling."""
    root = np.where(pred >= 0, pred, np.arange(len(pred)))
    while True:
        up = root[root]
        if np.array_equal(up, root):
            return root
        root = up
