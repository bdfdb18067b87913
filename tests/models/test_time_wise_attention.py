import math

import pytest
import torch
from mmaction.registry import MODELS


def naive_twa(clip, scale):
    """The paper's formula for one clip F (T, C, H, W), with explicit loops."""
    num_frames = clip.shape[0]
    flat = [frame.flatten() for frame in clip]
    gram = torch.zeros(num_frames, num_frames, dtype=torch.float64)
    for i in range(num_frames):
        for j in range(num_frames):
            gram[i, j] = (flat[i].double() * flat[j].double()).sum()
    if scale == 'sqrt_d':
        gram /= math.sqrt(flat[0].numel())
    out = torch.empty_like(clip, dtype=torch.float64)
    for i in range(num_frames):
        weights = torch.exp(gram[i] - gram[i].max())
        weights /= weights.sum()
        out[i] = sum(weights[j] * clip[j].double() for j in range(num_frames)) + clip[i]
    return out


@pytest.mark.parametrize('layout', ['BTCHW', 'BCTHW'])
@pytest.mark.parametrize('scale', ['sqrt_d', None])
def test_matches_naive_formula(layout, scale):
    torch.manual_seed(0)
    twa = MODELS.build(dict(type='TimeWiseAttention', layout=layout, scale=scale))
    # small values keep the unscaled softmax away from a one-hot, so the test sees mixing
    clips = torch.randn(2, 5, 3, 4, 6) * (0.2 if scale is None else 1.0)  # (B, T, C, H, W)
    x = clips if layout == 'BTCHW' else clips.transpose(1, 2)
    y = twa(x)
    assert y.shape == x.shape
    out = y if layout == 'BTCHW' else y.transpose(1, 2)
    for clip, result in zip(clips, out):
        torch.testing.assert_close(result.double(), naive_twa(clip, scale), rtol=1e-5,
                                   atol=1e-5)


def test_scaled_attention_mixes_correlated_frames_and_raw_gram_saturates():
    """Frames of a video are alike: with scale='sqrt_d' every frame attends to the others;
    the paper-literal Gram logits (C·H·W = 2048 here) give a one-hot softmax, S = F."""
    torch.manual_seed(0)
    frames = torch.randn(1, 8, 1, 16, 16) + 0.1 * torch.randn(1, 8, 4, 16, 16)  # (B, C, T, H, W)
    mixed = MODELS.build(dict(type='TimeWiseAttention', scale='sqrt_d'))(frames) - frames
    literal = MODELS.build(dict(type='TimeWiseAttention'))(frames) - frames  # the default
    assert (mixed - frames).abs().mean() > 0.02
    torch.testing.assert_close(literal, frames)


def test_tuple_input_and_gradient():
    twa = MODELS.build(dict(type='TimeWiseAttention'))
    x = torch.randn(2, 4, 3, 5, 5, requires_grad=True)
    (y, ) = twa((x, ))
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize('scale', [None, 'sqrt_d'])
def test_gradient_flows_through_one_copy_of_the_features(scale):
    """TWA's output and gradient are bit-identical to the one-expression formula
    softmax(F̃F̃ᵀ[/√D])F̃ + F: M and S must share the F̃ node, or the backward sums the
    gradient in another order and a training run drifts away from the same run before."""
    torch.manual_seed(0)
    x = torch.randn(2, 6, 3, 5, 5, requires_grad=True)  # (B, C, T, H, W)
    weights = torch.randn(2, 6, 3, 5, 5)
    y = MODELS.build(dict(type='TimeWiseAttention', scale=scale))(x)
    (y * weights).sum().backward()
    grad_twa, x.grad = x.grad, None

    frames = x.transpose(1, 2)
    flat = frames.flatten(2).float()
    gram = flat @ flat.transpose(1, 2)
    attention = (gram if scale is None else gram / math.sqrt(flat.shape[-1])).softmax(dim=-1)
    expected = ((attention @ flat).view_as(frames) + frames).transpose(1, 2)
    (expected * weights).sum().backward()
    assert torch.equal(y, expected)
    assert torch.equal(grad_twa, x.grad)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        MODELS.build(dict(type='TimeWiseAttention', layout='NCHW'))
    with pytest.raises(ValueError):
        MODELS.build(dict(type='TimeWiseAttention', scale='d'))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_gram_stays_fp32_under_autocast(dtype):
    """C·H·W = 32768 products of values ≈ 3 overflow fp16 (and blur bf16 logits)."""
    torch.manual_seed(0)
    twa = MODELS.build(dict(type='TimeWiseAttention'))
    x = torch.randn(2, 8, 4, 64, 64) + 3
    expected = twa(x)
    with torch.autocast('cpu', dtype=dtype):
        y = twa(x.to(dtype))
    assert y.dtype == dtype and y.isfinite().all()
    torch.testing.assert_close(y.float(), expected, rtol=2e-2, atol=5e-2)


