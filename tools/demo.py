"""Run a Point3D detector on a video and write an annotated video and the tubes as JSON.

    python tools/demo.py VIDEO CONFIG CHECKPOINT [--out-video out.mp4] [--out-json tubes.json] \
        [--streaming] [--show-heatmap] [--score-thr 0.2] [--overlap-thr 0.5] [--device cpu]

Works on any video OpenCV can decode (mp4, avi, ...), of any length and resolution, or on a
folder of frames: frames are read lazily, twice (detect, then draw), never all at once.
Outputs default to work_dirs/demo_outputs/<video name>.mp4 and .json. The video is H.264
(browser-playable; imageio-ffmpeg's ffmpeg, else OpenCV's encoder), MPEG-4 part 2 where
neither has one, drawn with its long side at least 512 pixels.

Live input (``--live``): a camera index (``0``), a stream URL (``rtsp://...``), standard input
(``-``: a video container, or raw frames with ``--raw-size WxH``), a FIFO or a video file
(read at its own frame rate, as a camera would deliver it)::

    python tools/demo.py 0 CONFIG CHECKPOINT --live --show
    ffmpeg -i in.mp4 -vf scale=320:240 -f rawvideo -pix_fmt bgr24 - | \
        python tools/demo.py - CONFIG CHECKPOINT --live --raw-size 320x240 --out-video live.mp4

read once, in a background thread, into a bounded queue that drops the oldest frame when the
detector falls behind (counted); each frame taken goes through the streaming detector and the
live tube linker and is shown (``--show``) and/or written (``--out-video``) at once; a line
of fps, latency and drops every ``--log-every`` frames. See :func:`run_live`.
"""
import argparse
import contextlib
import os.path as osp
import sys
import time
from collections import deque
from typing import Callable, Optional, Tuple

import numpy as np
import psutil
from mmengine.utils import ProgressBar

import point3d_mm  # noqa: F401
from point3d_mm.apis import (
    LiveTubeLinker,
    center_heatmap,
    inference_video,
    init_detector,
    iter_frame_detections,
    linker_config,
)
from point3d_mm.utils.cli import exit_on_user_error
from point3d_mm.utils.fileio import dump_json
from point3d_mm.utils.video import (
    LiveFrameReader,
    LiveSource,
    iter_numbered_frames,
    video_info,
)
from point3d_mm.visualization import (
    AnnotatedVideoWriter,
    NoDisplayError,
    Point3DLocalVisualizer,
    check_display,
    index_tubes_by_frame,
    one_box_per_actor,  # noqa: F401  (the demo's selection, also tools' API)
    select_tubes,  # noqa: F401
)

