"""Convert a per-frame box CSV to an ACT ground-truth pickle.

CSV rows: ``video,frame,x1,y1,x2,y2,label,actor_id`` (frame 1-based, boxes in pixels, label a
class name; an optional header line). Rows of one (video, actor, label) become a tube, split
where frames are missing. Examples::

    python tools/data/convert_csv.py boxes.csv gt.pkl --resolution 240 320
    python tools/data/convert_csv.py boxes.csv gt.pkl --frames-root data/mine/frames \
        --labels labels.txt --test-videos test.txt

Without ``--frames-root`` a video's frame count is its last annotated frame.
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

from point3d_mm.datasets.preparation.csv_annotations import csv_to_act, read_csv_rows
from point3d_mm.datasets.preparation.frame_extraction import count_frames
from point3d_mm.structures.act_format import dump_act
from point3d_mm.utils.cli import exit_on_user_error
from point3d_mm.utils.video import FRAME_TMPL, read_frame


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('csv', help='per-frame box CSV')
    parser.add_argument('out', help='ACT pickle to write')
    parser.add_argument('--labels', help='text file of class names, one per line, in label '
                        'order (default: the sorted names in the CSV)')
    parser.add_argument('--test-videos', help='text file of test video names, one per line '
                        '(the other videos are the train split)')
    parser.add_argument('--resolution', type=int, nargs=2, metavar=('H', 'W'),
                        help='frame size of every video')
    parser.add_argument('--frames-root', help='frame folders <root>/<video>/: frame counts '
                        'and sizes are read from them')
    parser.add_argument('--filename-tmpl', default=FRAME_TMPL,
                        help='frame file name template under --frames-root')
    return parser.parse_args()


def read_lines(path: Optional[str]) -> Optional[List[str]]:
    if path is None:
        return None
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def frames_info(root: str, videos: List[str], tmpl: str) -> Tuple[Dict, Dict]:
    """Frame count (files from 1 without gaps) and (h, w) of the first frame per video."""
    nframes, resolution = {}, {}
    for video in videos:
        nframes[video] = count_frames(osp.join(root, video), tmpl)
        resolution[video] = read_frame(osp.join(root, video, tmpl.format(1))).shape[:2]
    return nframes, resolution


def main() -> None:
    args = parse_args()
    with exit_on_user_error('convert_csv.py'):  # a bad CSV, labels or frames: one line
        convert(args)


def convert(args: argparse.Namespace) -> None:
    rows = read_csv_rows(args.csv)
    videos = list(dict.fromkeys(row[0] for row in rows))
    nframes = resolution = None
    if args.frames_root:
        nframes, resolution = frames_info(args.frames_root, videos, args.filename_tmpl)
    elif args.resolution:
        resolution = tuple(args.resolution)
    act = csv_to_act(rows, labels=read_lines(args.labels), nframes=nframes,
                     resolution=resolution, test_videos=read_lines(args.test_videos),
                     source=args.csv)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    dump_act(act, args.out)
    print(f"wrote {args.out}: {len(act['nframes'])} videos, {len(act['labels'])} labels, "
          f"{sum(len(t) for v in act['gttubes'].values() for t in v.values())} tubes")


if __name__ == '__main__':
    main()
