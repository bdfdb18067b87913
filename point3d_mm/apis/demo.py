"""The demo: a detector run over a video or a live source, drawn into an annotated video.

:func:`video_demo` reads a video file or a folder of frames lazily, twice (detect, then
draw), never all at once, and writes the annotated video (:class:`AnnotatedVideoWriter`:
H.264, drawn with its long side at least 512 pixels) and the shown tubes as JSON.

:func:`live_demo` reads a live source (a camera index, a stream URL, ``-`` for standard
input, a FIFO or a video file read at its own frame rate) once, in a background thread, into
a bounded queue that drops the oldest frame when the detector falls behind (counted); each
frame taken goes through the streaming detector and :class:`LiveTubeLinker` and is shown
and/or written at once, with a line of fps, latency and drops every ``log_every`` frames
(:class:`LiveStats`).

``tools/demo.py`` is their command line; both print what a user of it reads.
"""
import contextlib
import itertools
import os.path as osp
import sys
import time
from collections import deque
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import psutil
from mmengine.utils import ProgressBar

from ..evaluation.functional.overlaps import Tube
from ..utils.fileio import dump_json
from ..utils.video import LiveFrameReader, LiveSource, iter_numbered_frames, video_info
from ..visualization import (
    AnnotatedVideoWriter,
    Point3DLocalVisualizer,
    check_display,
    index_tubes_by_frame,
)
from .heatmap import center_heatmap
from .inference import inference_video, iter_frame_detections, linker_config
from .live import LiveTubeLinker
from .model import init_detector

OUTPUT_DIR = osp.join('work_dirs', 'demo_outputs')
_visualizer_ids = itertools.count()  # ManagerMixin instances need unique names


def output_paths(video: str, out_video: Optional[str] = None,
                 out_json: Optional[str] = None) -> Tuple[str, str]:
    """The outputs, by default ``work_dirs/demo_outputs/<video name>.mp4`` and ``.json``
    (the name of a video file without its extension, or of a frame folder)."""
    name = osp.splitext(osp.basename(osp.normpath(video)))[0] or 'demo'
    return (out_video or osp.join(OUTPUT_DIR, name + '.mp4'),
            out_json or osp.join(OUTPUT_DIR, name + '.json'))


class Progress:
    """mmengine's progress bar on a terminal; when stdout is not one (a log file, CI), one
    line per ~10 % rather than a line of carriage-return updates."""

    def __init__(self, total: Optional[int], what: str = 'frames'):
        self.total, self.what, self.done, self.step = total, what, 0, 0
        self.bar = ProgressBar(total) if total and sys.stdout.isatty() else None

    def update(self, *_) -> None:
        if not self.total:
            return
        if self.bar is not None:
            self.bar.update()
            return
        self.done += 1
        step = self.done * 10 // self.total
        if step > self.step:
            self.step = step
            print(f'  {self.done}/{self.total} {self.what} ({self.done * 100 // self.total} %)',
                  flush=True)


def make_visualizer(classes: Sequence[str], score_thr: float = 0.2,
                    overlap_thr: float = 0.5) -> Point3DLocalVisualizer:
    """The registered visualizer, with the demo's thresholds and the checkpoint's classes."""
    visualizer = Point3DLocalVisualizer(name=f'demo_{next(_visualizer_ids)}',
                                        score_thr=score_thr, overlap_thr=overlap_thr)
    visualizer.dataset_meta = dict(classes=list(classes))
    return visualizer


def tubes_to_json(tubes: Sequence[Tube], classes: Sequence[str], video: str) -> dict:
    """The tubes as the demo's JSON: per tube its id, label (and class name), score, frame
    numbers and (L, 4) boxes x1 y1 x2 y2 rounded to 0.01 pixel."""
    return dict(video=video, classes=list(classes), tubes=[
        dict(id=tube_id, label=int(label),
             **({'class': classes[int(label)]} if int(label) < len(classes) else {}),
             score=float(score), frames=boxes[:, 0].astype(int).tolist(),
             boxes=boxes[:, 1:5].round(2).tolist())
        for tube_id, (label, score, boxes) in enumerate(tubes)])


