"""Each speed option keeps the tiny model's detections (or training step) as fp32 eager."""
import copy

import pytest
import torch
from performance_helpers import (
    assert_same_detections,
    moving_actor_video,
    tiny_detector,
    training_batch,
)

from point3d_mm.apis import detect_frames
from point3d_mm.apis.speed import apply_speed_options, inference_autocast

CLIP_LEN = 8
# Knot snapping is discontinuous: bf16 rounding can move a knot to another peak of a
# random-init knot heatmap and change the fused box a lot, so the precision options are
# compared on the CP boxes.
CP_BOXES = {'model.point_head.test_cfg.fuse_knots': False}


def streaming_detections(model, autocast_dtype=None):
    with inference_autocast(model, autocast_dtype):
        return detect_frames(model, moving_actor_video(CLIP_LEN + 2), streaming=True)


@pytest.fixture(scope='module')
def fp32_detections():
    return streaming_detections(tiny_detector(CLIP_LEN))


@pytest.fixture(scope='module')
def fp32_cp_detections():
    return streaming_detections(tiny_detector(CLIP_LEN, **CP_BOXES))


def test_channels_last(fp32_detections):
    model = apply_speed_options(tiny_detector(CLIP_LEN), channels_last=True)
    assert model.backbone.stem[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    conv3d = model.cls_head.backbone.conv1.conv.weight
    assert conv3d.is_contiguous(memory_format=torch.channels_last_3d)
    assert_same_detections(fp32_detections, streaming_detections(model), score_atol=1e-5,
                           min_iou=0.999)


@pytest.mark.slow
@pytest.mark.parametrize('channels_last', [False, True])
def test_bf16_autocast(fp32_cp_detections, channels_last):
    model = apply_speed_options(tiny_detector(CLIP_LEN, **CP_BOXES), channels_last=channels_last)
    detections = streaming_detections(model, 'bfloat16')
    # the 5 best boxes of every frame: measured IoU >= 0.995, scores within 8e-4
    assert_same_detections(fp32_cp_detections, detections, score_atol=2e-3, min_iou=0.98, top=5)


def test_unknown_autocast_dtype_is_refused():
    with pytest.raises(ValueError, match='float64'):
        inference_autocast(torch.nn.Linear(1, 1), 'float64')


@pytest.mark.slow
def test_torch_compile(fp32_detections):
    """About 90 s of compilation on 2 CPU cores."""
    model = apply_speed_options(tiny_detector(CLIP_LEN), torch_compile=True)
    assert_same_detections(fp32_detections, streaming_detections(model), score_atol=1e-5,
                           min_iou=0.999)


def test_activation_checkpointing_keeps_the_training_step(monkeypatch):
    """Same losses, gradients and BN running statistics with and without with_cp."""
    from point3d_mm.models.backbones import hourglass_backbone
    calls = []
    checkpoint = hourglass_backbone.checkpoint
    monkeypatch.setattr(hourglass_backbone, 'checkpoint',
                        lambda *args, **kwargs: calls.append(1) or checkpoint(*args, **kwargs))
    plain = tiny_detector(CLIP_LEN).train()
    checkpointed = apply_speed_options(copy.deepcopy(plain), with_cp=True)
    assert checkpointed.backbone.with_cp and not plain.backbone.with_cp
    assert 'backbone.stem.1.0.conv1.weight' in dict(checkpointed.named_parameters())
    results = []
    for model in (plain, checkpointed):
        losses, _ = model.parse_losses(model(**training_batch(model), mode='loss'))
        losses.backward()
        results.append((losses.detach(), model))
    (loss, plain), (cp_loss, checkpointed) = results
    blocks = [m for m in checkpointed.backbone.modules() if hasattr(m, 'conv1')]
    assert len(calls) == len(blocks) > 0  # every residual block, once
    torch.testing.assert_close(cp_loss, loss)
    for (name, param), cp_param in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(cp_param.grad, param.grad, rtol=1e-4, atol=1e-6, msg=name)
    for (name, buf), cp_buf in zip(plain.named_buffers(), checkpointed.buffers()):
        torch.testing.assert_close(cp_buf, buf, msg=name)


def test_channels_last_hook_keeps_the_training_step(tmp_path):
    """ChannelsLastHook changes the layout, not the arithmetic: in float64 the training step's
    loss and gradients equal NCHW's to rounding (in float32 they differ by more: see the
    hook's docstring). The optimizer built before the hook keeps updating the converted
    parameters, and the checkpoint loads into either layout."""
    from types import SimpleNamespace

    from point3d_mm.engine import ChannelsLastHook
    plain = tiny_detector(CLIP_LEN).train().double()
    converted = copy.deepcopy(plain)
    optimizer = torch.optim.SGD(converted.parameters(), lr=0.1)
    ChannelsLastHook().before_train(SimpleNamespace(model=converted))
    assert converted.backbone.stem[0].conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert converted.cls_head.backbone.conv1.conv.weight.is_contiguous(
        memory_format=torch.channels_last_3d)
    assert not plain.backbone.stem[0].conv.weight.is_contiguous(
        memory_format=torch.channels_last)
    assert {id(p) for group in optimizer.param_groups for p in group['params']} == {
        id(p) for p in converted.parameters()}
    losses = []
    for model in (plain, converted):
        batch = training_batch(model)
        batch['inputs'] = batch['inputs'].double()
        loss, _ = model.parse_losses(model(**batch, mode='loss'))
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-12, atol=0)
    for (name, param), cl_param in zip(plain.named_parameters(), converted.parameters()):
        torch.testing.assert_close(cl_param.grad, param.grad, rtol=1e-9, atol=1e-12, msg=name)
    before = [p.detach().clone() for p in converted.parameters()]
    optimizer.step()
    assert all(not torch.equal(p, b) for p, b in zip(converted.parameters(), before)
               if p.grad is not None and p.grad.abs().sum() > 0)
    # the checkpoint holds the same keys and values, and loads into either layout: an NCHW
    # model stays NCHW, a converted one (a resumed run's) stays channels-last
    checkpoint = tmp_path / 'iter_1.pth'
    torch.save(converted.state_dict(), checkpoint)
    state = torch.load(checkpoint, weights_only=True)
    assert state.keys() == plain.state_dict().keys()
    for layout_before in ('nchw', 'channels_last'):
        reloaded = tiny_detector(CLIP_LEN).double()
        if layout_before == 'channels_last':
            ChannelsLastHook().before_train(SimpleNamespace(model=reloaded))
        reloaded.load_state_dict(state)
        weight = reloaded.backbone.stem[0].conv.weight
        assert weight.is_contiguous(memory_format=torch.channels_last) == (
            layout_before == 'channels_last')
        for (name, param), value in zip(reloaded.named_parameters(), converted.parameters()):
            assert torch.equal(param, value), name


def test_channels_last_hook_refuses_a_distributed_training(tmp_path):
    """DistributedDataParallel lays out its gradient buckets when it wraps the model: the
    hook refuses to convert a wrapped model for training, and converts it for testing."""
    from types import SimpleNamespace

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from point3d_mm.engine import ChannelsLastHook
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0,
                            world_size=1)
    try:
        runner = SimpleNamespace(model=DistributedDataParallel(torch.nn.Conv2d(3, 4, 3)))
        with pytest.raises(RuntimeError, match='wrapped for distributed training'):
            ChannelsLastHook().before_train(runner)
        assert not runner.model.module.weight.is_contiguous(memory_format=torch.channels_last)
        ChannelsLastHook().before_test(runner)
        assert runner.model.module.weight.is_contiguous(memory_format=torch.channels_last)
    finally:
        dist.destroy_process_group()
