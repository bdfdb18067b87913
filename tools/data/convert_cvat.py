"""Convert CVAT "CVAT for video 1.1" exports (one XML per video) to an ACT pickle.

Each track is an actor; its class is the track label, or with ``--label-attribute NAME`` the
per-box attribute NAME. ``outside`` ends a tube (an actor coming back starts a new one);
boxes are taken as CVAT exports them (interpolated ones included). Examples::

    python tools/data/convert_cvat.py data/mine/gt.pkl cvat/*.xml --labels labels.txt \
        --test-videos test.txt --frames-root data/mine/frames
    python tools/data/convert_cvat.py gt.pkl clip1.xml --label-attribute action

With ``--frames-root`` the frame counts are those on disk (folders must have no gaps).
"""
import argparse
import os.path as osp
import sys

from point3d_mm.datasets.preparation.cvat import cvat_to_act, read_cvat_video
from point3d_mm.datasets.preparation.frame_extraction import count_frames
from point3d_mm.datasets.preparation.ucf24_corrected import read_name_list
from point3d_mm.structures.act_format import dump_act
from point3d_mm.utils.cli import exit_on_user_error
from point3d_mm.utils.video import FRAME_TMPL


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out', help='ACT pickle to write')
    parser.add_argument('xml', nargs='+', help='CVAT for video 1.1 XML files, one per video')
    parser.add_argument('--labels', help='text file of class names in label order (default: '
                        'the labels the first file declares)')
    parser.add_argument('--label-attribute', help='per-box attribute holding the action '
                        'class (default: the track label)')
    parser.add_argument('--videos', nargs='+', help='video names, one per XML file (default: '
                        'the source video file name without extension)')
    parser.add_argument('--test-videos', help='text file of the test videos, one per line')
    parser.add_argument('--frames-root', help='frame folders <root>/<video>/: take the frame '
                        'counts from them')
    parser.add_argument('--filename-tmpl', default=FRAME_TMPL)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    nframes = None
    if args.frames_root:
        names = args.videos or [read_cvat_video(path, args.label_attribute).video
                                for path in args.xml]
        nframes = {name: count_frames(osp.join(args.frames_root, name), args.filename_tmpl)
                   for name in names}
    act = cvat_to_act(args.xml, labels=args.labels and read_name_list(args.labels),
                      label_attribute=args.label_attribute, videos=args.videos,
                      test_videos=args.test_videos and read_name_list(args.test_videos),
                      nframes=nframes)
    dump_act(act, args.out)
    tubes = sum(len(t) for v in act['gttubes'].values() for t in v.values())
    print(f"wrote {args.out}: {len(act['nframes'])} videos, {len(act['labels'])} labels, "
          f'{tubes} tubes')


if __name__ == '__main__':
    with exit_on_user_error('convert_cvat.py', also=(OSError,)):
        sys.exit(main())
