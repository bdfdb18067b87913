"""Data loading (``tools/analysis/benchmark_data.py``): clips/s of a dataset config's
pipeline through mmengine's DataLoader."""
from typing import Dict

from ..utils.benchmark import median_time


def loader_throughput(config: str, data_root: str, split: str = 'train', workers: int = 2,
                      batch_size: int = 8, batches: int = 60, warmup: int = 5,
                      seed: int = 0) -> Dict:
    """Clips/s of a dataset config's ``split`` pipeline through mmengine's DataLoader with
    ``workers`` processes: ``batches`` batches timed after ``warmup`` untimed ones (worker
    start-up, first file reads), cycling over the dataset."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    loader_cfg = cfg.train_dataloader if split == 'train' else cfg.test_dataloader
    loader_cfg.dataset.data_root = data_root
    loader_cfg.update(batch_size=batch_size, num_workers=workers,
                      persistent_workers=workers > 0)
    loader = Runner.build_dataloader(loader_cfg, seed=seed)

    def cycle():
        while True:
            yield from loader

    stream = cycle()
    for _ in range(warmup):
        next(stream)
    clips, seconds = median_time(lambda: sum(len(next(stream)['inputs'])
                                             for _ in range(batches)), 1)[:2]
    return dict(clips=clips, seconds=seconds, clips_per_s=clips / seconds,
                dataset_clips=len(loader.dataset),
                clip_shape=tuple(loader.dataset[0]['inputs'].shape))
