"""Hold validation videos out of an ACT dataset's training videos (JHMDB-21, UCF101-24, ...).

Example::

    python tools/data/make_validation_split.py data/jhmdb/JHMDB-GT.pkl \\
        data/jhmdb/JHMDB-GT_val.pkl --fraction 0.1 --seed 0

Writes an ACT pickle whose ``train_videos`` are the training videos left for training and
whose ``test_videos`` are the held-out validation videos (per split, per class
``round(fraction * n)`` of its ``n`` training videos, seeded;
point3d_mm.datasets.preparation.validation_split), keeping the annotation of only the videos
some split trains or validates on (a one-split dataset's test videos are left out). Train
on it (``ann_file``) and choose settings on its test split (``tune_linker.py``, a
``val_evaluator``); the original file stays the test set.
"""
import argparse
import sys
from typing import Optional, Sequence

from point3d_mm.datasets.preparation.validation_split import make_validation_act
from point3d_mm.structures.act_format import dump_act, load_act
from point3d_mm.utils.cli import exit_on_user_error


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('gt', help='ACT ground-truth pickle')
    parser.add_argument('out', help='the validation file to write')
    parser.add_argument('--fraction', type=float, default=0.1,
                        help="share of each class's training videos held out")
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with exit_on_user_error('make_validation_split.py'):
        act = load_act(args.gt)
        val = make_validation_act(act, args.fraction, args.seed, args.gt)
        dump_act(val, args.out)
    for number, (train, held) in enumerate(zip(val['train_videos'], val['test_videos']), 1):
        print(f'split {number}: {len(held)} validation videos held out, {len(train)} left '
              'for training')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main(sys.argv[1:])
