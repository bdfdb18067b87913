"""Extract the frames of videos to <out>/<video>/00001.jpg ... with the dataset's decoder.

Videos are ``<videos_root>/<video><ext>``; the names come from an ACT pickle (``--ann-file``,
all its videos, whose ``nframes`` the extracted counts are checked against), a list file
(``--video-list``) or every ``*<ext>`` file under the root. Examples::

    python tools/data/extract_frames.py data/ucf24/videos data/ucf24/rgb-images \
        --ann-file data/ucf24/UCF101v2-GT.pkl --ext .avi
    python tools/data/extract_frames.py my_videos data/mine/frames --ext .mp4

Folders already complete are kept (``--overwrite`` extracts again). Every video is tried;
failures and frame-count mismatches are listed per video at the end, and the exit status is
1 when there are any.
"""
import argparse
import sys

from point3d_mm.datasets.preparation.frame_extraction import extract_videos, find_videos
from point3d_mm.datasets.preparation.ucf24_corrected import read_name_list
from point3d_mm.structures.act_format import load_act
from point3d_mm.utils.cli import exit_on_user_error
from point3d_mm.utils.video import FRAME_TMPL


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('videos_root', help='folder of the videos')
    parser.add_argument('out_root', help='folder to write <video>/<frame> files into')
    parser.add_argument('--ext', default='.mp4', help='video file extension (default: '
                        '%(default)s)')
    parser.add_argument('--ann-file', help='ACT pickle: extract its videos and compare the '
                        'frame counts with its nframes')
    parser.add_argument('--video-list', help='text file of video names, one per line')
    parser.add_argument('--filename-tmpl', default=FRAME_TMPL,
                        help='frame file name template (default: %(default)s)')
    parser.add_argument('--jpeg-quality', type=int, default=95)
    parser.add_argument('--overwrite', action='store_true',
                        help='extract again videos whose frame folder is complete')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    nframes = None
    if args.ann_file:
        act = load_act(args.ann_file, required=('nframes',))
        nframes = act['nframes']
        videos = sorted(nframes)
    elif args.video_list:
        videos = read_name_list(args.video_list)
    else:
        videos = find_videos(args.videos_root, args.ext)
    if not videos:
        print(f'error: no videos to extract under {args.videos_root}', file=sys.stderr)
        return 1
    results = extract_videos(args.videos_root, args.out_root, videos, args.ext, nframes,
                             args.filename_tmpl, args.jpeg_quality, args.overwrite)
    for result in results:
        reported = '' if result.reported is None else f' (container: {result.reported})'
        print(f'{result.video}: {result.decoded} frames{reported}')
    problems = [result.problem for result in results if result.problem]
    total = sum(result.decoded for result in results)
    print(f'{len(results) - len(problems)}/{len(results)} videos OK, {total} frames in '
          f'{args.out_root}')
    for problem in problems:
        print(f'problem: {problem}')
    return 1 if problems else 0


if __name__ == '__main__':
    with exit_on_user_error('extract_frames.py', also=(OSError,)):
        sys.exit(main())
