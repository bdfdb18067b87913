"""Drawing the test set's predictions: what ``tools/test.py --show-dir``/``--show`` (and so
``mim test ... --show-dir``) add to a run, like mmdet's ``DetVisualizationHook``."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from mmaction.registry import HOOKS
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ..datasets.transforms import LoadClipFrames
from ..evaluation import build_linker, linker_config
from ..utils.fileio import atomic_write
from ..visualization import (
    AnnotatedVideoWriter,
    Point3DLocalVisualizer,
    check_display,
    index_tubes_by_frame,
)

#: Output formats: one mp4 per test video, or one JPEG per frame in a folder per video.
OUT_FORMATS = ('mp4', 'frames')


@HOOKS.register_module()
class Point3DVisualizationHook(Hook):
    """Draw every test video's predicted tubes on its frames: boxes, class, score, tube id.

    Each test clip's key-frame detections (``pred_instances``: boxes in frame pixels,
    labels, scores) are collected per video; when the loop moves on to the next video (the
    test loops give a video's clips one after another) they are linked into tubes with the
    config's linker (the ``VideoMAP`` evaluator's, :func:`~point3d_mm.apis.linker_config`),
    the tubes to show are picked (score at least ``score_thr``, one per actor and frame) and
    the video's frames are read again through the dataset's frame loading and drawn by
    :class:`~point3d_mm.visualization.Point3DLocalVisualizer`. Only one video's detections
    are held at a time.

    Works with mmengine's ``TestLoop`` and :class:`~point3d_mm.engine.CachedFeatureTestLoop`
    (which passes the outputs but no data batch), on ACT-format test sets (``ACTDataset``:
    data infos with ``video``, ``frame_ids`` and frame files or a video file).

    Args:
        draw: Whether to draw at all (tools/test.py turns it on for ``--show-dir``/``--show``).
        out_dir: Where to write: ``<video>.mp4`` per video (``out_format='mp4'``) or
            ``<video>/<frame:05d>.jpg``. Relative to ``<work_dir>/<timestamp>`` (as in
            mmdet/mmaction2); None writes nothing (with ``show`` off, the frames go to the
            visualizer's vis backends instead).
        out_format: 'mp4' or 'frames'.
        show: Show each drawn frame in a window for ``wait_time`` seconds.
        wait_time: Seconds each shown frame stays.
        score_thr: Tubes scoring below are not drawn.
        overlap_thr: One tube per actor and one box per actor and frame at this IoU.
        fps: Frame rate of the mp4s.
    """

    priority = 'NORMAL'

    def __init__(self, draw: bool = False, out_dir: Optional[str] = None,
                 out_format: str = 'mp4', show: bool = False, wait_time: float = 0.04,
                 score_thr: float = 0.2, overlap_thr: float = 0.5, fps: float = 25.0) -> None:
        if out_format not in OUT_FORMATS:
            raise ValueError(f'out_format must be one of {OUT_FORMATS}, got {out_format!r}')
        self.draw, self.out_dir, self.out_format = draw, out_dir, out_format
        self.show, self.wait_time = show, wait_time
        self.score_thr, self.overlap_thr, self.fps = score_thr, overlap_thr, fps
        self._out_dir: Optional[str] = None  # out_dir resolved for the current run
        self._video: Optional[str] = None
        self._rows: List[np.ndarray] = []  # the current video's (M, 7) key-frame rows
        self._frames: List[int] = []  # its tested key frames
        self._done: set = set()
        self.written: List[str] = []  # the files written, in order

    # Set-up ---------------------------------------------------------------------------
    def before_test(self, runner) -> None:
        if not self.draw:
            return
        if self.show:
            check_display()  # before the test runs, not after its first video
        self._out_dir = None if self.out_dir is None else osp.join(
            runner.work_dir, runner.timestamp, self.out_dir)  # an absolute out_dir stays
        dataset = runner.test_dataloader.dataset
        self._sources = self._frame_sources(dataset)
        self._loader = LoadClipFrames(check_shape=False)
        self._linker = build_linker(linker_config(runner.cfg))
        # The run's visualizer when it is ours; with another (mmaction2's ActionVisualizer)
        # ours draws and the run's stores (add_image to its vis backends).
        self._backend = runner.visualizer
        visualizer = runner.visualizer
        if not isinstance(visualizer, Point3DLocalVisualizer):
            visualizer = Point3DLocalVisualizer(name=f'point3d_vis_{id(self)}')
        visualizer.score_thr, visualizer.overlap_thr = self.score_thr, self.overlap_thr
        visualizer.dataset_meta = dict(getattr(dataset, 'metainfo', None) or {})
        self._visualizer = visualizer
        # The cached loop gives each process whole videos; mmengine's loop deals clips to
        # processes in turn, so each process draws its frames of every video, under its rank.
        rank, world_size = get_dist_info()
        whole_videos = getattr(runner.test_loop, 'cache_features', False)
        self._suffix = f'.rank{rank}' if world_size > 1 and not whole_videos else ''
        self._video, self._rows, self._frames, self._done, self.written = None, [], [], set(), []

    @staticmethod
    def _frame_sources(dataset) -> Dict[str, dict]:
        """{video: the data-info keys that locate its frames} (``frame_dir`` +
        ``filename_tmpl``, or ``filename``)."""
        if not len(dataset) or not {'video', 'frame_ids'} <= set(dataset.get_data_info(0)):
            raise ValueError(f'--show-dir/--show draw ACT-format test sets (data infos with '
                             f'video and frame_ids); {type(dataset).__name__} has none')
        sources = {}
        for index in range(len(dataset)):
            info = dataset.get_data_info(index)
            if info['video'] not in sources:
                sources[info['video']] = {k: info[k] for k in ('frame_dir', 'filename_tmpl',
                                                               'filename') if k in info}
        return sources

    # Collecting -----------------------------------------------------------------------
    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        if not self.draw or not outputs:
            return
        for sample in outputs:
            video = sample.metainfo['video']
            if video != self._video:
                self._flush()
                self._video = video
            frame = int(sample.frame_ids[sample.key_frame_index])
            self._frames.append(frame)
            pred = sample.pred_instances
            if len(pred):
                self._rows.append(np.concatenate([
                    np.full((len(pred), 1), frame, np.float64),
                    pred.labels.cpu().numpy()[:, None].astype(np.float64),
                    pred.scores.cpu().numpy()[:, None].astype(np.float64),
                    pred.bboxes.cpu().numpy().astype(np.float64)], axis=1))

    def after_test_epoch(self, runner, metrics=None) -> None:
        if not self.draw:
            return
        self._flush()
        if self._out_dir is not None:
            print_log(f'--show-dir: {len(self.written)} annotated '
                      f'{"videos" if self.out_format == "mp4" else "frame folders"} in '
                      f'{self._out_dir}', logger='current')

    # Drawing --------------------------------------------------------------------------
    def _flush(self) -> None:
        """Link and draw the current video; forget its detections."""
        video, frames = self._video, sorted(set(self._frames))
        rows = np.concatenate(self._rows) if self._rows else np.zeros((0, 7))
        self._video, self._rows, self._frames = None, [], []
        if video is None or not frames:
            return
        name = video + self._suffix
        if name in self._done:  # the loop came back to it (clips out of video order)
            name = f'{name}.part{sum(n.startswith(name) for n in self._done) + 1}'
            print_log(f'visualization: {video} came again after other videos; its later '
                      f'clips are drawn as {name}', logger='current', level=30)
        self._done.add(name)
        tubes = self._visualizer.select_tubes(self._linker(rows) if len(rows) else [])
        by_frame = index_tubes_by_frame(tubes)
        out = None if self._out_dir is None else osp.join(
            self._out_dir, name + ('.mp4' if self.out_format == 'mp4' else ''))
        writer = AnnotatedVideoWriter(out, self.fps, quiet=True) if (
            out is not None and self.out_format == 'mp4') else None
        size = None
        try:
            for frame_id in frames:
                frame = self._read_frame(video, frame_id)
                size = size or self._visualizer.render_size(frame.shape)
                drawn = self._visualizer.draw_frame(frame, by_frame.get(frame_id, ()),
                                                    frame_number=frame_id, out_size=size)
                if writer is not None:
                    writer.write(drawn)
                elif out is not None:
                    ok, data = cv2.imencode('.jpg', drawn)
                    atomic_write(data.tobytes(), osp.join(out, f'{frame_id:05d}.jpg'))
                if self.show:
                    self._visualizer.show_frame(drawn, name, self.wait_time)
                if out is None and not self.show:
                    self._backend.add_image(name, drawn[..., ::-1], step=frame_id)
        except BaseException as error:
            if writer is not None:
                writer.close(error)
            raise
        if writer is not None:
            writer.close()
        if out is not None:
            self.written.append(out)

    def _read_frame(self, video: str, frame_id: int) -> np.ndarray:
        """The (H, W, 3) BGR frame, through the dataset's frame loading."""
        results = dict(self._sources[video], frame_ids=[frame_id], video=video)
        return self._loader(results)['imgs'][0]
