"""Joints as knots: the synthetic generator's joints sidecar and ACTDataset(knots='joints')."""
import hashlib
import math
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from scipy.io import savemat

from point3d_mm.datasets.act_dataset import JHMDB_JOINT_FLIP_INDICES, ACTDataset
from point3d_mm.datasets.preparation.synthetic_actions import (
    JOINT_FLIP_INDICES,
    JOINT_NAMES,
    SyntheticActions,
)
from point3d_mm.datasets.transforms.formatting import PackPoint3DInputs
from point3d_mm.datasets.transforms.loading import LoadClipFrames
from point3d_mm.datasets.transforms.processing import (
    ClipRandomCrop,
    ClipRandomFlip,
    ClipResize,
)
from point3d_mm.utils.safe_pickle import safe_pickle_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(seed=3, num_train=2, num_test=1, size=64, min_frames=16, max_frames=24)
# sha256 of files written by the generator *before* it wrote joints (commit 1beb6ca) with
# SMALL: adding the joints changed no frame and no ground truth.
BEFORE = {
    'synthetic_gt.pkl': '2686e1bf54d57e19ddd9f1d4610fcad556303b1fb3daad74ba97b3bee1ff3db9',
    'frames/train_0000/00001.jpg':
        '8ce583709cf76650fdac0bb4f1e28c10738a56158f882a6bdac7421a8e9e62c1',
    'frames/train_0001/00010.jpg':
        'd63c772893ad23b2c71b94758a538cfba794be17deae3a2d2d09fd3e6d034ba9',
    'frames/test_0000/00016.jpg':
        '31e527b6972753bd86dd8b64a10ac723f8c2db4e0d4290785dc71e11e3ffae91',
}


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp('synthetic')
    paths = SyntheticActions(**SMALL).generate(str(out))
    return out, paths


def test_frames_and_ground_truth_unchanged(synthetic):
    out, _ = synthetic
    for rel, digest in BEFORE.items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest, rel


def test_joints_sidecar_matches_tubes(synthetic):
    out, paths = synthetic
    assert paths['joints'] == osp.join(str(out), 'synthetic_joints.pkl')
    gt = safe_pickle_load(paths['act'])
    joints = safe_pickle_load(paths['joints'])
    assert joints['names'] == list(JOINT_NAMES)
    assert joints['flip_indices'] == list(JOINT_FLIP_INDICES)
    assert set(joints['joints']) == set(gt['gttubes'])
    num_visible = 0
    for video, tubes in gt['gttubes'].items():
        assert set(joints['joints'][video]) == set(tubes)
        for label, label_tubes in tubes.items():
            for tube, tube_joints in zip(label_tubes, joints['joints'][video][label], strict=True):
                assert tube_joints.shape == (len(tube), 11, 3)
                visible = tube_joints[..., 2] > 0
                xy = tube_joints[..., :2]
                assert np.array_equal(visible, ((xy >= 0) & (xy <= 63)).all(-1))
                # a visible joint is a drawn point: inside the (clipped) box of its frame
                box = np.repeat(tube[:, None, 1:], 11, axis=1)
                inside = ((xy >= box[..., :2] - 1e-3) & (xy <= box[..., 2:] + 1e-3)).all(-1)
                assert inside[visible].all()
                num_visible += visible.sum()
    assert num_visible > 100


def _dataset(out, **kwargs):
    return ACTDataset(str(out / 'synthetic_gt.pkl'), data_prefix=dict(img=str(out / 'frames')),
                      clip_len=4, **kwargs)


