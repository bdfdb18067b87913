"""Which tubes and boxes to draw: one confident tube per actor, one box per actor and frame.

The linker links each class on its own, so one actor gets a tube for every class it may be
doing, and two tubes of one actor with different spans have a low tube IoU. A reader wants
one labelled box per actor: these two steps pick it (``tools/demo.py``, the live demo and
:class:`~point3d_mm.engine.Point3DVisualizationHook` draw through them).

Tubes are ``(label, score, (L, 5) rows frame, x1, y1, x2, y2)`` in frame pixels, as
:class:`~point3d_mm.evaluation.functional.TubeLinker` returns them.
"""
from typing import Dict, List, Sequence

import numpy as np

from ..evaluation.functional import tube_nms
from ..evaluation.functional.overlaps import Tube, iou2d


def select_tubes(tubes: Sequence[Tube], score_thr: float, overlap_thr: float) -> List[Tube]:
    """The tubes to show, best first: those scoring at least ``score_thr``, and of tubes
    overlapping by a tube IoU above ``overlap_thr`` the best scored, whatever their classes
    (the linker links each class on its own, so one actor has a tube for each class it may be
    doing)."""
    kept = [tube for tube in tubes if tube[1] >= score_thr]
    if not kept:
        return []
    best = tube_nms([tube[2] for tube in kept], [tube[1] for tube in kept], overlap_thr)
    return [kept[i] for i in best]


def one_box_per_actor(tubes: Sequence[Tube], overlap_thr: float) -> List[Tube]:
    """Frame-level NMS across tubes: in each frame, the boxes of tubes overlapping a box of a
    better scored tube by an IoU above ``overlap_thr`` are dropped (tube NMS compares whole
    tubes, and two tubes of one actor with different spans have a low tube IoU). Tubes left
    without boxes are dropped; the others keep their order."""
    order = sorted(range(len(tubes)), key=lambda i: -tubes[i][1])
    kept_boxes: Dict[int, np.ndarray] = {}  # frame -> (K, 4) boxes of better tubes
    keep_rows = {}
    for i in order:
        boxes = np.asarray(tubes[i][2])
        rows = np.ones(len(boxes), bool)
        for j, row in enumerate(boxes):
            frame = int(row[0])
            others = kept_boxes.get(frame)
            if others is not None and overlap_thr < 1 and \
                    iou2d(row[None, 1:5], others).max() > overlap_thr:
                rows[j] = False
            else:
                kept_boxes[frame] = row[None, 1:5] if others is None else np.concatenate(
                    [others, row[None, 1:5]])
        keep_rows[i] = rows
    return [(label, score, np.asarray(boxes)[keep_rows[i]])
            for i, (label, score, boxes) in enumerate(tubes) if keep_rows[i].any()]
