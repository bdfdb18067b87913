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


def index_tubes_by_frame(tubes: Sequence[Tube]) -> Dict[int, List[Tuple[int, int, float,
                                                                        np.ndarray]]]:
    """``{frame: [(tube_id, label, score, box (4,)), ...]}`` for drawing frame by frame."""
    by_frame: Dict[int, list] = {}
    for tube_id, (label, score, boxes) in enumerate(tubes):
        for row in np.asarray(boxes):
            by_frame.setdefault(int(row[0]), []).append((tube_id, int(label), float(score),
                                                         row[1:5]))
    return by_frame


def draw_frame_tubes(frame: np.ndarray, entries: Sequence[Tuple[int, int, float, np.ndarray]],
                     classes: Sequence[str] = (), heatmap: Optional[np.ndarray] = None,
                     frame_number: Optional[int] = None) -> np.ndarray:
    """Draw the tube boxes of one frame.

    Args:
        frame: (H, W, 3) BGR uint8 frame; not modified.
        entries: (tube_id, label, tube score, box x1 y1 x2 y2 in frame pixels).
        classes: class names by label; the label number is shown when missing.
        heatmap: optional (h, w) centre heatmap in [0, 1], blended over the frame.
        frame_number: written in the top-left corner when given.

    Returns:
        The annotated (H, W, 3) BGR frame.
    """
    canvas = frame.copy()
    if heatmap is not None:
        heat = cv2.resize(np.clip(heatmap, 0, 1).astype(np.float32),
                          (frame.shape[1], frame.shape[0]))
        colored = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
        canvas = cv2.addWeighted(canvas, 0.6, colored, 0.4, 0)
    scale = max(0.35, min(frame.shape[:2]) / 500)
    for tube_id, label, score, box in entries:
        color = tube_color(tube_id)
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
        name = classes[label] if label < len(classes) else str(label)
        text = f'#{tube_id} {name} {score:.2f}'
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y1 - th - 4)
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 2, top + th + 4), color, -1)
        cv2.putText(canvas, text, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    if frame_number is not None:
        cv2.putText(canvas, str(frame_number), (4, int(16 * scale / 0.35)),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
