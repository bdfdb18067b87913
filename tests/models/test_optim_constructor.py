import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.optim import OptimWrapper, build_optim_wrapper

PAPER_OPTIM = dict(
    constructor='Point3DOptimWrapperConstructor',
    point=dict(type='OptimWrapper', prefixes=['backbone', 'neck', 'point_head'],
               optimizer=dict(type='Adam', lr=5e-4)),
    cls=dict(type='OptimWrapper', prefixes=['cls_head'],
             optimizer=dict(type='SGD', lr=1e-3, momentum=0.9)))


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def snapshot(model):
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def changed(model, before, prefix):
    """Whether any parameter under prefix moved since the snapshot."""
    return any(not torch.equal(param, before[name]) for name, param in model.named_parameters()
               if name.startswith(prefix))


def test_paper_split(tiny_model_cfg):
    model = build(tiny_model_cfg)
    wrappers = build_optim_wrapper(model, copy.deepcopy(PAPER_OPTIM))
    assert set(wrappers.keys()) == {'point', 'cls'}
    assert isinstance(wrappers['point'].optimizer, torch.optim.Adam)
    assert isinstance(wrappers['cls'].optimizer, torch.optim.SGD)
    assert wrappers['cls'].optimizer.defaults['momentum'] == 0.9
    owned = {name: {id(p) for group in wrapper.optimizer.param_groups for p in group['params']}
             for name, wrapper in wrappers.items()}
    for name, param in model.named_parameters():
        owner = 'cls' if name.startswith('cls_head.') else 'point'
        assert id(param) in owned[owner] and id(param) not in owned[{'cls': 'point',
                                                                    'point': 'cls'}[owner]]


def test_refuses_unclaimed_and_doubly_claimed_parameters(tiny_model_cfg):
    model = build(tiny_model_cfg)
    unclaimed = copy.deepcopy(PAPER_OPTIM)
    unclaimed['point']['prefixes'] = ['backbone']
    with pytest.raises(ValueError, match='point_head'):
        build_optim_wrapper(model, unclaimed)
    doubled = copy.deepcopy(PAPER_OPTIM)
    doubled['cls']['prefixes'] = ['cls_head', 'point_head.heatmap_head']
    with pytest.raises(ValueError, match='claimed by'):
        build_optim_wrapper(model, doubled)
    accumulating = copy.deepcopy(PAPER_OPTIM)
    accumulating['cls']['accumulative_counts'] = 2
    with pytest.raises(ValueError, match='accumulation'):
        build_optim_wrapper(model, accumulating)


@pytest.mark.parametrize('frozen', ['point', 'cls'])
def test_each_optimizer_steps_only_its_own_parameters(frozen, tiny_model_cfg, clip_factory):
    """With one optimizer's lr at 0, only the other one's parameters move."""
    model = build(tiny_model_cfg)
    optim_cfg = copy.deepcopy(PAPER_OPTIM)
    optim_cfg[frozen]['optimizer']['lr'] = 0.0
    optim_cfg[frozen]['optimizer'].pop('momentum', None)
    wrappers = build_optim_wrapper(model, optim_cfg)
    before = snapshot(model)
    log_vars = model.train_step(clip_factory(), wrappers)
    assert 'loss' in log_vars and torch.isfinite(log_vars['loss'])
    point_moved = any(changed(model, before, prefix)
                      for prefix in ('backbone.', 'point_head.'))
    cls_moved = changed(model, before, 'cls_head.')
    assert (point_moved, cls_moved) == ((False, True) if frozen == 'point' else (True, False))
    # gradients are cleared after the step
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.parameters())


@pytest.mark.parametrize('pool', ['clip', 'roi'])
def test_bf16_autocast_train_step_on_cpu(pool, tiny_model_cfg, clip_factory):
    """--amp on CPU: train_cfg.autocast_dtype='bfloat16' (set by tools' apply_amp)."""
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['train_cfg'] = dict(autocast_dtype='bfloat16')
    cfg['cls_head']['pool'] = pool
    model = build(cfg)
    wrappers = build_optim_wrapper(model, copy.deepcopy(PAPER_OPTIM))
    before = snapshot(model)
    seen = []
    hook = model.point_head.heatmap_head.register_forward_hook(
        lambda module, args, out: seen.append(out.dtype))
    log_vars = model.train_step(clip_factory(), wrappers)
    hook.remove()
    assert seen == [torch.bfloat16]
    assert torch.isfinite(log_vars['loss'])
    assert changed(model, before, 'backbone.') and changed(model, before, 'cls_head.')
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_shared_loss_scaler_steps_like_unscaled_training(tiny_model_cfg, clip_factory):
    """fp16 AMP (CUDA) path: one GradScaler scales the joint loss and unscales every
    optimizer with the same scale. Checked on CPU with a CPU GradScaler in the role of
    AmpOptimWrapper.loss_scaler: the step equals an unscaled step."""
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['cls_head']['dropout_ratio'] = 0.0
    batch = clip_factory()
    reference, scaled = build(cfg), build(cfg)
    sgd = copy.deepcopy(PAPER_OPTIM)
    sgd['point']['optimizer'] = dict(type='SGD', lr=1e-2)
    reference.train_step(copy.deepcopy(batch), build_optim_wrapper(reference, copy.deepcopy(sgd)))
    wrappers = build_optim_wrapper(scaled, copy.deepcopy(sgd))
    scaler = torch.amp.GradScaler('cpu', init_scale=2.0**12)
    for wrapper in wrappers.values():
        wrapper.loss_scaler = scaler
        wrapper._scale_update_param = None
    scaled.train_step(copy.deepcopy(batch), wrappers)
    for (name, param), ref in zip(scaled.named_parameters(), reference.parameters()):
        torch.testing.assert_close(param, ref, rtol=1e-4, atol=1e-6, msg=name)


def test_single_wrapper_still_works(tiny_model_cfg, clip_factory):
    model = build(tiny_model_cfg)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-2))
    before = snapshot(model)
    model.train_step(clip_factory(), wrapper)
    assert changed(model, before, 'backbone.') and changed(model, before, 'cls_head.')