def write_annotated_video(video: str, tubes: Sequence[Tube],
                          visualizer: Point3DLocalVisualizer, out_path: str, fps: float,
                          num_frames: Optional[int], on_corrupt: str = 'raise',
                          heatmap: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> None:
    """Second pass over the video: draw each frame's tube boxes, write, rename into place.

    ``heatmap(frame)``, when given, returns the (H, W) map in [0, 1] blended under the boxes;
    it is computed here, frame by frame, so that nothing per frame is kept between passes.
    """
    by_frame = index_tubes_by_frame(tubes)
    progress = Progress(num_frames)
    size = None
    with AnnotatedVideoWriter(out_path, fps) as writer:
        for number, frame in iter_numbered_frames(video, on_corrupt):
            size = size or visualizer.render_size(frame.shape)  # all at the first's size
            writer.write(visualizer.draw_frame(
                frame, by_frame.get(number, ()), frame_number=number, out_size=size,
                heatmap=heatmap(frame) if heatmap is not None else None))
            progress.update()


def video_demo(video: str, config: str, checkpoint: str, out_video: str, out_json: str,
               streaming: bool = False, show_heatmap: bool = False, score_thr: float = 0.2,
               overlap_thr: float = 0.5, device: str = 'cpu', fps: Optional[float] = None,
               on_corrupt: str = 'raise') -> dict:
    """Detect and link tubes in ``video`` (streaming or clip mode), then draw the shown ones
    (:meth:`Point3DLocalVisualizer.select_tubes`: score at least ``score_thr``, one per actor
    at ``overlap_thr``) into ``out_video`` (at ``fps``, else the video's, else 25) and write
    them to ``out_json``; ``show_heatmap`` blends the Point Head's centre heatmap under them.

    Returns:
        The tubes JSON written (:func:`tubes_to_json`).
    """
    model = init_detector(config, checkpoint, device=device)
    num_frames, video_fps = video_info(video)
    print(f'detecting actions in {video} ({num_frames or "?"} frames, '
          f'{"streaming" if streaming else "clip"} mode)')
    progress = Progress(num_frames)
    result = inference_video(model, video, streaming=streaming,
                             on_frame=progress.update if num_frames else None,
                             on_corrupt=on_corrupt)
    classes = result['classes']
    visualizer = make_visualizer(classes, score_thr, overlap_thr)
    tubes = visualizer.select_tubes(result['tubes'])
    print(f'\n{len(result["detections"])} frame detections linked into '
          f'{len(result["tubes"])} tubes, {len(tubes)} of them shown (score >= '
          f'{score_thr:g}, one per actor at tube and box IoU > {overlap_thr:g}); '
          f'writing {out_video}')
    write_annotated_video(video, tubes, visualizer, out_video, fps or video_fps or 25.0,
                          num_frames, on_corrupt,
                          (lambda frame: center_heatmap(model, frame)) if show_heatmap
                          else None)
    tubes_json = tubes_to_json(tubes, classes, video)
    dump_json(tubes_json, out_json)
    print(f'\nannotated video: {osp.abspath(out_video)}')
    print(f'tubes (JSON):    {osp.abspath(out_json)}')
    return tubes_json


class LiveStats:
    """Counts, rates, latency and memory of a live run, printed every ``every`` processed
    frames as one line (never carriage-return updates), over the last ``every`` frames.

    Latency: from the moment the reader took a frame from the source to the moment its
    annotated frame was shown or written (queueing + detection + linking + drawing), in ms.
    Memory: the process's resident set size (RSS) in MiB.
    """

    def __init__(self, every: int = 100) -> None:
        self.every = max(1, every)
        self.start = time.monotonic()
        self.processed = self.boxes = 0
        self._latencies: deque = deque(maxlen=self.every)  # seconds, the last `every` frames
        self._times: deque = deque(maxlen=self.every + 1)  # when frames were finished
        self._process = psutil.Process()
        # [read, processed, RSS MiB] at each log line: the first 16 and the last 240 (a
        # day-long run keeps no growing list).
        self._rss_head: list = []
        self._rss_tail: deque = deque(maxlen=240)

    def update(self, read_time: float, reader: LiveFrameReader, boxes: int = 0) -> None:
        """One more frame shown/written, read at ``read_time``, with ``boxes`` drawn."""
        now = time.monotonic()
        self.processed += 1
        self.boxes += boxes
        self._latencies.append(now - read_time)
        self._times.append(now)
        if self.processed % self.every == 0:
            print(self.line(reader), flush=True)

    def rates(self) -> Tuple[float, float, float]:
        """(fps processed over the last frames, mean latency ms, max latency ms)."""
        span = self._times[-1] - self._times[0] if len(self._times) > 1 else 0.0
        fps = (len(self._times) - 1) / span if span > 0 else 0.0
        lat = np.array(self._latencies) * 1000 if self._latencies else np.zeros(1)
        return fps, float(lat.mean()), float(lat.max())

    def line(self, reader: LiveFrameReader) -> str:
        fps, mean, worst = self.rates()
        rss = self._process.memory_info().rss / 2**20
        sample = [reader.read, self.processed, round(rss, 1)]
        (self._rss_head if len(self._rss_head) < 16 else self._rss_tail).append(sample)
        elapsed = time.monotonic() - self.start
        return (f'live: frame {reader.read} read, {self.processed} processed, {reader.dropped} '
                f'dropped ({100 * reader.dropped / max(reader.read, 1):.0f} %); '
                f'{fps:.1f} fps processed, {reader.read / max(elapsed, 1e-9):.1f} fps read; '
                f'latency {mean:.0f} ms mean, {worst:.0f} ms max; RSS {rss:.0f} MiB')

    def summary(self, reader: LiveFrameReader, tubes: int = 0) -> dict:
        """The run's totals; ``rss_samples`` ends with one taken now."""
        elapsed = time.monotonic() - self.start
        fps, mean, worst = self.rates()
        rss = round(self._process.memory_info().rss / 2**20, 1)
        final = [reader.read, self.processed, rss]
        return dict(read=reader.read, processed=self.processed, dropped=reader.dropped,
                    boxes_drawn=self.boxes, tubes=tubes, seconds=round(elapsed, 2),
                    read_fps=round(reader.read / max(elapsed, 1e-9), 2),
                    processed_fps=round(self.processed / max(elapsed, 1e-9), 2),
                    recent_processed_fps=round(fps, 2), recent_latency_ms_mean=round(mean, 1),
                    recent_latency_ms_max=round(worst, 1),
                    rss_mb=rss, rss_samples=self._rss_head + list(self._rss_tail) + [final])


class _Feed:
    """The reader's frames as the detector's input, remembering the item in flight (the
    streaming detector pulls one frame and yields its detections before the next)."""

    def __init__(self, reader: LiveFrameReader, max_frames: Optional[int]) -> None:
        self.reader, self.max_frames, self.current = reader, max_frames, None

    def __iter__(self):
        for count, item in enumerate(self.reader, start=1):
            self.current = item
            yield item.frame
            if self.max_frames is not None and count >= self.max_frames:
                return


def live_demo(source: str, config: str, checkpoint: str, out_video: Optional[str] = None,
              show: bool = False, raw_size: Optional[Tuple[int, int]] = None,
              pace_fps: Optional[float] = None, queue_size: int = 2, link_window: int = 16,
              log_every: int = 100, max_frames: Optional[int] = None,
              stats_json: Optional[str] = None, show_heatmap: bool = False,
              score_thr: float = 0.2, overlap_thr: float = 0.5, device: str = 'cpu',
              fps: Optional[float] = None) -> dict:
    """One pass over a live source (see the module docstring); returns the run's stats
    (:meth:`LiveStats.summary`), also written to ``stats_json`` when given.

    ``source`` and ``raw_size`` are :class:`LiveSource`'s; frames are taken no faster than
    ``pace_fps`` (default: a video file's own frame rate, other sources unpaced; 0: unpaced);
    the annotated stream is shown in a window (``show``; q or Esc stops) and/or written to
    ``out_video`` (at ``fps``, else the source's, else 25); ``max_frames`` stops the run.

    Memory stays flat: the reader's queue holds ``queue_size`` frames, the streaming
    detector the features of one clip's span, the tube linker ``link_window`` frames of
    detections, and annotated frames go to the encoder (or window) at once.

    The detector numbers the frames it processes 1, 2, ... (its clips and the linker's
    tubes are over processed frames: when frames are dropped, the model sees a lower frame
    rate); the drawn number is the frame's number in the source.
    """
    if show:
        check_display()
    live_source = LiveSource(source, raw_size=raw_size)  # bad input fails before loading
    model = init_detector(config, checkpoint, device=device)
    visualizer = make_visualizer(model.dataset_meta.get('classes', ()), score_thr, overlap_thr)
    # The last 2 boxes of each tube: the newest frame is drawn, the one before gives ids.
    linker = LiveTubeLinker(linker_config(model.cfg), window=link_window,
                            select=lambda tubes: visualizer.select_tubes(tubes, last_frames=2))
    pace = pace_fps if pace_fps is not None else (
        live_source.fps if live_source.kind == 'file' else None)
    out_fps = fps or live_source.fps or pace or 25.0
    print(f'live: {live_source.kind} {source} '
          f'({f"{live_source.fps:g} fps" if live_source.fps else "fps ?"}'
          f'{f", paced at {pace:g} fps" if pace else ""}), queue of {queue_size} frames'
          + (f'; writing {out_video}' if out_video else ''), flush=True)
    stats = LiveStats(log_every)
    reader = LiveFrameReader(live_source, queue_size=queue_size, pace_fps=pace)
    writer = AnnotatedVideoWriter(out_video, out_fps) if out_video else contextlib.nullcontext()
    feed = _Feed(reader, max_frames)
    size = None
    with reader, writer:
        try:
            for _, frame, detections in iter_frame_detections(model, feed, mode='streaming'):
                item = feed.current
                entries = linker.update(stats.processed + 1, detections)
                size = size or visualizer.render_size(frame.shape)  # all at the first's size
                drawn = visualizer.draw_frame(
                    frame, entries, frame_number=item.number, out_size=size,
                    heatmap=center_heatmap(model, frame) if show_heatmap else None)
                if out_video:
                    writer.write(drawn)
                key = visualizer.show_frame(drawn, 'point3d live') if show else -1
                stats.update(item.time, reader, len(entries))
                if key in (ord('q'), 27):  # q or Esc
                    break
        except KeyboardInterrupt:  # Ctrl-C ends the run; the video so far is kept
            print('live: interrupted', flush=True)
    summary = stats.summary(reader, linker.tubes_started)
    print(f'live: done: {summary["read"]} frames read, {summary["processed"]} processed, '
          f'{summary["dropped"]} dropped, in {summary["seconds"]:.1f} s '
          f'({summary["processed_fps"]:.1f} fps processed); RSS {summary["rss_mb"]:.0f} MiB'
          + (f'\nannotated video: {osp.abspath(out_video)}' if out_video else ''),
          flush=True)
    if stats_json:
        dump_json(summary, stats_json)
    return summary
