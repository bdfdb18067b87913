"""The registered visualizer of point3d_mm: Point3D's boxes, classes, scores and tube ids on
video frames.

mmengine's ``Visualizer`` gives the registry entry, the vis backends (``add_image`` to
``LocalVisBackend``, TensorBoard, ...), ``dataset_meta`` and the window of ``show``; the
drawing itself is plain OpenCV (:func:`~.tube_drawer.draw_frame_tubes`): a video has
thousands of frames, and the Visualizer's matplotlib drawing costs tens of milliseconds per
frame. ``tools/demo.py`` (files and live input) and
:class:`~point3d_mm.engine.Point3DVisualizationHook` (``tools/test.py --show-dir``) all
draw through this class.
"""
import os
import sys
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmaction.registry import VISUALIZERS
from mmengine.visualization import Visualizer

from ..evaluation.functional.overlaps import Tube
from .selection import one_box_per_actor, select_tubes
from .tube_drawer import MIN_LONG_SIDE, draw_frame_tubes, render_size

#: One box to draw: (tube id or None, label, score, (4,) box x1 y1 x2 y2 in frame pixels).
Entry = Tuple[Optional[int], int, float, np.ndarray]


class NoDisplayError(RuntimeError):
    """Frames cannot be shown in a window here (no display, or OpenCV without a GUI)."""


def check_display() -> None:
    """Raise :class:`NoDisplayError` when there is clearly no display to show frames on
    (Linux without ``DISPLAY``/``WAYLAND_DISPLAY``): checked before any work, since OpenCV's
    Qt/GTK windows abort the process rather than raise there."""
    if sys.platform.startswith('linux') and not (os.environ.get('DISPLAY')
                                                 or os.environ.get('WAYLAND_DISPLAY')):
        raise NoDisplayError('cannot show frames in a window: no display (DISPLAY is not '
                             'set); write them instead (--out-video / --show-dir)')