OUTPUT_DIR = osp.join('work_dirs', 'demo_outputs')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Point3D video demo')
    parser.add_argument('video', help='video file or folder of frames; with --live: a camera '
                        'index (0), a stream URL, - (standard input), a FIFO or a video file')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-video', default=None,
                        help=f'annotated video (.mp4; default {OUTPUT_DIR}/<video name>.mp4; '
                        'with --live none unless given)')
    parser.add_argument('--out-json', default=None,
                        help=f'tubes as JSON (default {OUTPUT_DIR}/<video name>.json; not '
                        'with --live)')
    parser.add_argument('--streaming', action='store_true',
                        help='one backbone pass per frame with a cache of the features of '
                        'the frames the next clips need')
    parser.add_argument('--show-heatmap', action='store_true',
                        help="blend the Point Head's centre heatmap over every frame (one more "
                        'backbone pass per frame while writing the video)')
    parser.add_argument('--score-thr', type=float, default=0.2,
                        help='show and write only tubes scoring at least this (tube score: '
                        'the mean of its boxes\' centre score x class probability; 0 keeps '
                        'every linked tube)')
    parser.add_argument('--overlap-thr', type=float, default=0.5,
                        help='of tubes of any classes overlapping by a tube IoU above this, '
                        'keep the best scored, so that an actor shows one action; then, in '
                        'each frame, drop the boxes of tubes overlapping a better scored '
                        'tube\'s box by an IoU above this (one box per actor and frame; 1 '
                        'keeps everything)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:0, ...')
    parser.add_argument('--fps', type=float, default=None,
                        help='output frame rate (default: the input video\'s, or 25)')
    parser.add_argument('--on-corrupt', choices=['raise', 'skip'], default='raise',
                        help='a frame that cannot be decoded stops the demo with its number '
                        '(raise) or is reported and left out, other frames keeping their '
                        'numbers (skip)')
    live = parser.add_argument_group('live input (--live)')
    live.add_argument('--live', action='store_true',
                      help='read the input once as a live stream: streaming detection, '
                      'frames dropped (counted) when the detector falls behind')
    live.add_argument('--show', action='store_true',
                      help='show the annotated stream in a window (q or Esc stops)')
    live.add_argument('--raw-size', default=None, metavar='WxH',
                      help='the input (- or a FIFO) is raw bgr24 frames of this size')
    live.add_argument('--pace-fps', type=float, default=None,
                      help='take frames from the source no faster than this (default: a video '
                      'file at its own frame rate, as a camera would deliver it; other sources '
                      'unpaced; 0: unpaced)')
    live.add_argument('--queue-size', type=int, default=2,
                      help='frames waiting for the detector at most; when full the oldest is '
                      'dropped')
    live.add_argument('--link-window', type=int, default=16,
                      help='frames of detections the live tube linker keeps and relinks')
    live.add_argument('--log-every', type=int, default=100,
                      help='print fps, latency, drops and memory every this many processed '
                      'frames')
    live.add_argument('--max-frames', type=int, default=None,
                      help='stop after processing this many frames')
    live.add_argument('--stats-json', default=None,
                      help='write the run\'s counts, rates, latencies and memory here')
    args = parser.parse_args(argv)
    if args.live:
        if args.out_json is not None:
            parser.error('--out-json is not written with --live (tubes are drawn as they '
                         'come; use --out-video)')
        if args.streaming:
            parser.error('--live always runs the streaming path; drop --streaming')
        args.raw_size = parse_size(parser, args.raw_size)
    else:
        for option in ('show', 'raw_size', 'pace_fps', 'max_frames', 'stats_json'):
            if getattr(args, option):
                parser.error(f'--{option.replace("_", "-")} needs --live')
        args.out_video, args.out_json = output_paths(args.video, args.out_video, args.out_json)
    return args


def parse_size(parser: argparse.ArgumentParser, text: Optional[str]
               ) -> Optional[Tuple[int, int]]:
    """``'320x240'`` as (320, 240)."""
    if text is None:
        return None
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        parser.error(f'--raw-size must be WIDTHxHEIGHT, e.g. 320x240; got {text!r}')
    if width < 1 or height < 1:
        parser.error(f'--raw-size must be at least 1x1, got {text!r}')
    return width, height


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


def make_visualizer(args: argparse.Namespace, classes) -> Point3DLocalVisualizer:
    """The registered visualizer, with the demo's thresholds and the checkpoint's classes."""
    visualizer = Point3DLocalVisualizer(name=f'demo_{id(args)}', score_thr=args.score_thr,
                                        overlap_thr=args.overlap_thr)
    visualizer.dataset_meta = dict(classes=list(classes))
    return visualizer


def tubes_to_json(tubes, classes, video: str) -> dict:
    return dict(video=video, classes=list(classes), tubes=[
        dict(id=tube_id, label=int(label),
             **({'class': classes[int(label)]} if int(label) < len(classes) else {}),
             score=float(score), frames=boxes[:, 0].astype(int).tolist(),
             boxes=boxes[:, 1:5].round(2).tolist())
        for tube_id, (label, score, boxes) in enumerate(tubes)])