def test_dataset_joint_knots_and_flip(synthetic):
    out, paths = synthetic
    box = _dataset(out)
    assert box.knots == 'box' and box.metainfo['num_knots'] == 4
    assert 'gt_knots' not in box.get_data_info(0)
    dataset = _dataset(out, knots='joints', joints_file=paths['joints'])
    assert dataset.metainfo['num_knots'] == 11
    assert dataset.knot_flip_indices == list(JOINT_FLIP_INDICES)
    joints = safe_pickle_load(paths['joints'])['joints']
    gt = safe_pickle_load(paths['act'])
    checked = 0
    for idx in range(0, len(dataset), 7):
        info = dataset.get_data_info(idx)
        knots = info['gt_knots']
        assert knots.shape == (len(info['gt_bboxes']), 11, 2) and knots.dtype == np.float32
        # each row's knots are the joints of the same tube at the same frame
        for row, (frame_ind, track) in enumerate(zip(info['gt_frame_inds'],
                                                     info['gt_track_ids'])):
            frame = info['frame_ids'][frame_ind]
            label, = gt['gttubes'][info['video']]
            tube = gt['gttubes'][info['video']][label][track]
            expected = joints[info['video']][label][track][tube[:, 0] == frame][0]
            np.testing.assert_array_equal(np.isnan(knots[row]).any(-1), expected[:, 2] == 0)
            np.testing.assert_array_equal(knots[row][expected[:, 2] > 0],
                                          expected[expected[:, 2] > 0, :2])
            checked += 1
        # a horizontal flip mirrors every joint and keeps left joints left: the flipped
        # left hand (5) is the mirror of the original right hand (6), and so on
        results = dict(info, imgs=[np.zeros((64, 64, 3), np.uint8)] * 4, img_shape=(64, 64),
                       gt_bboxes=info['gt_bboxes'].copy(), gt_knots=knots.copy())
        flipped = ClipRandomFlip(prob=1.0)(results)['gt_knots']
        for name in ('hand', 'elbow', 'knee', 'foot'):
            left, right = JOINT_NAMES.index('left_' + name), JOINT_NAMES.index('right_' + name)
            np.testing.assert_allclose(flipped[:, left, 0], 64 - knots[:, right, 0])
            np.testing.assert_allclose(flipped[:, right, 1], knots[:, left, 1])
    assert checked > 5
    with pytest.raises(ValueError, match='needs one of joints_file and joints_root'):
        _dataset(out, knots='joints')
    with pytest.raises(ValueError, match='knots must be one of'):
        _dataset(out, knots='pose')


def test_jhmdb_ground_truth_with_puppet_joints(shared_data, tmp_path):
    """The real JHMDB-GT.pkl with joint files in JHMDB's layout (joint_positions.mat, pos_img
    (2, 15, nframes), 1-based) for three test videos of split 1, read as configs/point3d_jhmdb.py
    reads them (joints_root relative to data_root); the other videos are skipped."""
    gt_file = osp.join(shared_data, 'act', 'JHMDB-GT.pkl')
    with open(gt_file, 'rb') as f:
        gt = pickle.load(f, encoding='latin1')
    videos = gt['test_videos'][0][:3]
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'point3d_jhmdb.py'))
    assert cfg.model.point_head.num_knots == 15
    assert cfg.model.point_head.get('test_cfg', {}).get('fuse_knots', True)
    settings = cfg.train_dataloader.dataset
    assert settings.knots == 'joints' and settings.split == cfg.split
    rng = np.random.default_rng(0)
    written = {}
    for video in videos:
        pos = rng.uniform(1, 240, (2, 15, gt['nframes'][video]))
        folder = tmp_path / settings.joints_root / video
        folder.mkdir(parents=True)
        savemat(folder / 'joint_positions.mat', dict(pos_img=pos))
        written[video] = pos
    dataset = ACTDataset(gt_file, data_root=str(tmp_path), data_prefix=dict(img='Frames'),
                         split=cfg.split, clip_len=16, on_short='clamp', knots=settings.knots,
                         joints_root=settings.joints_root, on_bad='skip', test_mode=True)
    assert dataset.joints_root == osp.join(str(tmp_path), 'joint_positions')
    assert dataset.metainfo['num_knots'] == 15
    assert dataset.knot_flip_indices == list(JHMDB_JOINT_FLIP_INDICES)
    assert {dataset.get_data_info(i)['video'] for i in range(len(dataset))} == set(videos)
    info = dataset.get_data_info(len(dataset) - 1)
    frame = info['frame_ids'][info['gt_frame_inds'][-1]]
    np.testing.assert_allclose(info['gt_knots'][-1],
                               written[info['video']][:, :, frame - 1].T - 1, rtol=1e-6)


# A hand-made video: 50x40 frames, one actor (box 10 8 30 36 in every frame) with 3 joints:
# head (20, 10 + f) in frame f, left hand (12, 20), right hand (28, 22), the right hand not
# visible in frame 2; a flip swaps the hands.
HAND_FLIP = [0, 2, 1]


