"""Re-score dumped frame detections (and tubes) against an ACT ground truth, without a model.

Examples::

    python tools/analysis/eval_detections.py data/jhmdb/JHMDB-GT.pkl work_dirs/dets.npz
    python tools/analysis/eval_detections.py GT.pkl dets.pkl --protocol voc --frames annotated
    python tools/analysis/eval_detections.py GT.pkl dets.csv --tubes tubes.pkl --out res.json
    python tools/analysis/eval_detections.py GT.pkl dets.pkl --class-agnostic   # detection alone

DETECTIONS is what ``FrameMAP``/``VideoMAP(dump_detections=...)`` write (``.npz``, ``.pkl``
or ``.csv``), or another detector's file in a format of
``point3d_mm.evaluation.functional.peer_formats`` (``--format``; MOC-Detector's
``frame_detections.pkl``, YOWO's text files, ...), read and checked against the ground truth
there. They are scored by the registered ``FrameMAP`` and
``VideoMAP`` metrics through mmengine's ``Evaluator.offline_evaluate``, as a test run scores
them; tubes are linked as ``--config``'s ``VideoMAP`` links them (``TubeLinker``'s defaults
without one) unless ``--tubes`` gives them. Every printed result names the protocol and the
frames scored. ``--protocol yowov3`` is frame-mAP only; ``compare_protocols.py`` scores
every protocol at once.
"""
import argparse
import sys
from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

import point3d_mm  # noqa: F401  (registers FrameMAP, VideoMAP and the linkers)
from point3d_mm.evaluation import linker_from_options
from point3d_mm.evaluation.functional import (
    FRAME_PROTOCOLS,
    FRAME_SETS,
    PROTOCOLS,
    rows_to_samples,
)
from point3d_mm.evaluation.functional.peer_formats import FORMATS, load_detections
from point3d_mm.structures.act_format import load_act
from point3d_mm.utils.cli import exit_on_user_error
from point3d_mm.utils.fileio import dump_json
from point3d_mm.utils.safe_pickle import UnsafePickleError


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('gt', metavar='GT_PKL', help='ACT ground-truth pickle')
    parser.add_argument('detections', metavar='DETECTIONS',
                        help='frame detections (.npz, .pkl or .csv)')
    parser.add_argument('--protocol', choices=FRAME_PROTOCOLS, default='act')
    parser.add_argument('--format', choices=FORMATS, help='of DETECTIONS (default: guessed '
                        'from its name)')
    parser.add_argument('--fps', type=float, default=1.0,
                        help='AVA CSV: frames per timestamp unit')
    parser.add_argument('--frames', choices=FRAME_SETS, default='all',
                        help='score all frames of the test videos or only annotated ones')
    parser.add_argument('--split', type=int, default=1, help='1-based test split')
    parser.add_argument('--iou-thr', type=float, default=0.5, help='frame-mAP IoU threshold')
    parser.add_argument('--video-iou-thrs', type=float, nargs='+', default=[0.1, 0.2, 0.5, 0.75])
    parser.add_argument('--tubes', help='score these tubes (.pkl) instead of linking')
    parser.add_argument('--config', help='link tubes as this model config does (the linker '
                        'of its VideoMAP evaluator)')
    parser.add_argument('--linker', help='linker settings as a JSON object, over those of '
                        '--config, e.g. \'{"max_gap": 3}\' or \'{"type": "ViterbiTubeLinker"}\'')
    parser.add_argument('--no-video', action='store_true', help='frame-mAP only')
    parser.add_argument('--class-agnostic', action='store_true',
                        help="frame-AP of detection alone: every class merged into 'actor', a "
                        "box's rows of several classes into one (implies --no-video)")
    parser.add_argument('--out', help='also write the metrics to this JSON file')
    parser.add_argument('--out-dir', help='write the per-class AP tables here as JSON (for '
                        'tools/analysis/plot_results.py --tables)')
    return parser.parse_args(argv)


def metric_configs(args: argparse.Namespace) -> List[dict]:
    """The registered metrics that score these detections, as a test config would list them."""
    common = dict(ann_file=args.gt, split=args.split, protocol=args.protocol)
    out = (lambda name: None) if not args.out_dir else (
        lambda name: f'{args.out_dir}/{args.protocol}_{name}.json')
    metrics = [dict(type='FrameMAP', iou_thr=args.iou_thr, frames=args.frames,
                    class_agnostic=args.class_agnostic, results_file=out('frame_ap'),
                    **common)]
    if not (args.no_video or args.class_agnostic or args.protocol not in PROTOCOLS):
        # Built (and so checked) here: a wrong setting is one line, not a registry traceback.
        _, linker = linker_from_options(args.config, args.linker)
        metrics.append(dict(type='VideoMAP', iou_thrs=tuple(args.video_iou_thrs),
                            linker=linker, tubes_file=args.tubes,
                            results_file=out('video_ap'), **common))
    return metrics


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    # OSError: an input that is a folder or unreadable (the message names it).
    with exit_on_user_error('eval_detections.py', also=(UnsafePickleError, OSError)):
        configs = metric_configs(args)  # a wrong linker setting ends here, before reading
        gt = load_act(args.gt, required=('labels', 'gttubes', 'test_videos'))
        dets = load_detections(args.detections, gt, args.split, args.format, args.fps)
        if dets.outside:
            print(f'ignoring detections of {len(dets.outside)} videos outside the test split, '
                  f'e.g. {dets.outside[:3]}')
        init_default_scope('mmaction')
        evaluator = Evaluator(configs)
        samples = rows_to_samples(dets.detections, dets.videos)
        metrics = evaluator.offline_evaluate(samples, chunk_size=max(1, len(samples)))
    for name, value in metrics.items():
        print(f'{name}: {100 * value:.2f}' + (f' (frames={args.frames})' if 'frame' in name
                                              else ''))
    if args.out:
        dump_json(dict(metrics, protocol=args.protocol, frames=args.frames, split=args.split),
                  args.out, indent=2)
    return metrics


if __name__ == '__main__':
    main(sys.argv[1:])
