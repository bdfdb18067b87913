"""Data-loading throughput: clips/s of the synthetic set through an mmengine DataLoader.

Generates the synthetic dataset first when ``--data`` holds none, then times the training
(or test) pipeline of a dataset config with N worker processes::

    python tools/analysis/benchmark_data.py --data data/synthetic --workers 2
"""
import argparse
import os.path as osp
import tempfile
import time

from mmengine.registry import init_default_scope

from point3d_mm.analysis.data_loading import loader_throughput
from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', help='synthetic dataset folder (default: a temporary one)')
    parser.add_argument('--config', default=osp.join(REPO, 'configs', '_base_', 'datasets',
                                                     'synthetic_act.py'))
    parser.add_argument('--split', choices=['train', 'test'], default='train')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--batches', type=int, default=60, help='timed batches')
    parser.add_argument('--warmup', type=int, default=5, help='untimed first batches')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    data = args.data or tempfile.mkdtemp(prefix='point3d_synthetic_')
    if not osp.exists(osp.join(data, 'synthetic_gt.pkl')):
        start = time.perf_counter()
        SyntheticActions(seed=args.seed).generate(data)
        print(f'generated the synthetic set in {data} in {time.perf_counter() - start:.1f} s')

    init_default_scope('mmaction')
    result = loader_throughput(args.config, data, args.split, args.workers,
                                     args.batch_size, args.batches, args.warmup, args.seed)
    print(f'{args.split} pipeline of {osp.basename(args.config)}, {result["dataset_clips"]} '
          f'clips of shape {result["clip_shape"]}, batch {args.batch_size}, {args.workers} '
          f'workers: {result["clips_per_s"]:.1f} clips/s ({result["clips"]} clips in '
          f'{result["seconds"]:.2f} s)')


if __name__ == '__main__':
    main()