def _hand_made(root):
    frames = root / 'frames' / 'v'
    frames.mkdir(parents=True)
    for f in range(1, 5):
        cv2.imwrite(str(frames / f'{f:05d}.jpg'), np.full((40, 50, 3), 40 * f, np.uint8))
    tube = np.array([[f, 10, 8, 30, 36] for f in (1, 2, 3)], np.float32)
    joints = np.array([[[20, 10 + f, 1], [12, 20, 1], [28, 22, float(f != 2)]]
                       for f in (1, 2, 3)], np.float32)
    gt = dict(labels=['wave'], gttubes={'v': {0: [tube]}}, nframes={'v': 4},
              resolution={'v': (40, 50)}, train_videos=[['v']], test_videos=[['v']])
    with open(root / 'gt.pkl', 'wb') as f:
        pickle.dump(gt, f)
    with open(root / 'joints.pkl', 'wb') as f:
        pickle.dump(dict(joints={'v': {0: [joints]}}, flip_indices=HAND_FLIP,
                         names=['head', 'left_hand', 'right_hand']), f)


def test_joints_flow_into_targets_through_resize_crop_and_flip(tmp_path):
    """Joints from the files through resize (x2), crop (origin 10, 6, size 64) and flip to
    the packed ground truth and the Point Head's knot heatmaps, checked by hand."""
    _hand_made(tmp_path)
    crop = ClipRandomCrop(size=64)
    crop._sample_origin = lambda *args: (10, 6)
    pipeline = [LoadClipFrames(), ClipResize(scale=(100, 80)), crop,
                ClipRandomFlip(prob=1.0), PackPoint3DInputs()]
    dataset = ACTDataset('gt.pkl', data_root=str(tmp_path), data_prefix=dict(img='frames'),
                         clip_len=2, joints_file='joints.pkl', pipeline=pipeline)
    assert dataset.knots == 'joints' and dataset.joints_file == str(tmp_path / 'joints.pkl')
    assert dataset.metainfo['num_knots'] == 3
    idx = [i for i in range(len(dataset)) if dataset.get_data_info(i)['key_frame'] == 3]
    sample = dataset[idx[0]]
    gt = sample['data_samples'].gt_instances
    assert sample['data_samples'].frame_ids == [2, 3]
    # box: x2 -> 20 16 60 72, crop -> 10 10 50 66, clipped -> 10 10 50 64, flip (W 64)
    torch.testing.assert_close(gt.bboxes, torch.tensor([[14., 10., 54., 64.]] * 2))
    nan = float('nan')
    expected = torch.tensor([
        # frame 2: head (20, 12) -> (40, 24) -> (30, 18) -> (34, 18); the new left hand is
        # the invisible right hand; the new right hand the left (12, 20) -> (50, 34)
        [[34., 18.], [nan, nan], [50., 34.]],
        # frame 3: head (20, 13) -> (34, 20); right hand (28, 22) -> (56, 44) -> (46, 38)
        # -> (18, 38) is the new left hand
        [[34., 20.], [18., 38.], [50., 34.]]])
    torch.testing.assert_close(gt.knots, expected, equal_nan=True)

    head = MODELS.build(dict(type='PointHead', in_channels=8, feat_channels=8, num_knots=3))
    targets = head.get_targets([gt], (2, 8, 16, 16), (64, 64))
    heatmap = targets['knot_heatmap']  # (2 frames, 3 knots, 16, 16), stride 4
    for frame, knots in enumerate(expected):
        for k, (x, y) in enumerate(knots.tolist()):
            peak = heatmap[frame, k]
            if math.isnan(x):
                assert peak.max() == 0  # no target for an invisible joint
                continue
            assert peak[int(y // 4), int(x // 4)] == 1
            assert peak.flatten().argmax() == int(y // 4) * 16 + int(x // 4)


def test_test_clip_without_actors_has_no_knot_rows(tmp_path):
    _hand_made(tmp_path)
    dataset = ACTDataset('gt.pkl', data_root=str(tmp_path), data_prefix=dict(img='frames'),
                         clip_len=1, joints_file='joints.pkl', test_mode=True)
    info = dataset.get_data_info(3)
    assert info['key_frame'] == 4 and info['gt_knots'].shape == (0, 3, 2)


def test_missing_joints_file_names_it(tmp_path):
    _hand_made(tmp_path)
    with pytest.raises(FileNotFoundError, match='joints_file .*nope.pkl does not exist'):
        ACTDataset('gt.pkl', data_root=str(tmp_path), data_prefix=dict(img='frames'),
                   clip_len=1, joints_file='nope.pkl')
