"""Run a Point3D detector on a video and write an annotated video and the tubes as JSON.

    python tools/demo.py VIDEO CONFIG CHECKPOINT [--out-video out.mp4] [--out-json tubes.json] \
        [--streaming] [--show-heatmap] [--score-thr 0.2] [--overlap-thr 0.5] [--device cpu]

Works on any video OpenCV can decode (mp4, avi, ...), of any length and resolution, or on a
folder of frames: frames are read lazily, twice (detect, then draw), never all at once.
Outputs default to work_dirs/demo_outputs/<video name>.mp4 and .json. The video is H.264
(browser-playable) when OpenCV has an H.264 encoder, MPEG-4 part 2 otherwise, drawn with its
long side at least 512 pixels.
"""
import argparse
import contextlib
import os
import os.path as osp
import sys
from typing import Callable, Optional, Tuple

import cv2
import numpy as np
from mmengine.utils import ProgressBar

import point3d_mm  # noqa: F401
from point3d_mm.apis import center_heatmap, inference_video, init_detector
from point3d_mm.evaluation.functional import tube_nms
from point3d_mm.evaluation.functional.overlaps import iou2d
from point3d_mm.utils.compat import CheckpointDamagedError, CheckpointSecurityError
from point3d_mm.utils.config_checks import ConfigKeyError
from point3d_mm.utils.fileio import atomic_path, dump_json
from point3d_mm.utils.video import iter_numbered_frames, video_info
from point3d_mm.visualization import draw_frame_tubes, index_tubes_by_frame
from point3d_mm.visualization.tube_drawer import render_size

OUTPUT_DIR = osp.join('work_dirs', 'demo_outputs')
# Browser-playable H.264 first; MPEG-4 part 2 (plays in VLC, not in browsers) when the
# OpenCV build has no H.264 encoder (the pip wheels have none).
FOURCCS = ('avc1', 'H264', 'mp4v')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Point3D video demo')
    parser.add_argument('video', help='video file or folder of frames')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-video', default=None,
                        help=f'annotated video (.mp4; default {OUTPUT_DIR}/<video name>.mp4)')
    parser.add_argument('--out-json', default=None,
                        help=f'tubes as JSON (default {OUTPUT_DIR}/<video name>.json)')
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
    args = parser.parse_args(argv)
    args.out_video, args.out_json = output_paths(args.video, args.out_video, args.out_json)
    return args


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


def select_tubes(tubes, score_thr: float, overlap_thr: float) -> list:
    """The tubes to show, best first: those scoring at least ``score_thr``, and of tubes
    overlapping by a tube IoU above ``overlap_thr`` the best scored, whatever their classes
    (the linker links each class on its own, so one actor has a tube for each class it may be
    doing)."""
    kept = [tube for tube in tubes if tube[1] >= score_thr]
    if not kept:
        return []
    best = tube_nms([tube[2] for tube in kept], [tube[1] for tube in kept], overlap_thr)
    return [kept[i] for i in best]


def one_box_per_actor(tubes, overlap_thr: float) -> list:
    """Frame-level NMS across tubes: in each frame, the boxes of tubes overlapping a box of a
    better scored tube by an IoU above ``overlap_thr`` are dropped (tube NMS compares whole
    tubes, and two tubes of one actor with different spans have a low tube IoU). Tubes left
    without boxes are dropped; the others keep their order."""
    order = sorted(range(len(tubes)), key=lambda i: -tubes[i][1])
    kept_boxes: dict = {}  # frame -> (K, 4) boxes of better tubes
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


def tubes_to_json(tubes, classes, video: str) -> dict:
    return dict(video=video, classes=list(classes), tubes=[
        dict(id=tube_id, label=int(label),
             **({'class': classes[int(label)]} if int(label) < len(classes) else {}),
             score=float(score), frames=boxes[:, 0].astype(int).tolist(),
             boxes=boxes[:, 1:5].round(2).tolist())
        for tube_id, (label, score, boxes) in enumerate(tubes)])


def write_annotated_video(video: str, tubes, classes, out_path: str, fps: float,
                          num_frames, on_corrupt: str = 'raise',
                          heatmap: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> None:
    """Second pass over the video: draw each frame's tube boxes, write, rename into place.

    ``heatmap(frame)``, when given, returns the (H, W) map in [0, 1] blended under the boxes;
    it is computed here, frame by frame, so that nothing per frame is kept between passes.
    """
    by_frame = index_tubes_by_frame(tubes)
    progress = Progress(num_frames)
    writer = None
    with atomic_path(out_path, suffix='.mp4') as tmp_path:
        try:
            for number, frame in iter_numbered_frames(video, on_corrupt):
                height, width = frame.shape[:2]
                if writer is None:  # every frame drawn at the first one's render size
                    out_h, out_w = render_size(height, width)
                    writer = open_video_writer(tmp_path, out_path, fps, (out_w, out_h))
                factor = np.array([out_w / width, out_h / height] * 2)
                entries = [(tube_id, label, score, box * factor)
                           for tube_id, label, score, box in by_frame.get(number, ())]
                canvas = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
                writer.write(draw_frame_tubes(
                    canvas, entries, classes, frame_number=number,
                    heatmap=heatmap(frame) if heatmap is not None else None))
                progress.update()
        finally:
            if writer is not None:
                writer.release()


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 to /dev/null (native libraries write there, not to sys.stderr)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_video_writer(tmp_path: str, out_path: str, fps: float,
                      size: Tuple[int, int]) -> cv2.VideoWriter:
    """An OpenCV writer of ``size`` = (w, h) frames, H.264 if the build can, else mp4v with a
    note."""
    with _quiet_stderr():  # FFmpeg and OpenCV log every encoder they fail to open
        for fourcc in FOURCCS:
            writer = cv2.VideoWriter(tmp_path, cv2.VideoWriter_fourcc(*fourcc), fps, size)
            if writer.isOpened():
                break
            writer.release()
        else:
            raise RuntimeError(f'{out_path}: OpenCV cannot write mp4 here')
    if fourcc == 'mp4v':
        print(f'note: this OpenCV has no H.264 encoder; {out_path} is MPEG-4 part 2 (mp4v), '
              'which VLC/ffplay play but browsers may not (re-encode with ffmpeg -c:v libx264 '
              'for a browser)')
    return writer


#: The errors of bad input (a missing or empty video, a checkpoint of another config, a bad
#: config key) that the demo reports in one line rather than a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, ConfigKeyError, CheckpointDamagedError,
               CheckpointSecurityError)


def main(argv=None) -> None:
    try:
        run(parse_args(argv))
    except USER_ERRORS as error:
        sys.exit(f'demo.py: {type(error).__name__}: {error}')


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
    tubes = one_box_per_actor(select_tubes(result['tubes'], args.score_thr, args.overlap_thr),
                              args.overlap_thr)
    print(f'\n{len(result["detections"])} frame detections linked into '
          f'{len(result["tubes"])} tubes, {len(tubes)} of them shown (score >= '
          f'{args.score_thr:g}, one per actor at tube and box IoU > {args.overlap_thr:g}); '
          f'writing {args.out_video}')
    write_annotated_video(args.video, tubes, classes, args.out_video,
                          args.fps or video_fps or 25.0, num_frames, args.on_corrupt,
                          (lambda frame: center_heatmap(model, frame)) if args.show_heatmap
                          else None)
    dump_json(tubes_to_json(tubes, classes, args.video), args.out_json)
    print(f'\nannotated video: {osp.abspath(args.out_video)}')
    print(f'tubes (JSON):    {osp.abspath(args.out_json)}')


if __name__ == '__main__':
    sys.exit(main())