def test_l2_temperature_variant():
    """Cosine logits times a learned temperature: not one-hot at init whatever the feature
    norms, trainable, and the other scalings keep no parameter."""
    from point3d_mm.models.necks.time_wise_attention import attention_matrix
    torch.manual_seed(0)
    twa = MODELS.build(dict(type='TimeWiseAttention', scale='l2_temperature',
                            init_temperature=2.0))
    assert [n for n, _ in twa.named_parameters()] == ['log_temperature']
    assert not list(MODELS.build(dict(type='TimeWiseAttention')).parameters())
    assert twa.temperature().item() == pytest.approx(2.0)
    # large, correlated features: the raw and sqrt_d logits would be far apart
    clips = 1000 * (torch.randn(2, 1, 3, 4, 6) + 0.3 * torch.randn(2, 5, 3, 4, 6))
    x = clips.transpose(1, 2)
    m = twa.attention(x)
    flat = clips.flatten(2).double()
    unit = flat / flat.norm(dim=-1, keepdim=True)
    expected = (2.0 * unit @ unit.transpose(1, 2)).softmax(-1)
    torch.testing.assert_close(m.double(), expected, rtol=1e-5, atol=1e-6)
    assert m.diagonal(dim1=1, dim2=2).max() < 0.5  # far from one-hot
    y = twa(x)
    torch.testing.assert_close(y.transpose(1, 2).double(), (expected @ flat).view_as(clips) +
                               clips.double(), rtol=1e-5, atol=1e-2)
    y.sum().backward()
    assert twa.log_temperature.grad is not None and twa.log_temperature.grad != 0
    scaled = MODELS.build(dict(type='TimeWiseAttention', scale='sqrt_d'))
    torch.testing.assert_close(attention_matrix(clips, 'sqrt_d'), scaled.attention(x))
    with pytest.raises(ValueError, match='scale must be one of'):
        MODELS.build(dict(type='TimeWiseAttention', scale='cosine'))


def test_point_head_loss_stack_reduction():
    """PointHead(loss_stack_reduction='mean') divides each stack's losses by the number of
    stacks (CenterNet's average); 'sum', the default, keeps them as they are. (Here rather
    than in test_point_head.py, which another change owns.)"""
    from mmengine.structures import InstanceData

    from point3d_mm.structures.geometry import box_knots
    torch.manual_seed(0)
    bboxes = torch.tensor([[10.0, 12.0, 40.0, 60.0], [70.0, 20.0, 100.0, 90.0]])
    gt = InstanceData(bboxes=bboxes, frame_inds=torch.tensor([0, 1]), knots=box_knots(bboxes))
    feats = tuple(torch.randn(2, 8, 32, 32) for _ in range(2))  # two stacks
    losses = {}
    for reduction in ('sum', 'mean'):
        torch.manual_seed(1)
        head = MODELS.build(dict(type='PointHead', in_channels=8, feat_channels=8,
                                 loss_stack_reduction=reduction))
        head.init_weights()
        losses[reduction] = head.loss(feats, [gt], (128, 128))
    assert MODELS.build(dict(type='PointHead', in_channels=8)).loss_stack_reduction == 'sum'
    for name, per_stack in losses['sum'].items():
        assert len(per_stack) == 2
        for summed, averaged in zip(per_stack, losses['mean'][name]):
            torch.testing.assert_close(averaged, summed / 2)
    with pytest.raises(ValueError, match='loss_stack_reduction'):
        MODELS.build(dict(type='PointHead', loss_stack_reduction='max'))
