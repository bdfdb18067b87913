"""Data-loading throughput: clips/s of the synthetic set through an mmengine DataLoader.

Generates the synthetic dataset first when ``--data`` holds none, then times the training
(or test) pipeline of a dataset config with N worker processes::

    python tools/analysis/benchmark_data.py --data data/synthetic --workers 2
"""
import argparse
import os.path as osp
import tempfile
import time

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import point3d_mm  # noqa: F401  (registers the dataset and transforms)
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
    cfg = Config.fromfile(args.config)
    loader_cfg = cfg.train_dataloader if args.split == 'train' else cfg.test_dataloader
    loader_cfg.dataset.data_root = data
    loader_cfg.update(batch_size=args.batch_size, num_workers=args.workers,
                      persistent_workers=args.workers > 0)
    loader = Runner.build_dataloader(loader_cfg, seed=args.seed)

    def batches():
        while True:
            yield from loader

    stream = batches()
    for _ in range(args.warmup):  # worker start-up and first file reads
        next(stream)
    start = time.perf_counter()
    clips = sum(len(next(stream)['inputs']) for _ in range(args.batches))
    elapsed = time.perf_counter() - start
    sample = loader.dataset[0]['inputs']
    print(f'{args.split} pipeline of {osp.basename(args.config)}, {len(loader.dataset)} clips '
          f'of shape {tuple(sample.shape)}, batch {args.batch_size}, {args.workers} workers: '
          f'{clips / elapsed:.1f} clips/s ({clips} clips in {elapsed:.2f} s)')


if __name__ == '__main__':
    main()
