"""Score detection files of any detector on one ground truth under every protocol.

Examples::

    python tools/analysis/compare_protocols.py data/jhmdb/JHMDB-GT.pkl work_dirs/dets.npz
    python tools/analysis/compare_protocols.py GT.pkl moc/frame_detections.pkl yowo_dets/ \\
        --out work_dirs/compare.json --markdown work_dirs/compare.md

Each DETECTIONS is a file (or folder) of a format of
``point3d_mm.evaluation.functional.peer_formats`` (ours, MOC-Detector, mmaction2 MultiSports,
YOWO/YOWOv2 text files, AVA CSV as mmaction2 and YOWOv3 write it), checked against the ground
truth. One row per file and protocol: frame-mAP (``act``, ``voc``, ``yowov3``; all frames and
annotated frames), video-mAP of tubes linked from the frame detections (``--config``'s linker,
``TubeLinker``'s defaults without one) and, where the file has tubes, of its own tubes.
Printed and written as JSON (``--out``) and Markdown (``--markdown``).
"""
import argparse
import sys
from typing import Dict, List, Optional, Sequence

import point3d_mm  # noqa: F401  (registers the linkers)
from point3d_mm.evaluation import linker_from_options
from point3d_mm.evaluation.functional.peer_formats import FORMATS, load_detections
from point3d_mm.evaluation.functional.protocol_comparison import (
    compare_protocols,
    markdown_table,
)
from point3d_mm.structures.act_format import load_act
from point3d_mm.utils.cli import exit_on_user_error
from point3d_mm.utils.fileio import atomic_write, dump_json
from point3d_mm.utils.safe_pickle import UnsafePickleError


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('gt', metavar='GT_PKL', help='ACT ground-truth pickle')
    parser.add_argument('detections', metavar='DETECTIONS', nargs='+',
                        help='detection files or folders')
    parser.add_argument('--format', choices=FORMATS, help='of every DETECTIONS (default: '
                        'guessed from each name)')
    parser.add_argument('--split', type=int, default=1, help='1-based test split')
    parser.add_argument('--fps', type=float, default=1.0,
                        help='AVA CSV: frames per timestamp unit')
    parser.add_argument('--iou-thr', type=float, default=0.5, help='frame-mAP IoU threshold')
    parser.add_argument('--config', help='link tubes as this model config does')
    parser.add_argument('--linker', help='linker settings as a JSON object, over those of '
                        '--config, e.g. \'{"type": "ViterbiTubeLinker", "max_gap": 3}\'')
    parser.add_argument('--no-checks', action='store_true',
                        help='skip the class-order and frame-offset plausibility checks')
    parser.add_argument('--out', help='write the rows to this JSON file')
    parser.add_argument('--markdown', help='write the table to this Markdown file')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    args = parse_args(argv)
    # OSError: an input that is a folder or unreadable (the message names it).
    with exit_on_user_error('compare_protocols.py', also=(UnsafePickleError, OSError)):
        gt = load_act(args.gt, required=('labels', 'gttubes', 'test_videos'))
        linker, built = linker_from_options(args.config, args.linker)
        link = built.link_videos
        rows = []
        for path in args.detections:
            dets = load_detections(path, gt, args.split, args.format, args.fps,
                                   check=not args.no_checks)
            if dets.outside:
                print(f'{path}: ignoring the detections of {len(dets.outside)} videos '
                      f'outside test split {args.split}')
            rows += compare_protocols(gt, dets.detections, dets.videos, link, dets.tubes,
                                      args.iou_thr, name=path)
    table = markdown_table(rows, args.iou_thr)
    print(table)
    if args.out:
        dump_json(dict(gt=args.gt, split=args.split, linker=linker, rows=rows), args.out)
    if args.markdown:
        atomic_write((table + '\n').encode('utf-8'), args.markdown)
    return rows


if __name__ == '__main__':
    main(sys.argv[1:])
