"""Average the metrics of several splits (JHMDB-21's three, as the paper reports).

Each input is a metrics JSON of ``tools/test.py --out-metrics`` (``{name: value}``); the
output is the mean of every numeric metric that all of them report, printed as a table and,
with ``--out``, written as JSON (``mean``, ``per_split``, ``files``).

The config's ``split`` must reach its datasets and its evaluators; ``--options-for N CONFIG``
prints the ``--cfg-options`` that set all of them to split N::

    for s in 1 2 3; do
        python tools/test.py configs/point3d_jhmdb.py work_dirs/jhmdb_split$s/best.pth \\
            --out-metrics work_dirs/jhmdb_split$s/metrics.json --cfg-options \\
            $(python tools/analysis/average_splits.py --options-for $s configs/point3d_jhmdb.py)
    done
    python tools/analysis/average_splits.py work_dirs/jhmdb_split{1,2,3}/metrics.json \\
        --out work_dirs/jhmdb_mean.json
"""
import argparse
import json
import math
import os.path as osp
import sys
from typing import Dict, List, Sequence

from point3d_mm.utils.fileio import dump_json


def average_metrics(per_split: Sequence[Dict]) -> Dict[str, float]:
    """Mean of each numeric metric reported by every split, in the first split's order.

    A metric missing from some split is left out (not averaged over fewer splits); NaN stays
    NaN.
    """
    if not per_split:
        raise ValueError('no metrics to average')
    names = [k for k, v in per_split[0].items()
             if _is_number(v) and all(_is_number(m.get(k)) for m in per_split[1:])]
    return {k: math.fsum(float(m[k]) for m in per_split) / len(per_split) for k in names}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def split_options(cfg, split: int) -> List[str]:
    """``--cfg-options`` entries setting ``split`` everywhere a config reads it: the top-level
    variable, the train/val/test datasets (and their wrapped ``dataset``) and each val/test
    evaluator that has a ``split``."""
    options = [f'split={split}'] if 'split' in cfg else []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset, key = cfg.get(loader, {}).get('dataset'), f'{loader}.dataset'
        while isinstance(dataset, dict):
            if 'split' in dataset:
                options.append(f'{key}.split={split}')
            dataset, key = dataset.get('dataset'), key + '.dataset'
    for name in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(name)
        if isinstance(evaluators, dict):
            if 'split' in evaluators:
                options.append(f'{name}.split={split}')
        elif evaluators:
            options.extend(f'{name}.{i}.split={split}' for i, e in enumerate(evaluators)
                           if 'split' in e)
    return options


def format_table(files: Sequence[str], per_split: Sequence[Dict], mean: Dict) -> str:
    """A markdown table: one row per metric, one column per split and the mean."""
    head = ['metric', *[osp.basename(osp.dirname(f)) or f for f in files], 'mean']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    for name, value in mean.items():
        cells = [f'{float(m[name]):.4f}' for m in per_split]
        lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {value:.4f} |')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('metrics', nargs='*', help='metrics JSONs of tools/test.py --out-metrics')
    parser.add_argument('--out', help='write the mean (and the per-split values) here')
    parser.add_argument('--options-for', type=int, metavar='SPLIT',
                        help='print the --cfg-options that set CONFIG (the one positional '
                        'argument) to this split, and exit')
    args = parser.parse_args(argv)
    if args.options_for is not None:
        if len(args.metrics) != 1:
            parser.error('--options-for takes one CONFIG')
        from mmengine.config import Config
        print(' '.join(split_options(Config.fromfile(args.metrics[0]), args.options_for)))
        return 0
    if not args.metrics:
        parser.error('give the metrics JSONs to average')
    per_split = []
    for path in args.metrics:
        with open(path) as f:
            per_split.append(json.load(f))
    mean = average_metrics(per_split)
    print(format_table(args.metrics, per_split, mean))
    if args.out:
        dump_json(dict(mean=mean, per_split=per_split, files=list(args.metrics)), args.out)
        print(f'mean written to {osp.abspath(args.out)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
