"""Launch options around distributed runs: SyncBatchNorm and deterministic resumable loading."""
import pytest
import torch
from mmengine.config import Config
from reliability_helpers import TINY_CONFIG

from point3d_mm.engine.runner_setup import prepare_deterministic_loader, prepare_launcher


def cpu_cfg(**extra) -> Config:
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.launcher = 'pytorch'
    cfg.merge_from_dict(extra)
    return cfg


def test_sync_bn_converts_every_batchnorm_of_point3d():
    """What ``sync_bn='torch'`` makes mmengine do to the model under DDP (on GPUs)."""
    from mmengine.model import convert_sync_batchnorm

    from point3d_mm.apis import init_detector
    model = init_detector(TINY_CONFIG)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    converted = convert_sync_batchnorm(model, 'torch')
    syncs = [m for m in converted.modules() if isinstance(m, torch.nn.SyncBatchNorm)]
    assert len(norms) == len(syncs) == 44


def test_sync_bn_on_cpu_training_is_refused_clearly(monkeypatch):
    # DDP refuses SyncBatchNorm for CPU modules ("SyncBatchNorm layers only work with GPU
    # modules"), and its forward needs GPU tensors.
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit, match="sync_bn='torch' needs CUDA.*Remove sync_bn"):
        prepare_launcher(cpu_cfg(sync_bn='torch'))
    cfg = cpu_cfg(sync_bn='torch')
    prepare_launcher(cfg, training=False)  # testing: eval-mode BN is per sample anyway
    assert cfg.sync_bn is None and cfg.env_cfg.dist_cfg.backend == 'gloo'


def test_deterministic_runs_restart_loader_workers_each_epoch():
    cfg = cpu_cfg(randomness=dict(seed=0, deterministic=True))
    assert cfg.train_dataloader.persistent_workers and cfg.train_dataloader.num_workers == 2
    assert 'persistent_workers set to False' in prepare_deterministic_loader(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    cfg = cpu_cfg(randomness=dict(seed=0, deterministic=True))
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    assert 'will not be bit-identical' in prepare_deterministic_loader(cfg)
    cfg = cpu_cfg()  # not deterministic: left alone
    assert prepare_deterministic_loader(cfg) is None
    assert cfg.train_dataloader.persistent_workers


def test_slurm_launcher_initialises_without_cuda():
    """What ``srun ... tools/train.py --launcher slurm`` does in each task, here as 1 task."""
    import subprocess
    import sys

    from reliability_helpers import REPO_ROOT, env, free_port
    code = ('import point3d_mm, torch.distributed as dist\n'
            'from mmengine.dist import init_dist\n'
            "init_dist('slurm', backend='nccl')\n"
            'print(dist.get_world_size(), dist.get_rank(), dist.get_backend())\n')
    slurm = dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_LOCALID='0',
                 SLURM_NODELIST='localhost', MASTER_ADDR='127.0.0.1',
                 MASTER_PORT=str(free_port()))
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, env=env(**slurm),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['1', '0', 'gloo']
