"""Convert the corrected UCF101-24 annotations to an ACT ground-truth pickle.

Inputs from https://github.com/gurkirt/corrected-UCF101-Annots: ``pyannot_with_class_names.pkl``
and ``testlist01.txt``. The output equals the ACT ``UCF101v2-GT.pkl`` (tubes, frame counts,
labels, resolution) used by ACT, MOC and YOWO. Example::

    python tools/data/convert_ucf24_corrected.py pyannot_with_class_names.pkl \
        testlist01.txt data/ucf24/UCF101v2-GT.pkl
"""
import argparse
import sys

from point3d_mm.datasets.preparation.ucf24_corrected import (
    corrected_to_act,
    load_corrected_annotations,
    read_name_list,
)
from point3d_mm.structures.act_format import dump_act
from point3d_mm.utils.cli import exit_on_user_error


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('annotations', help='pyannot_with_class_names.pkl')
    parser.add_argument('test_list', help='testlist01.txt')
    parser.add_argument('out', help='ACT pickle to write')
    parser.add_argument('--num-splits', type=int, default=1,
                        help='copies of the split in train_videos/test_videos')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    annots = load_corrected_annotations(args.annotations)
    act, dropped = corrected_to_act(annots, read_name_list(args.test_list),
                                    num_splits=args.num_splits, source=args.annotations)
    dump_act(act, args.out)
    tubes = sum(len(t) for v in act['gttubes'].values() for t in v.values())
    print(f"wrote {args.out}: {len(act['nframes'])} videos, {len(act['labels'])} labels, "
          f'{tubes} tubes, {len(act["train_videos"][0])} train and '
          f'{len(act["test_videos"][0])} test videos')
    if dropped:
        print(f'left out {len(dropped)} listed videos without annotation: '
              f'{", ".join(dropped)}')


if __name__ == '__main__':
    with exit_on_user_error('convert_ucf24_corrected.py', also=(OSError,)):
        sys.exit(main())
