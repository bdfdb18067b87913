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
of fps, latency and drops every ``--log-every`` frames. The work is
:func:`point3d_mm.apis.demo.video_demo` and :func:`~point3d_mm.apis.demo.live_demo`.
"""
import argparse
import sys
from typing import Optional, Tuple

from point3d_mm.apis.demo import OUTPUT_DIR, live_demo, output_paths, video_demo
from point3d_mm.utils.cli import exit_on_user_error
from point3d_mm.visualization import NoDisplayError


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


def main(argv=None) -> None:
    args = parse_args(argv)
    common = dict(show_heatmap=args.show_heatmap, score_thr=args.score_thr,
                  overlap_thr=args.overlap_thr, device=args.device, fps=args.fps)
    # bad input (a missing or empty video, a checkpoint of another config, a camera or stream
    # that cannot be opened) and --show without a display: one line
    with exit_on_user_error('demo.py', also=(NoDisplayError,)):
        if args.live:
            live_demo(args.video, args.config, args.checkpoint, out_video=args.out_video,
                      show=args.show, raw_size=args.raw_size, pace_fps=args.pace_fps,
                      queue_size=args.queue_size, link_window=args.link_window,
                      log_every=args.log_every, max_frames=args.max_frames,
                      stats_json=args.stats_json, **common)
        else:
            video_demo(args.video, args.config, args.checkpoint, args.out_video,
                       args.out_json, streaming=args.streaming, on_corrupt=args.on_corrupt,
                       **common)


if __name__ == '__main__':
    sys.exit(main())
