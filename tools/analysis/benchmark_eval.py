"""Time point3d_mm's tube linking, frame-AP and video-AP against mmaction2 1.2.0's.

On one synthetic UCF101-24-sized test set (by default 910 videos, 24 classes, about 650k
frame detections and 8 tubes per video), side by side with the peer, medians over
``--repeats`` runs:

* tube linking: each ``--linkers`` (default: every registered ``*TubeLinker``)
  ``link_videos`` vs ``multisports_utils.link_tubes`` on the frame detections of the first
  ``--link-videos`` videos (frames/s: frames of those videos per second);
* frame-AP@0.5: ``frame_ap(protocol='voc')`` vs ``frameAP``;
* video-AP at 0.1, 0.2, 0.5, 0.75 and the mean over 0.5:0.95: one ``video_ap(protocol='voc')``
  call vs the 14 ``videoAP`` calls it takes;

and checks that the AP numbers agree to 1e-6. ``--mm-videos N`` gives the AP part of both
only the first N videos, when the peer's Python loops are too slow to wait for. The JSON
keeps the first linker under ``linking`` and the others under ``more_linkers``.

    python tools/analysis/benchmark_eval.py --threads 1 --out work_dirs/benchmark/eval.json
    python tools/analysis/benchmark_eval.py --videos 300 --detections 60000 --repeats 1
"""
import argparse
import os
import sys
from typing import Dict, Optional, Sequence


def _limit_threads(argv: Sequence[str]) -> None:
    """Apply ``--threads N`` before numpy loads its BLAS, which reads these at import."""
    for i, arg in enumerate(argv):
        value = arg.split('=', 1)[1] if arg.startswith('--threads=') else (
            argv[i + 1] if arg == '--threads' and i + 1 < len(argv) else None)
        if value is not None:
            for name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
                os.environ[name] = value


if __name__ == '__main__':
    _limit_threads(sys.argv[1:])

from point3d_mm.analysis import evaluation_speed as bench  # noqa: E402
from point3d_mm.utils.benchmark import machine_info  # noqa: E402
from point3d_mm.utils.fileio import dump_json  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--videos', type=int, default=910)
    parser.add_argument('--detections', type=int, default=650_000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--repeats', type=int, default=3, help='timed runs of each (median)')
    parser.add_argument('--threads', type=int, default=None,
                        help='BLAS/OpenMP threads (set before numpy loads)')
    parser.add_argument('--link-videos', type=int, default=100,
                        help='videos whose detections the linking part links')
    parser.add_argument('--linkers', nargs='+',
                        help='registered tube linkers to time (default: every *TubeLinker)')
    parser.add_argument('--skip-link', action='store_true', help='leave tube linking out')
    parser.add_argument('--link', action='store_true',
                        help='no effect: linking is timed unless --skip-link')
    parser.add_argument('--mm-videos', type=int, default=None,
                        help='give the AP part (both sides) only the first N videos')
    parser.add_argument('--skip-mmaction2', action='store_true', help='time point3d_mm only')
    parser.add_argument('--skip-act', action='store_true',
                        help="leave out the timing of our 'act' protocol")
    parser.add_argument('--out', default=None, help='write the report as JSON here')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parse_args(argv)
    gt, dets, tubes = bench.synthetic_eval_set(args.videos, args.detections, seed=args.seed)
    ms = None if args.skip_mmaction2 else bench.mmaction2_reference()
    report = dict(machine=machine_info('cpu', args.threads), args=vars(args))
    print(f"synthetic test set: {args.videos} videos, {len(gt['labels'])} classes, "
          f"{sum(gt['nframes'].values())} frames, {len(dets)} frame detections, "
          f"{sum(map(len, tubes.values()))} tubes; medians of {args.repeats} runs")
    if not args.skip_link:
        rows = [bench.time_linking(gt, dets, min(args.link_videos, args.videos), args.repeats,
                                   ms, linker) for linker in args.linkers or bench.linkers()]
        report['linking'], report['more_linkers'] = rows[0], rows[1:]
    ap_gt, ap_dets, ap_tubes = bench.eval_subset(gt, dets, tubes, args.mm_videos or args.videos)
    report['frame_ap'] = bench.time_frame_ap(ap_gt, ap_dets, args.repeats, ms)
    report['video_ap'] = bench.time_video_ap(ap_gt, ap_tubes, args.repeats, ms)
    if not args.skip_act:
        report['act'] = bench.time_act(ap_gt, ap_dets, ap_tubes, args.repeats)
    print(bench.format_eval_report(report))
    if args.out:
        dump_json(report, args.out)
        print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    main()
