import pytest
from mmengine.config import Config

from point3d_mm.engine.runner_setup import prepare_launcher
from point3d_mm.utils.config_checks import ConfigKeyError, check_cfg_options


def make_cfg() -> Config:
    return Config(dict(
        model=dict(type='Point3D', backbone=dict(type='HourglassBackbone', num_stacks=1)),
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=12),
        optim_wrapper=dict(backbone=dict(optimizer=dict(type='Adam', lr=5e-4))),
        train_dataloader=dict(dataset=dict(type='ACTDataset', ann_file='gt.pkl')),
        launcher='none'))


def test_existing_and_new_optional_keys_pass():
    check_cfg_options(make_cfg(), {'train_cfg.max_epochs': 2,
                                   'optim_wrapper.backbone.optimizer.lr': 1e-3,
                                   'optim_wrapper.backbone.clip_grad': None,
                                   'work_dir': '/tmp/x',
                                   'train_dataloader.dataset.indices': 16})


@pytest.mark.parametrize('key, expected', [
    ('train_cfg.max_epoch', 'no "max_epoch" under "train_cfg".*did you mean max_epochs'),
    ('model.backbone.num_stack', 'no "num_stack" under "model.backbone".*num_stacks'),
    ('modle.backbone.num_stacks', 'no "modle" at the top level.*did you mean model'),
    # ACTDataset and its base BaseDataset take no such argument.
    ('train_dataloader.dataset.indexes', 'no "indexes" under "train_dataloader.dataset"'),
])
def test_typos_name_the_key(key, expected):
    with pytest.raises(ConfigKeyError, match=expected):
        check_cfg_options(make_cfg(), {key: 1})


def test_cpu_launch_uses_gloo_and_no_device_ids(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = make_cfg()
    cfg.launcher = 'pytorch'
    cfg.model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel')
    prepare_launcher(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(type='MMSeparateDistributedDataParallel',
                                         device_ids=None)
