"""The cached-feature test loop gives clip mode's detections and metrics (scores within 1e-5,
box corners within 1e-3 px), computing each frame's backbone features once; with a head
interval (test_cfg.head_interval = k) it also gives streaming inference's."""
import os.path as osp
from typing import Optional

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from point3d_mm.apis import detect_frames, init_detector
from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
from point3d_mm.engine.loops import loader_steps
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


class StepRecorder(Hook):
    """Records (batch_idx, clips) of every test iteration, the loader's length and its clips."""

    def __init__(self) -> None:
        self.steps, self.total, self.clips = [], None, None

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.steps.append((batch_idx, len(outputs)))
        self.total = len(runner.test_dataloader)
        self.clips = len(runner.test_dataloader.dataset)


def run_test(data_root: str, checkpoint: str, work_dir: str, cache: bool,
             recorder: Optional[StepRecorder] = None, head_interval: int = 1) -> tuple:
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.model.test_cfg.head_interval = head_interval
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
    runner = Runner.from_cfg(cfg)
    if recorder is not None:
        runner.register_hook(recorder)
    metrics = runner.test()
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
    recorder = StepRecorder()
    cached_metrics, cached_dets, cached_names = run_test(data_root, checkpoint,
                                                         str(tmp_path / 'cached'), cache=True,
                                                         recorder=recorder)
    # The progress line's steps are the loader's: Iter(test) [i/n] ends at n, never past it
    # (per video in steps of clip_batch=3, this data would take more).
    assert [i for i, _ in recorder.steps] == list(range(recorder.total))
    assert sum(n for _, n in recorder.steps) == recorder.clips
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


def assert_same_rows(actual: np.ndarray, expected: np.ndarray) -> None:
    """The same rows (video, frame, label, score, box) up to float rounding."""
    assert len(expected) > 100 and len(actual) == len(expected)
    actual, expected = canonical(actual), canonical(expected)
    np.testing.assert_array_equal(actual[:, :3], expected[:, :3])
    np.testing.assert_allclose(actual[:, 3], expected[:, 3], atol=1e-5)
    np.testing.assert_allclose(actual[:, 4:], expected[:, 4:], atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize('head_interval', [2, 4])
def test_head_interval_cached_loop_equals_clip_mode_and_streaming(data_root, checkpoint,
                                                                  tmp_path, head_interval):
    """With k > 1 the cached loop, clip mode (mmengine's loop over the loader's batches of 3
    clips, which straddle videos) and streaming each test video's frames agree."""
    clip_metrics, clip_dets, names = run_test(data_root, checkpoint, str(tmp_path / 'clip'),
                                              cache=False, head_interval=head_interval)
    cached_metrics, cached_dets, cached_names = run_test(
        data_root, checkpoint, str(tmp_path / 'cached'), cache=True,
        head_interval=head_interval)
    assert cached_names == names
    assert_same_rows(cached_dets, clip_dets)
    assert cached_metrics == pytest.approx(clip_metrics, abs=1e-6)

    model = init_detector(TINY_CONFIG, checkpoint, device='cpu',
                          cfg_options={'model.test_cfg.head_interval': head_interval})
    streamed = []
    for index, name in enumerate(names):
        rows = detect_frames(model, osp.join(data_root, 'frames', name), streaming=True)
        streamed.append(np.column_stack([np.full(len(rows), index), rows]))
    assert_same_rows(np.concatenate(streamed), cached_dets)


def test_loader_steps_end_at_the_loaders_length():
    # 3 videos of 5, 3 and 7 clips, predicted 2 clips at a time: 9 batches; a loader of batch
    # 4 over the 15 clips has 4 batches, and so do the steps, in order.
    clips = iter(range(15))
    batches = [[next(clips) for _ in range(n)] for n in (2, 2, 1, 2, 1, 2, 2, 2, 1)]
    steps = list(loader_steps(iter(batches), num_clips=15, num_steps=4))
    assert steps == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14]]
    # a loader of batch 8: 2 steps of 8 and 7
    assert [len(s) for s in loader_steps(iter(batches), 15, 2)] == [8, 7]
    # one process of two with more than half of the clips (videos are not split): steps
    # grow so that their number stays within the loader's length
    assert [len(s) for s in loader_steps(iter(batches), 15, 3)] == [5, 5, 5]
    assert [len(s) for s in loader_steps(iter(batches[:2]), 4, 3)] == [2, 2]
    assert list(loader_steps(iter([]), 0, 3)) == []


@pytest.mark.parametrize('num_clips', [1, 7, 147, 1170, 1176, 1177])
@pytest.mark.parametrize('batch_size', [1, 3, 8])
def test_loader_steps_equal_a_loaders_batches(num_clips, batch_size):
    num_batches = -(-num_clips // batch_size)  # len(DataLoader) without drop_last
    per_video = [[0] * 8] * (num_clips // 8) + ([[0] * (num_clips % 8)] if num_clips % 8 else [])
    steps = list(loader_steps(iter(per_video), num_clips, num_batches))
    assert len(steps) == num_batches and sum(map(len, steps)) == num_clips
