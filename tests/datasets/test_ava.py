import os
import os.path as osp

import cv2
import numpy as np
import torch
from dataset_helpers import TINY
from mmaction.registry import DATASETS
from mmengine.config import Config

from point3d_mm.structures.geometry import boxes_to_original

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs', '_base_', 'datasets')


def test_ava_config_on_mmaction2_tiny_ava_layout(shared_data, tmp_path):
    """configs/_base_/datasets/ava.py on mmaction2's own AVA test annotations (frames are
    not shipped: tiny dummy ones are written here, named as AVA's preparation names them)."""
    anno = osp.join(shared_data, 'ava', 'ava_dataset')
    cfg = Config.fromfile(osp.join(CONFIGS, 'ava.py'))
    videos = {line.split(',')[0] for line in open(osp.join(anno, 'ava_sample.csv'))}
    for video in videos:
        os.makedirs(tmp_path / video)
        for frame in range(1, 120):  # timestamps 902, 903 at 30 fps from 900 and +-16
            cv2.imwrite(str(tmp_path / video / f'img_{frame:05d}.jpg'),
                        np.full((36, 48, 3), frame, np.uint8))
    for loader, train in ((cfg.train_dataloader, True), (cfg.val_dataloader, False)):
        dataset_cfg = loader.dataset
        dataset_cfg.update(
            ann_file=osp.join(anno, 'ava_sample.csv'),
            exclude_file=osp.join(anno, 'ava_excluded_timestamps_sample.csv'),
            label_file=osp.join(anno, 'action_list.txt'),
            proposal_file=osp.join(anno, 'ava_proposals_sample.pkl'),
            data_prefix=dict(img=str(tmp_path)))
        dataset = DATASETS.build(dataset_cfg)
        assert len(dataset) == 1  # 3 key frames, two excluded
        for idx in range(len(dataset)):
            packed = dataset[idx]
            sample = packed['data_samples']
            assert packed['inputs'].shape == (3, 16, 256, 256)
            assert packed['inputs'].dtype == torch.uint8
            gt = sample.gt_instances
            assert gt.labels.shape == (len(gt), 81) and gt.labels.dtype == torch.float32
            assert gt.knots.shape == (len(gt), 4, 2)
            meta = sample.metainfo
            assert meta['ori_shape'] == (36, 48) and meta['img_shape'] == (256, 256)
            # letterboxed: 48x36 -> 256x192, padded 32 above and below
            assert meta['pad'][1] == 32
            key = meta['frame_ids'][meta['key_frame_index']]
            # AVA's key frame: 30 * (timestamp - 900) + start_index (1), + 1 more in
            # mmaction2's SampleAVAFrames; training jitters each frame by -1 or 0
            offset = key - (30 * (meta['timestamp'] - 900) + 2)
            assert offset == 0 or (train and offset == -1)
            if not train:  # no colour jitter: the key frame's grey level is its number
                key_pixel = packed['inputs'][0, meta['key_frame_index'], 128, 128].item()
                assert abs(key_pixel - key) <= 1
            ann = dataset.get_data_info(idx)
            original = boxes_to_original(gt.bboxes.numpy(), meta['scale_factor'], meta['pad'],
                                         meta['flip'], meta['img_shape'])
            np.testing.assert_allclose(original / [48, 36, 48, 36], ann['gt_bboxes'],
                                       atol=1e-4)
            assert sample.proposals.bboxes.shape[1] == 4
            assert train or meta['flip'] is False


def test_synthetic_ava_config(tiny_synthetic):
    """The synthetic AVA layout through mmaction2's AVADataset and our pipeline."""
    cfg = Config.fromfile(osp.join(CONFIGS, 'synthetic_ava.py'))
    root = tiny_synthetic['root'] + '/'
    for loader, train in ((cfg.train_dataloader, True), (cfg.val_dataloader, False)):
        dataset_cfg = loader.dataset
        for key in ('ann_file', 'exclude_file', 'proposal_file', 'label_file'):
            dataset_cfg[key] = dataset_cfg[key].replace('data/synthetic/', root)
        dataset_cfg.data_prefix.img = tiny_synthetic['frames']
        dataset_cfg.fps = TINY['ava_fps']
        dataset_cfg.pipeline[0].update(clip_len=TINY['ava_clip_len'],
                                       frame_interval=TINY['ava_frame_interval'])
        dataset = DATASETS.build(dataset_cfg)
        assert len(dataset) > 0
        for idx in range(len(dataset)):
            sample = dataset[idx]['data_samples']
            meta = sample.metainfo
            key = meta['frame_ids'][meta['key_frame_index']]
            offset = key - meta['timestamp'] * TINY['ava_fps']
            assert offset == 0 or (train and offset == -1)  # training's jitter
            assert min(meta['frame_ids']) >= 1  # every clip inside its video
            assert sample.gt_instances.labels.shape[1] == 8
