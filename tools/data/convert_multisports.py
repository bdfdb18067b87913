"""Convert a MultiSports (or mmaction2 MultiSports) ground-truth pickle to an ACT pickle.

The MultiSports ``multisports_GT.pkl`` is ACT-like; this normalises its types, adds the
split list a test-only file lacks and checks every video (labels, frame ranges)::

    python tools/data/convert_multisports.py multisports_GT.pkl data/multisports/gt_act.pkl
"""
import argparse
import os
import os.path as osp

from point3d_mm.datasets.preparation.multisports import multisports_to_act
from point3d_mm.structures.act_format import dump_act
from point3d_mm.utils.safe_pickle import safe_pickle_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='MultiSports ground-truth pickle')
    parser.add_argument('out', help='ACT pickle to write')
    args = parser.parse_args()
    act = multisports_to_act(safe_pickle_load(args.src), source=args.src)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    dump_act(act, args.out)
    print(f"wrote {args.out}: {len(act['nframes'])} videos, {len(act['labels'])} labels")


if __name__ == '__main__':
    main()
