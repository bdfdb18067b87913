"""Point3D's CUDA paths: a paper-scale training step under fp16 AMP with both optimizers,
streaming and the cached test loop equal to clip mode (the CPU tests' bodies and
tolerances), and the metrics and the tube linker fed CUDA outputs.

Every equality test here runs under the ``deterministic_cuda`` fixture (conftest.py):
deterministic algorithms, TF32 off, so that each comparison gives the same numbers on every
run (it cannot flake); its tolerance then covers only the difference between the two paths
compared, as its docstring says. The training step asserts no equality."""
import math

import numpy as np
import pytest
import test_cached_loops as cached_tests
import test_streaming as streaming_tests
import torch
from performance_helpers import assert_same_detections, moving_actor_video, tiny_detector
from test_cached_loops import checkpoint, data_root  # noqa: F401  (fixtures)

from point3d_mm.analysis import training_memory as bench
from point3d_mm.analysis.benchmark_configs import config_path
from point3d_mm.apis import inference_video

pytestmark = pytest.mark.cuda


def test_paper_training_step_fp16_amp_steps_both_optimizers():
    """UCF101-24's config (T=16, 256x256, Hourglass-104): under AmpOptimWrapper (what
    `tools/train.py --amp` sets on CUDA) the joint loss stays finite and both the Adam of
    backbone + Point Head and the SGD of the 3D Head step (fp16 overflow skips the first
    steps while the dynamic loss scale falls: up to 8 steps)."""
    from mmaction.registry import MODELS
    from mmengine.optim import build_optim_wrapper
    cfg = bench.build_training_config(config_path('ucf24'), 'fp16')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).cuda().train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    assert {name: type(w).__name__ for name, w in optim.items()} == {
        'point': 'AmpOptimWrapper', 'cls': 'AmpOptimWrapper'}
    assert isinstance(optim['point'].optimizer, torch.optim.Adam)
    assert isinstance(optim['cls'].optimizer, torch.optim.SGD)
    parts = {'point': model.backbone, 'cls': model.cls_head}
    before = {name: next(part.parameters()).detach().clone() for name, part in parts.items()}
    data = bench.synthetic_batch(2, 16, 256, model.cls_head.num_classes)
    losses = []
    for _ in range(8):
        losses.append(float(model.train_step(data, optim)['loss']))
        if all(optim[name].optimizer.state for name in parts):
            break
    assert all(math.isfinite(loss) for loss in losses), losses
    for name, part in parts.items():
        assert optim[name].optimizer.state, f'{name} optimizer never stepped: losses {losses}'
        assert not torch.equal(next(part.parameters()).detach(), before[name]), name
    assert optim['point'].loss_scaler.get_scale() > 0


@pytest.mark.usefixtures('deterministic_cuda')
@pytest.mark.parametrize('clip_len', [8, 16])
def test_streaming_equals_clip_mode(clip_len, monkeypatch):
    """Deterministic algorithms; the CPU test's tolerances (scores within 1e-5, box IoU at
    least 0.999): streaming and clip mode run the same convolutions on differently batched
    frames, whose rounding differs, on CUDA as on the CPU."""
    monkeypatch.setattr(streaming_tests, 'tiny_detector',
                        lambda *args, **kwargs: tiny_detector(*args, **kwargs).to('cuda'))
    streaming_tests.test_streaming_equals_clip_mode(clip_len)


@pytest.mark.usefixtures('deterministic_cuda')
def test_cached_loop_equals_clip_mode(data_root, checkpoint, tmp_path):  # noqa: F811
    """mmengine's Runner puts the model on the GPU: the loop, its FrameMAP and VideoMAP
    (tube linking included) see CUDA outputs. Deterministic algorithms; the CPU test's
    tolerances (scores 1e-5, coordinates 1e-3 px, metrics 1e-6): the cached features and
    clip mode batch the same frames differently."""
    torch.cuda.reset_peak_memory_stats()
    cached_tests.test_cached_loop_equals_clip_mode(data_root, checkpoint, tmp_path)
    assert torch.cuda.max_memory_allocated() > 0


@pytest.mark.usefixtures('deterministic_cuda')
def test_tubes_from_cuda_outputs_equal_cpu_ones():
    """inference_video (detections, then the config's TubeLinker) on CUDA gives the CPU's
    best detections per frame and the same best tubes. Deterministic algorithms on the CUDA
    side (the CPU side is deterministic by itself), so the difference compared is the same on
    every run; the tolerances (scores 1e-4, box IoU 0.99, tube corners 1e-2 px) cover the two
    devices' different fp32 summation orders, 10x the CPU tests' same-device ones."""
    frames = moving_actor_video(20)
    cpu = inference_video(tiny_detector(8), frames)
    gpu = inference_video(tiny_detector(8).to('cuda'), frames)
    assert_same_detections(cpu['detections'], gpu['detections'], score_atol=1e-4,
                           min_iou=0.99, top=5)
    assert len(cpu['tubes']) > 0 and len(gpu['tubes']) > 0
    for (label, score, boxes), (gpu_label, gpu_score, gpu_boxes) in zip(cpu['tubes'][:3],
                                                                      gpu['tubes'][:3]):
        assert gpu_label == label and gpu_score == pytest.approx(score, abs=1e-4)
        np.testing.assert_array_equal(gpu_boxes[:, 0], boxes[:, 0])
        np.testing.assert_allclose(gpu_boxes[:, 1:], boxes[:, 1:], atol=1e-2)
