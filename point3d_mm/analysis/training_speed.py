"""Training speed (``tools/analysis/benchmark.py``'s ``training`` section): iterations/s and
peak memory of mmengine's Runner on the tiny config, and one paper-scale backbone step,
without and with activation checkpointing, each in a fresh process (:func:`training_rows`).
"""
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence

import torch

from ..utils.benchmark import (
    in_fresh_process,
    median_time,
    peak_cuda_mb,
    peak_rss_mb,
    reset_peak_cuda,
)
from .benchmark_configs import config_name, config_path


def _memory_result(device: str, rss_before: int) -> Dict:
    """Peak memory since the start of the process (CPU) or since the last reset (GPU)."""
    result = dict(rss_before_mb=rss_before / 2**20, peak_rss_mb=peak_rss_mb())
    if device.startswith('cuda'):
        result['peak_cuda_allocated_mb'] = peak_cuda_mb(device)
    return result


def train_run(config: str, data_root: str, work_dir: str, iters: int, with_cp: bool,
              device: str) -> Dict:
    """Train the config for ``iters`` iterations with mmengine's Runner: per-iteration
    ``iter_s`` and ``data_s`` (mmengine's ``time`` and ``data_time``), the batch size, the
    workers and the memory."""
    import psutil
    from mmengine.config import Config
    from mmengine.runner import Runner

    import point3d_mm  # noqa: F401  (registers the parts in this process)
    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.log_level = work_dir, 'WARNING'
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = None
    cfg.model.backbone.with_cp = with_cp
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg[key] = None
    runner = Runner.from_cfg(cfg)
    reset_peak_cuda(device)
    rss_before = psutil.Process().memory_info().rss
    runner.train()
    hub = runner.message_hub
    return dict(iter_s=hub.get_scalar('train/time').data[0].tolist(),
                data_s=hub.get_scalar('train/data_time').data[0].tolist(),
                batch_size=cfg.train_dataloader.batch_size,
                workers=cfg.train_dataloader.num_workers, **_memory_result(device, rss_before))


def backbone_step_run(config: str, num_frames: int, with_cp: bool, device: str) -> Dict:
    """One forward + backward of the config's backbone alone on random frames: ``step_s``
    and the memory."""
    import psutil
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import point3d_mm  # noqa: F401
    init_default_scope('mmaction')
    cfg = Config.fromfile(config)
    backbone_cfg = dict(cfg.model.backbone, with_cp=with_cp)
    backbone_cfg.pop('init_cfg', None)
    backbone = MODELS.build(backbone_cfg).to(device).train()
    frames = torch.randn(num_frames, 3, cfg.input_size, cfg.input_size, device=device)
    reset_peak_cuda(device)
    rss_before = psutil.Process().memory_info().rss
    seconds = median_time(lambda: sum(feat.mean() for feat in backbone(frames)).backward(), 1,
                          device=device)[1]
    return dict(step_s=seconds, **_memory_result(device, rss_before))


def format_train_row(row: Dict) -> str:
    memory = (f'peak CUDA {row["peak_cuda_allocated_mb"]:.0f} MB'
              if 'peak_cuda_allocated_mb' in row else
              f'peak RSS {row["peak_rss_mb"]:.0f} MB (before training '
              f'{row["rss_before_mb"]:.0f} MB)')
    data = f', data {100 * row["data_share"]:.1f}%' if 'data_share' in row else ''
    ratio = f', {row["vs_first"]:.2f}x the first config' if 'vs_first' in row else ''
    return (f'train {row["config"]:5s} {row["part"]:18s} with_cp={str(row["with_cp"]):5s} '
            f'{row["iters_per_s"]:.2f} it/s ({row["ms_per_iter"]:.0f} ms/iter{data}{ratio}), '
            f'{memory}')


def training_rows(iters: int, device: str, threads: Optional[int], backbone_frames: int,
                  warmup: int = 2, configs: Sequence[str] = ()) -> List[Dict]:
    """Tiny-config training (each in a fresh process, so that its peak memory is its own)
    and a paper-scale backbone step, without and with activation checkpointing; then each
    of ``configs`` (e.g. the demo and its cheaper-training variants) as it is, on the same
    synthetic videos, each row with ``vs_first``: its time per iteration over the first
    config's."""
    import statistics

    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    rows = []
    runs = [(config_path('tiny'), with_cp) for with_cp in (False, True)]
    first_config = len(runs)  # the row the configs' vs_first divides by
    runs += [(config_path(config), False) for config in configs]
    with tempfile.TemporaryDirectory(prefix='point3d_bench_') as tmp:
        SyntheticActions(seed=0).generate(osp.join(tmp, 'data'))
        for index, (config, with_cp) in enumerate(runs):
            result = in_fresh_process(train_run, threads, config, osp.join(tmp, 'data'),
                                      osp.join(tmp, f'run{index}'), warmup + iters, with_cp,
                                      device)
            iter_s = statistics.median(result.pop('iter_s')[warmup:])
            data_s = statistics.median(result.pop('data_s')[warmup:])
            rows.append(dict(config=config_name(config), part='detector (Runner)',
                             with_cp=with_cp, iters=iters, iters_per_s=1 / iter_s,
                             ms_per_iter=1e3 * iter_s, data_ms_per_iter=1e3 * data_s,
                             data_share=data_s / iter_s, **result))
            if index >= first_config:
                rows[-1]['vs_first'] = (rows[-1]['ms_per_iter'] /
                                        rows[first_config]['ms_per_iter'])
            print(format_train_row(rows[-1]), flush=True)
    for with_cp in (False, True) if backbone_frames else ():
        result = in_fresh_process(backbone_step_run, threads, config_path('paper'),
                                  backbone_frames, with_cp, device)
        rows.append(dict(config='paper', part=f'backbone, {backbone_frames} frames',
                         with_cp=with_cp, iters=1, iters_per_s=1 / result['step_s'],
                         ms_per_iter=1e3 * result['step_s'], **result))
        print(format_train_row(rows[-1]), flush=True)
    return rows
