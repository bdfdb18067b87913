"""Run a Point3D detector on a video and write an annotated video and the tubes as JSON.

    python tools/demo.py VIDEO CONFIG CHECKPOINT --out-video out.mp4 --out-json tubes.json \
        [--streaming] [--show-heatmap] [--score-thr 0.2] [--overlap-thr 0.5] [--device cpu]

Works on any video OpenCV can decode (mp4, avi, ...), of any length and resolution, or on a
folder of frames: frames are read lazily, twice (detect, then draw), never all at once.
"""
import argparse
import os.path as osp
import sys
from typing import Callable, Optional

import cv2
import numpy as np
from mmengine.utils import ProgressBar

import point3d_mm  # noqa: F401
from point3d_mm.apis import center_heatmap, inference_video, init_detector
from point3d_mm.evaluation.functional import tube_nms
from point3d_mm.utils.fileio import atomic_path, dump_json
from point3d_mm.utils.video import iter_numbered_frames, video_info
from point3d_mm.visualization import draw_frame_tubes, index_tubes_by_frame


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Point3D video demo')
    parser.add_argument('video', help='video file or folder of frames')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-video', default='demo_out.mp4', help='annotated video (.mp4)')
    parser.add_argument('--out-json', default='demo_tubes.json', help='tubes as JSON')
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
                        'keep the best scored, so that an actor shows one action (1 keeps '
                        'the tube of every class)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:0, ...')
    parser.add_argument('--fps', type=float, default=None,
                        help='output frame rate (default: the input video\'s, or 25)')
    parser.add_argument('--on-corrupt', choices=['raise', 'skip'], default='raise',
                        help='a frame that cannot be decoded stops the demo with its number '
                        '(raise) or is reported and left out, other frames keeping their '
                        'numbers (skip)')
    return parser.parse_args(argv)


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
    progress = ProgressBar(num_frames) if num_frames else None
    writer = None
    with atomic_path(out_path, suffix='.mp4') as tmp_path:
        try:
            for number, frame in iter_numbered_frames(video, on_corrupt):
                if writer is None:
                    height, width = frame.shape[:2]
                    writer = cv2.VideoWriter(tmp_path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                             (width, height))
                    if not writer.isOpened():
                        raise RuntimeError(f'{out_path}: OpenCV cannot write mp4 here')
                writer.write(draw_frame_tubes(
                    frame, by_frame.get(number, ()), classes, frame_number=number,
                    heatmap=heatmap(frame) if heatmap is not None else None))
                if progress:
                    progress.update()
        finally:
            if writer is not None:
                writer.release()


def main(argv=None) -> None:
    args = parse_args(argv)
    model = init_detector(args.config, args.checkpoint, device=args.device)
    num_frames, video_fps = video_info(args.video)
    print(f'detecting actions in {args.video} ({num_frames or "?"} frames, '
          f'{"streaming" if args.streaming else "clip"} mode)')
    progress = ProgressBar(num_frames) if num_frames else None
    result = inference_video(model, args.video, streaming=args.streaming,
                             on_frame=(lambda *_: progress.update()) if progress else None,
                             on_corrupt=args.on_corrupt)
    classes = result['classes']
    tubes = select_tubes(result['tubes'], args.score_thr, args.overlap_thr)
    print(f'\n{len(result["detections"])} frame detections linked into '
          f'{len(result["tubes"])} tubes, {len(tubes)} of them shown (score >= '
          f'{args.score_thr:g}, one per actor at tube IoU > {args.overlap_thr:g}); '
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