@VISUALIZERS.register_module()
class Point3DLocalVisualizer(Visualizer):
    """Draw Point3D's predictions on BGR video frames at a readable size.

    Args:
        name: Instance name (mmengine's ``ManagerMixin``).
        vis_backends: mmengine vis backend configs, e.g. ``[dict(type='LocalVisBackend')]``.
        save_dir: Folder of the vis backends' files.
        score_thr: Tubes (and, in :meth:`add_datasample`, boxes) scoring below are not drawn.
        overlap_thr: Of tubes overlapping by a tube IoU above this the best scored is drawn,
            then, per frame, boxes overlapping a better tube's box by an IoU above this are
            dropped: one box per actor and frame (1 draws everything).
        min_long_side: Frames are scaled up, aspect kept, to a long side of at least this
            many pixels before drawing (a 128 px video is unreadable at its own size).
        **kwargs: Passed to mmengine's ``Visualizer``.
    """

    def __init__(self, name: str = 'visualizer', vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None, score_thr: float = 0.2,
                 overlap_thr: float = 0.5, min_long_side: int = MIN_LONG_SIDE,
                 **kwargs) -> None:
        super().__init__(name=name, vis_backends=vis_backends, save_dir=save_dir, **kwargs)
        self.score_thr = score_thr
        self.overlap_thr = overlap_thr
        self.min_long_side = min_long_side

    @property
    def classes(self) -> List[str]:
        """Class names by label (``dataset_meta['classes']``; empty when unknown)."""
        return list((self.dataset_meta or {}).get('classes', ()))

    def select_tubes(self, tubes: Sequence[Tube], last_frames: Optional[int] = None
                     ) -> List[Tube]:
        """The tubes to draw: scoring at least ``score_thr``, one per actor, one box per
        actor and frame (:mod:`.selection`), best first.

        Args:
            tubes: ``(label, score, (L, 5) frame, x1, y1, x2, y2)``.
            last_frames: keep only the last this many boxes of each tube after the tube NMS
                (which compares whole tubes), before the per-frame NMS: a live view draws
                the newest frame only, and the per-frame NMS of whole tubes costs
                O(boxes x tubes) Python steps at every frame.
        """
        tubes = select_tubes(tubes, self.score_thr, self.overlap_thr)
        if last_frames is not None:
            tubes = [(label, score, np.asarray(boxes)[-last_frames:])
                     for label, score, boxes in tubes]
        return one_box_per_actor(tubes, self.overlap_thr)

    def render_size(self, frame_shape: Sequence[int]) -> Tuple[int, int]:
        """(height, width) a frame of ``frame_shape`` (H, W, ...) is drawn at."""
        return render_size(frame_shape[0], frame_shape[1], self.min_long_side)

    def draw_frame(self, frame: np.ndarray, entries: Sequence[Entry],
                   frame_number: Optional[int] = None, heatmap: Optional[np.ndarray] = None,
                   out_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """One annotated frame: ``frame`` scaled to its render size (or ``out_size``), its
        boxes scaled alike and drawn with 'id class score' labels kept inside the frame and
        apart.

        Args:
            frame: (H, W, 3) uint8 BGR frame; not modified.
            entries: the boxes, in ``frame``'s pixels (see :data:`Entry`).
            frame_number: written in the top-left corner when given.
            heatmap: optional (h, w) centre heatmap in [0, 1], blended under the boxes.
            out_size: (height, width) to draw at; default :meth:`render_size`.

        Returns:
            The (out_h, out_w, 3) uint8 BGR drawing.
        """
        height, width = frame.shape[:2]
        out_h, out_w = out_size or self.render_size(frame.shape)
        factor = np.array([out_w / width, out_h / height] * 2)
        scaled = [(tube_id, label, score, np.asarray(box, np.float64) * factor)
                  for tube_id, label, score, box in entries]
        canvas = frame if (out_h, out_w) == (height, width) else cv2.resize(
            frame, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        drawn = draw_frame_tubes(canvas, scaled, self.classes, heatmap=heatmap,
                                 frame_number=frame_number)
        return drawn

    def add_datasample(self, name: str, image: np.ndarray, data_sample=None,
                       draw_gt: bool = False, draw_pred: bool = True, show: bool = False,
                       wait_time: float = 0, out_file: Optional[str] = None,
                       step: int = 0, **kwargs) -> np.ndarray:
        """mmengine's interface: one clip's key frame with the clip's predicted boxes.

        Args:
            name: Image identifier for the vis backends.
            image: (H, W, 3) uint8 RGB key frame (mmengine's channel order).
            data_sample: an ``ActionDataSample`` whose ``pred_instances`` (``bboxes`` (M, 4)
                in key-frame pixels, ``labels`` (M,), ``scores`` (M,)) are drawn, those
                scoring at least ``score_thr``, without tube ids (a clip has none).
            draw_gt: ground truth is not drawn (a clip's ``gt_instances`` cover all its
                frames); accepted for mmengine's hooks, must be False.
            draw_pred: draw the predictions.
            show: show the drawing in a window (OpenCV) for ``wait_time`` seconds.
            out_file: write the drawing there (any image suffix) instead of to the vis
                backends.
            step: Global step for the vis backends.

        Returns:
            The (h, w, 3) uint8 RGB drawing at the render size.
        """
        if draw_gt:
            raise ValueError('Point3DLocalVisualizer draws predictions only (draw_gt=False)')
        entries: List[Entry] = []
        pred = getattr(data_sample, 'pred_instances', None) if draw_pred else None
        if pred is not None and len(pred):
            scores = np.asarray(pred.scores.cpu() if hasattr(pred.scores, 'cpu')
                                else pred.scores, np.float64)
            labels = np.asarray(pred.labels.cpu() if hasattr(pred.labels, 'cpu')
                                else pred.labels).astype(int)
            boxes = np.asarray(pred.bboxes.cpu() if hasattr(pred.bboxes, 'cpu')
                               else pred.bboxes, np.float64)
            entries = [(None, int(label), float(score), box)
                       for label, score, box in zip(labels, scores, boxes)
                       if score >= self.score_thr]
        frame_number = None
        if data_sample is not None and 'frame_ids' in data_sample.metainfo:
            frame_number = int(data_sample.frame_ids[data_sample.key_frame_index])
        drawn = self.draw_frame(np.ascontiguousarray(image[..., ::-1]), entries,
                                frame_number=frame_number)
        if show:
            self.show_frame(drawn, name, wait_time)
        if out_file is not None:
            from ..utils.fileio import atomic_write
            suffix = '.' + out_file.rsplit('.', 1)[-1] if '.' in out_file else '.png'
            ok, data = cv2.imencode(suffix, drawn)
            if not ok:
                raise ValueError(f'{out_file}: OpenCV cannot encode {suffix} images')
            atomic_write(data.tobytes(), out_file)
        else:
            self.add_image(name, drawn[..., ::-1], step)
        return drawn[..., ::-1]

    def show_frame(self, drawn: np.ndarray, win_name: str = 'point3d',
                   wait_time: float = 0.001) -> int:
        """Show a BGR drawing in an OpenCV window for ``wait_time`` seconds (at least 1 ms,
        for the window to repaint); returns the key pressed (-1 for none).

        mmengine's ``show(backend='cv2')`` does the same but drops the key, which the live
        demo needs to stop on 'q'.

        Raises:
            NoDisplayError: no display, or an OpenCV built without a GUI.
        """
        check_display()
        try:
            cv2.imshow(win_name, drawn)
            return cv2.waitKey(max(1, int(np.ceil(wait_time * 1000))))
        except cv2.error as error:
            raise NoDisplayError(f'cannot show frames in a window here (an OpenCV built '
                                 f'without a GUI?): {str(error).strip()}') from None
