import os.path as osp

import pytest
import torch
from mmaction.registry import DATASETS
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs', '_base_', 'datasets')


def test_synthetic_act_config(tiny_synthetic):
    cfg = Config.fromfile(osp.join(CONFIGS, 'synthetic_act.py'))
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = tiny_synthetic['root']
        dataset = DATASETS.build(loader.dataset)
        packed = dataset[len(dataset) // 2]
        assert packed['inputs'].shape == (3, cfg.clip_len, 128, 128)  # 64 -> 128
        assert packed['inputs'].dtype == torch.uint8
        assert packed['data_samples'].metainfo['scale_factor'] == (2.0, 2.0)


@pytest.mark.parametrize('config,ann_file,num_classes', [
    ('jhmdb.py', 'JHMDB-GT.pkl', 21),
    ('ucf24.py', 'ucf24_v2_gt_sample.pkl', 24),
])
def test_real_dataset_configs_read_the_public_pickles(shared_data, config, ann_file,
                                                      num_classes):
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.update(data_root=osp.join(shared_data, 'act'), ann_file=ann_file)
        dataset = DATASETS.build(loader.dataset)
        assert len(dataset.metainfo['classes']) == num_classes
        info = dataset.get_data_info(0)
        assert len(info['frame_ids']) == cfg.clip_len == 16
        assert info['frame_dir'].startswith(osp.join(shared_data, 'act', ''))
