"""Report everything wrong with an ACT-format dataset (annotation pickle and frame folders).

Examples::

    python tools/data/validate_dataset.py data/jhmdb/JHMDB-GT.pkl
    python tools/data/validate_dataset.py data/ucf24/UCF101v2-GT.pkl \
        --frames-root data/ucf24/rgb-images --check-images first

Prints one line per problem (kind, video, frame, what is wrong) and a summary; exits 0 when
the dataset is clean, 1 when it has problems, 2 when the file cannot be read as an ACT
ground truth at all. See ``point3d_mm/datasets/validation.py`` for the checks.
"""
import argparse
import sys
from collections import Counter

from point3d_mm.datasets.preparation.dataset_check import IMAGE_CHECKS, validate_act_file
from point3d_mm.utils.video import FRAME_TMPL


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ann_file', help='ACT ground-truth pickle')
    parser.add_argument('--frames-root', help='folder of the frame folders <root>/<video>/ '
                        '(default: do not check frames on disk)')
    parser.add_argument('--filename-tmpl', default=FRAME_TMPL,
                        help='frame file name template (default: %(default)s)')
    parser.add_argument('--check-images', choices=IMAGE_CHECKS, default='all',
                        help="decode every frame ('all', the default), the first of each "
                        "video ('first', fast) or none")
    parser.add_argument('--max-lines', type=int, default=200,
                        help='problems printed at most (all are counted)')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        problems = validate_act_file(args.ann_file, args.frames_root, args.filename_tmpl,
                                     args.check_images)
    except (OSError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for problem in problems[:args.max_lines]:
        print(problem)
    if len(problems) > args.max_lines:
        print(f'... and {len(problems) - args.max_lines} more')
    checked = 'annotations and frames' if args.frames_root else 'annotations only'
    if not problems:
        print(f'{args.ann_file}: clean ({checked})')
        return 0
    kinds = ', '.join(f'{kind} {n}' for kind, n in Counter(p.kind for p in problems).items())
    videos = len({p.video for p in problems if p.video is not None})
    print(f'{args.ann_file}: {len(problems)} problem(s) in {videos} video(s) ({checked}): '
          f'{kinds}')
    return 1


if __name__ == '__main__':
    sys.exit(main())
