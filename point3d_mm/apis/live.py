"""Tubes of a live stream, with memory bounded however long the stream runs.

:class:`~point3d_mm.evaluation.functional.TubeLinker` links a whole video's detections at
once. A live stream has no end to wait for, so :class:`LiveTubeLinker` keeps only the
detections of the last ``window`` frames, relinks them with the config's linker at every
frame (the same link scores, gap filling, trimming and tube NMS) and reports the tubes alive
at the newest frame. A tube keeps its id from frame to frame while it goes through (nearly)
the box it had at the previous frame; ids are never reused.
"""
from collections import deque
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..evaluation import build_linker
from ..evaluation.functional.overlaps import Tube, iou2d

#: One tube at the newest frame: (tube id, label, tube score, (4,) box x1 y1 x2 y2).
LiveEntry = Tuple[int, int, float, np.ndarray]


class LiveTubeLinker:
    """Link a stream's detections frame by frame over a sliding window.

    Args:
        linker: a ``TubeLinker`` config (e.g. :func:`~point3d_mm.apis.linker_config` of the
            model's config) or a built linker (``linker(rows) -> tubes``).
        window: frames of detections kept and relinked (the linker's ``max_gap`` and
            ``motion_window`` should fit in it; 16 frames is 0.64 s at 25 fps).
        select: applied to the tubes alive at the newest frame before ids are given (e.g.
            the visualizer's one-tube-per-actor selection), ``select(tubes) -> tubes``.
        same_tube_iou: a tube takes the id of a tube of the previous frame whose box there
            overlaps its own box there by at least this IoU (the relinked box of a detected
            frame is the detection itself, so it is usually identical).

    Memory: the ``window`` frames' (M, 7) detection rows and one box per shown tube.
    """

    def __init__(self, linker: Union[dict, Callable[[np.ndarray], List[Tube]]],
                 window: int = 16, select: Optional[Callable[[List[Tube]], List[Tube]]] = None,
                 same_tube_iou: float = 0.7) -> None:
        if window < 2:
            raise ValueError(f'window must be >= 2 frames, got {window}')
        self.linker = build_linker(linker) if isinstance(linker, dict) else linker
        self.window = window
        self.select = select
        self.same_tube_iou = same_tube_iou
        self._rows: deque = deque(maxlen=window)
        self._previous: List[Tuple[int, np.ndarray]] = []  # (id, box) at the last frame
        self._last_frame: Optional[int] = None
        self._next_id = 0

    @property
    def tubes_started(self) -> int:
        """How many tube ids have been given."""
        return self._next_id

    def update(self, frame: int, detections: np.ndarray) -> List[LiveEntry]:
        """Add the detections of the newest frame; the tubes alive there, best first.

        Args:
            frame: the frame's number, larger than the last one's (consecutive numbers: a
                gap counts as frames without detections).
            detections: (M, 7) rows ``frame, label, score, x1, y1, x2, y2`` of that frame
                (their frame column is set to ``frame``).

        Returns:
            ``(tube id, label, score, box)`` of each tube with a box at ``frame``.
        """
        rows = np.array(detections, np.float64).reshape(-1, 7)
        rows[:, 0] = frame
        self._rows.append(self._frame_survivors(rows))
        recent = np.concatenate(self._rows)
        tubes = [tube for tube in self.linker(recent) if int(tube[2][-1, 0]) == frame]
        if self.select is not None:
            tubes = self.select(tubes)
        entries = self._give_ids(frame, tubes)
        self._last_frame = frame
        return entries

    def _frame_survivors(self, rows: np.ndarray) -> np.ndarray:
        """The rows of one frame that the linker's score threshold and per-frame, per-class
        NMS keep (its first step, which looks at each frame alone), so that relinking the
        window does not redo it for every frame every time: relinking them gives the same
        tubes, NMS keeping all of its own survivors."""
        prepare = getattr(self.linker, '_prepare', None)
        score_thr = getattr(self.linker, 'score_thr', None)
        if prepare is None or score_thr is None or not len(rows):
            return rows
        kept = prepare(np.column_stack([np.zeros(len(rows)), rows])[rows[:, 2] >= score_thr])
        return np.column_stack([kept.frame, kept.label, kept.score, kept.boxes])

    def _give_ids(self, frame: int, tubes: Sequence[Tube]) -> List[LiveEntry]:
        """Ids by greedy matching, best tube first, of each tube's box at the previous frame
        to the boxes shown there."""
        previous = self._previous if self._last_frame == frame - 1 else []
        free = list(range(len(previous)))
        entries, shown = [], []
        for label, score, boxes in tubes:
            boxes = np.asarray(boxes)
            tube_id = None
            before = boxes[boxes[:, 0] == frame - 1]
            if len(before) and free:
                ious = iou2d(before[:1, 1:5], np.stack([previous[i][1] for i in free]))[0]
                best = int(np.argmax(ious))
                if ious[best] >= self.same_tube_iou:
                    tube_id = previous[free.pop(best)][0]
            if tube_id is None:
                tube_id, self._next_id = self._next_id, self._next_id + 1
            box = boxes[-1, 1:5].copy()
            entries.append((tube_id, int(label), float(score), box))
            shown.append((tube_id, box))
        self._previous = shown
        return entries
