"""The cached-feature test loop gives clip mode's detections and metrics (scores within 1e-5,
box corners within 1e-3 px), computing each frame's backbone features once."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
from point3d_mm.evaluation.functional import load_frame_detections

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'point3d_tiny_synthetic.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('cached_loop_data'))
    SyntheticActions(seed=1, num_train=1, num_test=3, size=64, min_frames=14,
                     max_frames=20).generate(root)
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    """Random weights shared by both runs (BN statistics moved off their defaults, so that
    eval-mode normalisation is not the identity)."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    path = str(tmp_path_factory.mktemp('cached_loop_ckpt') / 'random.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def run_test(data_root: str, checkpoint: str, work_dir: str, cache: bool) -> tuple:
    cfg = Config.fromfile(TINY_CONFIG)
    gt = osp.join(data_root, 'synthetic_gt.pkl')
    dump = osp.join(work_dir, 'dets.npz')
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    cfg.test_dataloader.update(batch_size=3, num_workers=0, persistent_workers=False)
    cfg.test_dataloader.dataset.data_root = data_root
    cfg.test_evaluator[0].update(ann_file=gt, dump_detections=dump)
    cfg.test_evaluator[1].update(ann_file=gt)
    cfg.test_cfg = dict(type='CachedFeatureTestLoop', cache_features=cache, frame_batch=5,
                        clip_batch=3)
    cfg.default_hooks.logger.interval = 1000
    metrics = Runner.from_cfg(cfg).test()
    detections, names = load_frame_detections(dump)
    return metrics, detections, names


def canonical(dets: np.ndarray) -> np.ndarray:
    keys = np.round(dets[:, [5, 4, 3]], 2)
    return dets[np.lexsort((keys[:, 0], keys[:, 1], -keys[:, 2], dets[:, 2], dets[:, 1],
                            dets[:, 0]))]


@pytest.mark.slow
def test_cached_loop_equals_clip_mode(data_root, checkpoint, tmp_path):
    clip_metrics, clip_dets, names = run_test(data_root, checkpoint, str(tmp_path / 'clip'),
                                              cache=False)
    cached_metrics, cached_dets, cached_names = run_test(data_root, checkpoint,
                                                         str(tmp_path / 'cached'), cache=True)
    assert cached_names == names
    assert len(clip_dets) > 100 and len(cached_dets) == len(clip_dets)
    # The same rows in the same place (video, frame, label), up to float rounding; rows of
    # one place ordered by rounded score and corner, which float noise cannot swap.
    clip_dets, cached_dets = canonical(clip_dets), canonical(cached_dets)
    np.testing.assert_array_equal(cached_dets[:, :3], clip_dets[:, :3])
    np.testing.assert_allclose(cached_dets[:, 3], clip_dets[:, 3], atol=1e-5)
    # Coordinates to 1e-3 px (stricter than IoU >= 0.999, and a random model's boxes are
    # degenerate, with IoU 0 even with themselves).
    np.testing.assert_allclose(cached_dets[:, 4:], clip_dets[:, 4:], atol=1e-3)
    assert cached_metrics == pytest.approx(clip_metrics, abs=1e-6)
