"""Re-score dumped frame detections (and tubes) against an ACT ground truth, without a model.

Examples::

    python tools/analysis/eval_detections.py data/jhmdb/JHMDB-GT.pkl work_dirs/dets.npz
    python tools/analysis/eval_detections.py GT.pkl dets.pkl --protocol voc --frames annotated
    python tools/analysis/eval_detections.py GT.pkl dets.csv --tubes tubes.pkl --out res.json
    python tools/analysis/eval_detections.py GT.pkl dets.pkl --class-agnostic   # detection alone

DETECTIONS is what ``FrameMAP``/``VideoMAP(dump_detections=...)`` write (``.npz``, ``.pkl``
or ``.csv``), or ACT/MOC-Detector's ``frame_detections.pkl`` (a bare (D, 8) array whose
video indices refer to the test split). Tubes are linked with ``TubeLinker`` unless
``--tubes`` gives them. Every printed result names the protocol and the frames scored.
"""
import argparse
import json
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from point3d_mm.evaluation.functional import (FRAME_SETS, PROTOCOLS, VIDEO_AVERAGE_THRS,
                                              class_agnostic, frame_ap, load_frame_detections,
                                              load_tubes, video_ap)
from point3d_mm.evaluation.metrics import format_ap_table
from point3d_mm.evaluation.functional import TubeLinker
from point3d_mm.utils.compat import atomic_open
from point3d_mm.utils.safe_pickle import safe_pickle_load


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('gt', metavar='GT_PKL', help='ACT ground-truth pickle')
    parser.add_argument('detections', metavar='DETECTIONS',
                        help='frame detections (.npz, .pkl or .csv)')
    parser.add_argument('--protocol', choices=PROTOCOLS, default='act')
    parser.add_argument('--frames', choices=FRAME_SETS, default='all',
                        help='score all frames of the test videos or only annotated ones')
    parser.add_argument('--split', type=int, default=1, help='1-based test split')
    parser.add_argument('--iou-thr', type=float, default=0.5, help='frame-mAP IoU threshold')
    parser.add_argument('--video-iou-thrs', type=float, nargs='+', default=[0.1, 0.2, 0.5, 0.75])
    parser.add_argument('--tubes', help='score these tubes (.pkl) instead of linking')
    parser.add_argument('--linker', default='{}',
                        help='TubeLinker arguments as JSON, e.g. \'{"max_gap": 3}\'')
    parser.add_argument('--no-video', action='store_true', help='frame-mAP only')
    parser.add_argument('--class-agnostic', action='store_true',
                        help="frame-AP of detection alone: every class merged into 'actor', a "
                        "box's rows of several classes into one (implies --no-video)")
    parser.add_argument('--out', help='also write the metrics to this JSON file')
    return parser.parse_args(argv)


def select_test_videos(detections: np.ndarray, names: Optional[List[str]],
                       videos: List[str]) -> np.ndarray:
    """Renumber detections to index ``videos``; drop (and report) those of other videos."""
    if names is None:
        return detections
    index = {video: i for i, video in enumerate(videos)}
    remap = np.array([index.get(name, -1) for name in names] or [-1])
    new_index = remap[detections[:, 0].astype(np.int64)]
    outside = sorted({names[i] for i in np.unique(detections[new_index < 0, 0].astype(int))})
    if outside:
        print(f'ignoring detections of {len(outside)} videos outside the test split, '
              f'e.g. {outside[:3]}')
    kept = detections[new_index >= 0]
    kept[:, 0] = new_index[new_index >= 0]
    return kept


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    gt = safe_pickle_load(args.gt)
    videos = [str(v) for v in gt['test_videos'][args.split - 1]]
    detections, names = load_frame_detections(args.detections)
    detections = select_test_videos(detections, names, videos)
    setting = f'protocol={args.protocol}, split={args.split}, {len(videos)} videos'
    metrics: Dict[str, float] = {}
    if args.class_agnostic:
        gt, detections = class_agnostic(gt, detections)
        setting += ', class-agnostic'
        args.no_video = True

    frame = frame_ap(gt, detections, videos, args.iou_thr, args.protocol, args.frames)
    print(format_ap_table(f'frame-AP@{args.iou_thr:g} ({setting}, frames={args.frames}, '
                          f'{len(detections)} detections)', frame['labels'],
                          {'AP': frame['ap']}, frame['num_gt'], frame['num_det']))
    prefix = ('annotated_' if args.frames == 'annotated' else '') + (
        'agnostic_' if args.class_agnostic else '')
    metrics[f'{args.protocol}/{prefix}frame_mAP@{args.iou_thr:g}'] = frame['mAP']

    if not args.no_video:
        if args.tubes:
            tubes, source = load_tubes(args.tubes), args.tubes
        else:
            tubes = TubeLinker(**json.loads(args.linker)).link_videos(detections, videos)
            source = 'tubes linked from all frames'
        video = video_ap(gt, tubes, videos, args.video_iou_thrs, args.protocol,
                         VIDEO_AVERAGE_THRS)
        print(format_ap_table(f'video-AP ({setting}, {source})', video['labels'],
                              {f'AP@{k}': v for k, v in video['ap'].items()},
                              video['num_gt'], video['num_det']))
        metrics.update({f'{args.protocol}/video_mAP@{k}': v for k, v in video['mAP'].items()})

    for name, value in metrics.items():
        print(f'{name}: {100 * value:.2f}' + (f' (frames={args.frames})' if 'frame' in name
                                              else ''))
    if args.out:
        with atomic_open(args.out, 'w', encoding='utf-8') as f:
            json.dump(dict(metrics, protocol=args.protocol, frames=args.frames,
                           split=args.split), f, indent=2)
    return metrics


if __name__ == '__main__':
    main(sys.argv[1:])
