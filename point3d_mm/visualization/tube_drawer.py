"""Drawing tubes on video frames.

Plain OpenCV rather than mmengine's ``Visualizer``: a demo draws every frame of a video, and
the matplotlib-backed Visualizer costs tens of milliseconds per frame.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..evaluation.functional.overlaps import Tube


def tube_color(tube_id: int) -> Tuple[int, int, int]:
    """A stable, distinct BGR colour per tube id (golden-ratio hue steps)."""
    hue = int((tube_id * 0.618034 % 1.0) * 179)
    hsv = np.uint8([[[hue, 200, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def entry_color(tube_id: Optional[int], label: int) -> Tuple[int, int, int]:
    """The colour of a tube's boxes, or of its class's boxes for a box of no tube (None)."""
    return tube_color(label if tube_id is None else tube_id)


def index_tubes_by_frame(tubes: Sequence[Tube]) -> Dict[int, List[Tuple[int, int, float,
                                                                        np.ndarray]]]:
    """``{frame: [(tube_id, label, score, box (4,)), ...]}`` for drawing frame by frame."""
    by_frame: Dict[int, list] = {}
    for tube_id, (label, score, boxes) in enumerate(tubes):
        for row in np.asarray(boxes):
            by_frame.setdefault(int(row[0]), []).append((tube_id, int(label), float(score),
                                                         row[1:5]))
    return by_frame


FONT = cv2.FONT_HERSHEY_SIMPLEX
MIN_LONG_SIDE = 512


def render_size(height: int, width: int, min_long_side: int = MIN_LONG_SIDE) -> Tuple[int, int]:
    """The (height, width) a frame is drawn at: scaled up, aspect kept, so that its long side
    is at least ``min_long_side`` (a 96x72 video is unreadable at its own size); even sizes,
    as H.264 and MPEG-4 encoders want. Frames already that large keep their size (rounded up
    to even)."""
    factor = max(1.0, min_long_side / max(height, width, 1))

    def even(v: float) -> int:
        return max(2, int(np.ceil(v / 2 - 1e-9)) * 2)

    return even(height * factor), even(width * factor)


def _overlaps(a: Tuple[int, int, int, int], b: Tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_label(box: Sequence[float], size: Tuple[int, int], frame_shape: Tuple[int, int],
                placed: Sequence[Tuple[int, int, int, int]]) -> Tuple[int, int, int, int]:
    """Where to put a ``size`` = (w, h) label of ``box``: (x1, y1, x2, y2), exclusive ends.

    Above the box, or inside its top when there is no room above (box at the top edge); x
    clamped so that the label stays in the frame; shifted down past every already ``placed``
    label it would cover (or, when that runs off the bottom, up above them).
    """
    height, width = frame_shape[:2]
    w, h = min(size[0], width), min(size[1], height)
    x = int(np.clip(round(float(box[0])), 0, width - w))
    y_box = int(round(float(box[1])))
    start = y_box - h if y_box - h >= 0 else int(np.clip(y_box, 0, height - h))

    def free_from(top: int, step: int) -> Optional[int]:
        while 0 <= top <= height - h:
            hits = [r for r in placed if _overlaps((x, top, x + w, top + h), r)]
            if not hits:
                return top
            top = max(r[3] for r in hits) if step > 0 else min(r[1] for r in hits) - h
        return None

    top = free_from(start, 1)
    if top is None:
        top = free_from(start, -1)
    if top is None:  # nowhere free in this column: keep it in the frame at least
        top = start
    return x, top, x + w, top + h


def draw_heatmap_legend(canvas: np.ndarray) -> Tuple[int, int, int, int]:
    """A colour bar of the heatmap's colours from 0 to 1, titled 'centre heatmap', in the
    bottom-right corner; returns its (x1, y1, x2, y2)."""
    height, width = canvas.shape[:2]
    scale = max(0.35, min(height, width) / 800)
    (tw, th), base = cv2.getTextSize('centre heatmap', FONT, scale, 1)
    bar_w, bar_h, pad = max(tw, width // 4), max(6, height // 40), 4
    x2, y2 = width - pad, height - pad
    x1, y1 = max(0, x2 - bar_w - 2 * pad), max(0, y2 - bar_h - 2 * (th + base) - 4 * pad)
    cv2.rectangle(canvas, (x1, y1), (x2, y2), (32, 32, 32), -1)
    bar = cv2.applyColorMap(np.linspace(0, 255, bar_w).astype(np.uint8)[None].repeat(bar_h, 0),
                            cv2.COLORMAP_JET)
    bx, by = x1 + pad, y1 + 2 * pad + th + base
    bar = bar[:max(0, min(bar_h, height - by)), :max(0, min(bar_w, width - bx))]
    canvas[by:by + bar.shape[0], bx:bx + bar.shape[1]] = bar
    white = (255, 255, 255)
    cv2.putText(canvas, 'centre heatmap', (bx, y1 + pad + th), FONT, scale, white, 1, cv2.LINE_AA)
    ty = by + bar_h + pad + th
    cv2.putText(canvas, '0', (bx, ty), FONT, scale, white, 1, cv2.LINE_AA)
    (ow, _), _ = cv2.getTextSize('1', FONT, scale, 1)
    cv2.putText(canvas, '1', (bx + bar_w - ow, ty), FONT, scale, white, 1, cv2.LINE_AA)
    return x1, y1, x2, y2


def draw_frame_tubes(frame: np.ndarray, entries: Sequence[Tuple[int, int, float, np.ndarray]],
                     classes: Sequence[str] = (), heatmap: Optional[np.ndarray] = None,
                     frame_number: Optional[int] = None, return_labels: bool = False):
    """Draw the tube boxes of one frame, at the frame's size (scale frame and boxes up
    beforehand for a readable video, see :func:`render_size`).

    Labels stay inside the frame and never cover each other (:func:`place_label`, in the
    order of ``entries``, after the frame number). With a heatmap, a legend (colour bar from
    0 to 1, 'centre heatmap') goes to the bottom-right corner.

    Args:
        frame: (H, W, 3) BGR uint8 frame; not modified.
        entries: (tube_id, label, tube score, box x1 y1 x2 y2 in frame pixels); a tube id
            of None (a frame detection that belongs to no tube) is drawn without '#id', in
            its class's colour.
        classes: class names by label; the label number is shown when missing.
        heatmap: optional (h, w) centre heatmap in [0, 1], blended over the frame.
        frame_number: written in the top-left corner when given.
        return_labels: also return the label rectangles (x1, y1, x2, y2), one per entry.

    Returns:
        The annotated (H, W, 3) BGR frame (and the label rectangles).
    """
    canvas = frame.copy()
    height, width = frame.shape[:2]
    if heatmap is not None:
        heat = cv2.resize(np.clip(heatmap, 0, 1).astype(np.float32), (width, height))
        colored = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
        canvas = cv2.addWeighted(canvas, 0.6, colored, 0.4, 0)
    scale = max(0.35, min(height, width) / 700)
    thickness = max(1, int(round(min(height, width) / 250)))
    placed: List[Tuple[int, int, int, int]] = []
    if frame_number is not None:
        text = str(frame_number)
        (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
        cv2.putText(canvas, text, (4, 4 + th), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
        placed.append((0, 0, tw + 8, th + base + 8))
    labels = []
    for tube_id, label, _, box in entries:
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), entry_color(tube_id, label), thickness)
    for tube_id, label, score, box in entries:
        color = entry_color(tube_id, label)
        name = classes[label] if label < len(classes) else str(label)
        text = f'{name} {score:.2f}' if tube_id is None else f'#{tube_id} {name} {score:.2f}'
        (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
        rect = place_label(box, (tw + 4, th + base + 4), (height, width), placed)
        placed.append(rect)
        labels.append(rect)
        cv2.rectangle(canvas, rect[:2], (rect[2] - 1, rect[3] - 1), color, -1)
        cv2.putText(canvas, text, (rect[0] + 2, rect[1] + 2 + th), FONT, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    if heatmap is not None:
        draw_heatmap_legend(canvas)
    return (canvas, labels) if return_labels else canvas
