"""Choose tube-linking settings on validation detections, for a VideoMAP evaluator's linker.

Examples::

    python tools/analysis/tune_linker.py data/synthetic/synthetic_val_gt.pkl \\
        work_dirs/demo/val_detections.pkl --config configs/point3d_demo_synthetic.py \\
        --out work_dirs/demo/tuned_linker.py
    python tools/analysis/tune_linker.py JHMDB-GT_val.pkl moc_val/ --format moc --trials 64

GT is a validation file: one made by ``tools/data/make_validation_split.py`` (videos held out
of the training videos) or the synthetic generator's ``synthetic_val_gt.pkl``. Settings chosen
on test videos would be judged on the videos that chose them; such a GT is refused unless
``--allow-test``. DETECTIONS is any file or folder ``eval_detections.py`` and
``compare_protocols.py`` read (``--format``). Both linkers' declared search spaces
(``point3d_mm.analysis.linker_tuning.SPACES``) are sampled with ``--seed``; every setting is
scored by the registered ``VideoMAP`` metric and ranked by the mean of video-mAP @0.2, @0.5
and @0.5:0.95. The best is written to ``--out`` as ``linker = dict(...)``.
"""
import argparse
import json
import sys
from typing import Optional, Sequence

from mmengine.config import Config

import point3d_mm  # noqa: F401  (registers VideoMAP and the linkers)
from point3d_mm.analysis import linker_tuning
from point3d_mm.evaluation import linker_config
from point3d_mm.evaluation.functional import PROTOCOLS, rows_to_samples
from point3d_mm.evaluation.functional.peer_formats import FORMATS, load_detections
from point3d_mm.structures.act_format import VALIDATION_KEY, is_validation_act, load_act
from point3d_mm.utils.cli import exit_on_user_error
from point3d_mm.utils.fileio import atomic_write, dump_json


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('gt', metavar='GT_PKL', help='validation ground truth (ACT pickle)')
    parser.add_argument('detections', metavar='DETECTIONS', nargs='+',
                        help='frame detections; several (other seeds or checkpoints on the '
                        'same videos): one setting is chosen for all, by the mean over them')
    parser.add_argument('--format', choices=FORMATS, help='of DETECTIONS (default: guessed)')
    parser.add_argument('--fps', type=float, default=1.0,
                        help='AVA CSV: frames per timestamp unit')
    parser.add_argument('--split', type=int, default=1, help='1-based split of GT')
    parser.add_argument('--protocol', choices=PROTOCOLS, default='act')
    parser.add_argument('--config', help="a config whose VideoMAP linker is scored beside "
                        "the search ('given' in the table)")
    parser.add_argument('--linkers', nargs='+', choices=sorted(linker_tuning.SPACES),
                        default=list(linker_tuning.SPACES), help='linkers to search')
    parser.add_argument('--trials', type=int, default=24,
                        help='settings drawn per linker (besides its defaults)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the draw')
    parser.add_argument('--top', type=int, default=5, help='settings printed')
    parser.add_argument('--out', help='write the best as a config snippet (linker = dict(...))')
    parser.add_argument('--out-json', help='write every setting and its scores')
    parser.add_argument('--allow-test', action='store_true',
                        help='tune on a GT that is not a validation file (optimistic)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    with exit_on_user_error('tune_linker.py'):
        gt = load_act(args.gt, required=('labels', 'gttubes', 'test_videos'))
        if not is_validation_act(gt) and not args.allow_test:
            raise ValueError(
                f'{args.gt}: not a validation file (no {VALIDATION_KEY!r} entry), so its '
                'test videos would both choose the settings and judge them, an optimistic '
                'score; pass validation ground truth (tools/data/make_validation_split.py, '
                'or the synthetic synthetic_val_gt.pkl) or --allow-test')
        sample_sets, videos = [], 0
        for path in args.detections:
            dets = load_detections(path, gt, args.split, args.format, args.fps)
            sample_sets.append(rows_to_samples(dets.detections, dets.videos))
            videos = max(videos, len(dets.videos))
        settings = linker_tuning.candidates(
            {name: linker_tuning.SPACES[name] for name in args.linkers}, args.trials,
            args.seed)

        def progress(done, total, linker, metrics):
            if done % 10 == 0 or done == total:
                print(f'  {done}/{total} settings scored', flush=True)

        ranked = linker_tuning.tune(args.gt, args.split, sample_sets, settings, args.protocol,
                                    progress)
        given = None
        if args.config:
            linker = linker_config(Config.fromfile(args.config))
            given = (linker, linker_tuning.score_on_sets(args.gt, args.split, sample_sets,
                                                         linker, args.protocol))
    sets = f' x {len(sample_sets)} detection sets (mean)' if len(sample_sets) > 1 else ''
    print(f'{len(settings)} settings on {videos} videos of {args.gt}{sets} '
          f'(seed {args.seed}), best first:')
    print(linker_tuning.format_table(ranked, args.top, given))
    best, best_metrics = ranked[0]
    if args.out:
        comment = (f'Chosen by tools/analysis/tune_linker.py on {args.gt} split {args.split} '
                   f'({"validation" if is_validation_act(gt) else "NOT validation"} videos)'
                   f'{" and " + str(len(sample_sets)) + " detection sets" if sets else ""}'
                   f': best of {len(settings)} settings (seed {args.seed}); mean of '
                   f'video-mAP @0.2, @0.5, @0.5:0.95 = {100 * best_metrics["mean"]:.2f}.')
        atomic_write(linker_tuning.linker_snippet(best, comment).encode(), args.out)
        print(f'wrote {args.out}')
    detections = args.detections[0] if len(args.detections) == 1 else args.detections
    result = dict(gt=args.gt, detections=detections, seed=args.seed, best=best,
                  best_metrics=best_metrics, given=given and dict(linker=given[0],
                                                                  metrics=given[1]),
                  ranked=[dict(linker=linker, metrics=metrics) for linker, metrics in ranked])
    if args.out_json:
        dump_json(result, args.out_json, indent=1)
    return json.loads(json.dumps(result))


if __name__ == '__main__':
    main(sys.argv[1:])