def write_annotated_video(video: str, tubes, visualizer: Point3DLocalVisualizer,
                          out_path: str, fps: float, num_frames, on_corrupt: str = 'raise',
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


def main(argv=None) -> None:
    args = parse_args(argv)
    # bad input (a missing or empty video, a checkpoint of another config, a camera or stream
    # that cannot be opened) and --show without a display: one line
    with exit_on_user_error('demo.py', also=(NoDisplayError,)):
        run_live(args) if args.live else run(args)


def run(args: argparse.Namespace) -> None:
    model = init_detector(args.config, args.checkpoint, device=args.device)
    num_frames, video_fps = video_info(args.video)
    print(f'detecting actions in {args.video} ({num_frames or "?"} frames, '
          f'{"streaming" if args.streaming else "clip"} mode)')
    progress = Progress(num_frames)
    result = inference_video(model, args.video, streaming=args.streaming,
                             on_frame=progress.update if num_frames else None,
                             on_corrupt=args.on_corrupt)
    classes = result['classes']
    visualizer = make_visualizer(args, classes)
    tubes = visualizer.select_tubes(result['tubes'])
    print(f'\n{len(result["detections"])} frame detections linked into '
          f'{len(result["tubes"])} tubes, {len(tubes)} of them shown (score >= '
          f'{args.score_thr:g}, one per actor at tube and box IoU > {args.overlap_thr:g}); '
          f'writing {args.out_video}')
    write_annotated_video(args.video, tubes, visualizer, args.out_video,
                          args.fps or video_fps or 25.0, num_frames, args.on_corrupt,
                          (lambda frame: center_heatmap(model, frame)) if args.show_heatmap
                          else None)
    dump_json(tubes_to_json(tubes, classes, args.video), args.out_json)
    print(f'\nannotated video: {osp.abspath(args.out_video)}')
    print(f'tubes (JSON):    {osp.abspath(args.out_json)}')


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


def run_live(args: argparse.Namespace) -> dict:
    """One pass over a live source (see the module docstring); returns the run's stats.

    Memory stays flat: the reader's queue holds ``--queue-size`` frames, the streaming
    detector the features of one clip's span, the tube linker ``--link-window`` frames of
    detections, and annotated frames go to the encoder (or window) at once.

    The detector numbers the frames it processes 1, 2, ... (its clips and the linker's
    tubes are over processed frames: when frames are dropped, the model sees a lower frame
    rate); the drawn number is the frame's number in the source.
    """
    if args.show:
        check_display()
    source = LiveSource(args.video, raw_size=args.raw_size)  # bad input fails before loading
    model = init_detector(args.config, args.checkpoint, device=args.device)
    classes = list(model.dataset_meta.get('classes', ()))
    visualizer = make_visualizer(args, classes)
    # The last 2 boxes of each tube: the newest frame is drawn, the one before gives ids.
    linker = LiveTubeLinker(linker_config(model.cfg), window=args.link_window,
                            select=lambda tubes: visualizer.select_tubes(tubes, last_frames=2))
    pace = args.pace_fps if args.pace_fps is not None else (
        source.fps if source.kind == 'file' else None)
    out_fps = args.fps or source.fps or pace or 25.0
    print(f'live: {source.kind} {args.video} ({f"{source.fps:g} fps" if source.fps else "fps ?"}'
          f'{f", paced at {pace:g} fps" if pace else ""}), queue of {args.queue_size} frames'
          + (f'; writing {args.out_video}' if args.out_video else ''), flush=True)
    stats = LiveStats(args.log_every)
    reader = LiveFrameReader(source, queue_size=args.queue_size, pace_fps=pace)
    writer = (AnnotatedVideoWriter(args.out_video, out_fps) if args.out_video
              else contextlib.nullcontext())
    feed = _Feed(reader, args.max_frames)
    size = None
    with reader, writer:
        try:
            for _, frame, detections in iter_frame_detections(model, feed, mode='streaming'):
                item = feed.current
                entries = linker.update(stats.processed + 1, detections)
                size = size or visualizer.render_size(frame.shape)  # all at the first's size
                drawn = visualizer.draw_frame(
                    frame, entries, frame_number=item.number, out_size=size,
                    heatmap=center_heatmap(model, frame) if args.show_heatmap else None)
                if args.out_video:
                    writer.write(drawn)
                key = visualizer.show_frame(drawn, 'point3d live') if args.show else -1
                stats.update(item.time, reader, len(entries))
                if key in (ord('q'), 27):  # q or Esc
                    break
        except KeyboardInterrupt:  # Ctrl-C ends the run; the video so far is kept
            print('live: interrupted', flush=True)
    summary = stats.summary(reader, linker.tubes_started)
    print(f'live: done: {summary["read"]} frames read, {summary["processed"]} processed, '
          f'{summary["dropped"]} dropped, in {summary["seconds"]:.1f} s '
          f'({summary["processed_fps"]:.1f} fps processed); RSS {summary["rss_mb"]:.0f} MiB'
          + (f'\nannotated video: {osp.abspath(args.out_video)}' if args.out_video else ''),
          flush=True)
    if args.stats_json:
        dump_json(summary, args.stats_json)
    return summary


if __name__ == '__main__':
    sys.exit(main())
