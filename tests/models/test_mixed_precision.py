"""Training under CPU bf16 autocast (``--amp`` on CPU, ``train_cfg.autocast_dtype``) with the
paper's 3D Head: finite losses and gradients, both optimizers stepped.

oneDNN's bf16 Conv3d weight-gradient kernels return inf/NaN for the paper ResNet3d-50's stem
and 1x1x1 convs on (1, C, 4, 32, 32) clips (T = 4, 128-px frames); ``Conv3DHead`` trains in
fp32 under CPU autocast for that reason. These tests use exactly those shapes.
"""
import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.optim import OptimWrapperDict, build_optim_wrapper
from mmengine.registry import init_default_scope

from point3d_mm.analysis.benchmark_configs import config_path
from point3d_mm.analysis.training_memory import build_training_config, synthetic_batch

CLIP_LEN, SIZE = 4, 128  # features (1, 128, 4, 32, 32): shapes the oneDNN kernels get wrong
# The paper's Point Head, TWA and 3D Head (ResNet3d-50 on 128 channels) on a small hourglass,
# so that one step takes seconds; the hourglass still gives 128 channels at stride 4.
SMALL_HOURGLASS = ('model.backbone.downsample_times=2', 'model.backbone.num_stacks=1',
                   'model.backbone.stage_channels=(16, 16, 24)',
                   'model.backbone.stage_blocks=(1, 1, 1)', 'model.backbone.feat_channel=32')


@pytest.fixture(scope='module')
def bf16_cfg():
    init_default_scope('mmaction')
    return build_training_config(config_path('ucf24'), 'bf16', SMALL_HOURGLASS)


def test_conv3d_head_grads_under_cpu_bf16_autocast_match_fp32(bf16_cfg):
    """Under CPU autocast the 3D Head's weight gradients are finite and those of fp32 (it
    runs in fp32 there); without autocast nothing changes."""
    head_cfg = copy.deepcopy(bf16_cfg.model.cls_head)
    head_cfg.update(dropout_ratio=0.0)
    torch.manual_seed(0)
    head = MODELS.build(head_cfg).train()
    y = torch.randn(1, 128, CLIP_LEN, SIZE // 4, SIZE // 4)
    grads, dtypes, weights = {}, {}, None
    for autocast in (True, False):
        head.zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            feats = head(y)
        dtypes[autocast] = feats.dtype
        weights = torch.randn_like(feats) if weights is None else weights
        (feats * weights).sum().backward()
        grads[autocast] = {name: p.grad.clone() for name, p in head.named_parameters()
                           if p.grad is not None}
    conv_weights = [name for name in grads[True] if name.endswith('conv.weight')]
    assert len(conv_weights) == 55  # ResNet3d-50's 53 convs and the 2 conv layers
    for name, grad in grads[True].items():
        assert torch.isfinite(grad).all(), name
        torch.testing.assert_close(grad, grads[False][name], msg=name)
    assert dtypes == {True: torch.float32, False: torch.float32}


def test_paper_config_bf16_train_step_both_optimizers(bf16_cfg):
    """Two train steps of the paper config under bf16 autocast: every loss and gradient
    finite, and both Adam (backbone, Point Head) and SGD (3D Head) stepped."""
    torch.manual_seed(0)
    model = MODELS.build(bf16_cfg.model).train()
    optim_wrapper = build_optim_wrapper(model, bf16_cfg.optim_wrapper)
    assert isinstance(optim_wrapper, OptimWrapperDict)
    assert model.train_cfg['autocast_dtype'] == 'bfloat16'
    nonfinite = set()
    for name, param in model.named_parameters():
        param.register_hook(lambda grad, name=name: None if torch.isfinite(grad).all()
                            else nonfinite.add(name))
    probes = {'point': model.backbone.proj.weight,
              'cls': model.cls_head.backbone.conv1.conv.weight}
    data = synthetic_batch(1, CLIP_LEN, SIZE, model.cls_head.num_classes)
    for step in range(2):
        before = {key: probe.detach().clone() for key, probe in probes.items()}
        log_vars = model.train_step(data, optim_wrapper)
        assert set(log_vars) >= {'loss', 'loss_center_heatmap', 'loss_cls'}
        for key, value in log_vars.items():
            assert torch.isfinite(torch.as_tensor(value)).all(), (step, key)
        assert not nonfinite, (step, sorted(nonfinite))
        for key, probe in probes.items():
            assert torch.isfinite(probe).all() and not torch.equal(probe, before[key]), key
            assert probe in optim_wrapper[key].optimizer.state
    assert set(optim_wrapper['point'].optimizer.state[probes['point']]) >= {'exp_avg'}
    assert set(optim_wrapper['cls'].optimizer.state[probes['cls']]) >= {'momentum_buffer'}
