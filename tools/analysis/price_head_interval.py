"""The price of the 3D Head interval: trained checkpoints re-tested with k = 1, 2, 4, 8.

Examples (from the repository root)::

    # the demo's seeds (tools/run_demo.py --seed 0, 1, 2; data in data/synthetic)
    python tools/analysis/price_head_interval.py work_dirs/demo work_dirs/demo_seed1 \\
        work_dirs/demo_seed2 --out-dir work_dirs/head_interval_price/demo
    # the ablation grid's full model, T = 8 (tools/analysis/run_ablation.py --rows full)
    python tools/analysis/price_head_interval.py work_dirs/ablation/full/seed{0,1,2} \\
        --out-dir work_dirs/head_interval_price/full
    # any config and checkpoint, repeated for each run
    python tools/analysis/price_head_interval.py --run CONFIG CKPT --run CONFIG CKPT2 \\
        --out-dir OUT --split test

A WORK_DIR is the demo's (it holds ``demo_recipe.json``; the config is ``--demo-config``
pointed at ``--demo-data-root`` the way the demo points it) or an ablation run's
(``<row>/seed<k>/`` with ``<row>_test.py``); its checkpoint is ``iter_<max_iters>.pth``.
Every run is tested for every k (``model.test_cfg.head_interval``) on the validation and the
test videos (``--split``) the way ``tools/test.py`` tests, with the config's test loop (the
cached one). Writes ``head_interval_price.json`` and ``.md`` to ``--out-dir``: per k, the
mean ± sample sd over the runs of frame-mAP@0.5 and video-mAP@0.2/@0.5, the difference to
k = 1 in units of k = 1's sd, and the default k the rule picks: the largest k whose
frame-mAP@0.5 and video-mAP@0.5 are at most one sd below k = 1's, on the validation videos
(the test videos only report). Each test's metrics are kept under ``--out-dir/tests/`` and
reused by a later call while the checkpoint and the resolved config are the same.
"""
import argparse
import datetime
import os.path as osp
import shlex
import subprocess
import sys

from mmengine.config import DictAction

import point3d_mm  # noqa: F401  (patches the stack and registers our parts before any build)
from point3d_mm.analysis import head_interval_price as price
from point3d_mm.utils.benchmark import machine_info
from point3d_mm.utils.cli import exit_on_user_error
from point3d_mm.utils.config_checks import check_cfg_options, merge_cfg_options

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SPLITS = dict(val=('val', ), test=('test', ), both=('val', 'test'))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='*', metavar='WORK_DIR',
                        help="a demo's or an ablation run's work dir")
    parser.add_argument('--run', nargs=2, action='append', default=[],
                        metavar=('CONFIG', 'CHECKPOINT'), help='a run given by its config and '
                        'checkpoint (repeat for each run)')
    parser.add_argument('--out-dir', required=True,
                        help='where the report and the kept test metrics go')
    parser.add_argument('--intervals', nargs='+', default=[str(k) for k in price.INTERVALS],
                        metavar='K', help='the k to test (default: %(default)s); 1, the '
                        'reference, is always tested')
    parser.add_argument('--split', choices=sorted(SPLITS), default='both',
                        help="the videos tested: the config's validation loop (val), its test "
                        'loop (test) or both (default); the rule picks k on val when tested')
    parser.add_argument('--demo-config',
                        default=osp.join(REPO, 'configs', 'point3d_demo_synthetic.py'),
                        help="the demo work dirs' config")
    parser.add_argument('--demo-data-root', default=osp.join(REPO, 'data', 'synthetic'),
                        help="the demo's data (tools/run_demo.py --data-root)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help="override settings of every run's config, key=value pairs")
    return parser.parse_args(argv)


def commit() -> str:
    result = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True,
                            text=True)
    return result.stdout.strip() or 'unknown'


def main(argv=None) -> dict:
    args = parse_args(argv)
    args.command = ' '.join(['python tools/analysis/price_head_interval.py',
                             *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    with exit_on_user_error('price_head_interval.py'):
        return run(args)


def run(args: argparse.Namespace) -> dict:
    intervals = price.parse_intervals(args.intervals)
    if not args.work_dirs and not args.run:
        raise ValueError('no run to price: give WORK_DIRs or --run CONFIG CHECKPOINT')
    runs = [price.work_dir_run(w, args.demo_config, args.demo_data_root)
            for w in args.work_dirs]
    runs += [price.config_run(config, checkpoint) for config, checkpoint in args.run]
    names = [r.name for r in runs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f'two runs are named {", ".join(repeated)}: give each run once')
    if args.cfg_options:
        for r in runs:
            check_cfg_options(r.cfg, args.cfg_options)
            merge_cfg_options(r.cfg, args.cfg_options)
    splits = SPLITS[args.split]
    results = {r.name: price.price_run(r, splits, intervals, args.out_dir) for r in runs}
    machine = machine_info()
    provenance = dict(
        command=args.command, commit=commit(),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        machine=dict(cpu=machine['cpu'], cpu_flags=machine['cpu_flags'],
                     threads=machine['threads']))
    report, markdown = price.build_report(results, intervals, runs, provenance)
    json_path, md_path = price.write_report(report, markdown, args.out_dir)
    print(markdown)
    print(f'written: {json_path}, {md_path}')
    return report


if __name__ == '__main__':
    main()
