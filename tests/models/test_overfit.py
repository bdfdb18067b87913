import copy
import time

import pytest
import torch
from mmaction.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps
from mmengine.optim import build_optim_wrapper

# The paper's optimizer split, with the larger learning rates of the tiny synthetic config.
TINY_OPTIM = dict(
    constructor='Point3DOptimWrapperConstructor',
    point=dict(type='OptimWrapper', prefixes=['backbone', 'neck', 'point_head'],
               optimizer=dict(type='Adam', lr=1e-3)),
    cls=dict(type='OptimWrapper', prefixes=['cls_head'],
             optimizer=dict(type='SGD', lr=1e-2, momentum=0.9)))


def train_on_one_batch(model_cfg: dict, batch: dict, iterations: int):
    """The model (seed 0) trained with both optimizers for ``iterations`` steps on ``batch``;
    the logged losses of every step (floats) and the CPU seconds the steps took."""
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    wrappers = build_optim_wrapper(model, copy.deepcopy(TINY_OPTIM))
    # CPU time, not wall time: the budget must hold on a machine shared with other jobs.
    start_cpu = time.process_time()
    steps = [{name: value.item() for name, value in
              model.train_step(copy.deepcopy(batch), wrappers).items()}
             for _ in range(iterations)]
    return model, steps, time.process_time() - start_cpu


def test_loss_falls_on_a_fixed_batch(tiny_model_cfg, clip_factory):
    """20 steps on four fixed clips (about 2 s of CPU): the joint loss falls at every step and
    ends at most 0.6x its first value; the Point Head's centre and knot heatmap losses (Adam)
    and the 3D Head's classification loss (SGD) each at least halve."""
    batch = clip_factory(num_clips=4, clip_len=4, size=64, num_classes=3)
    _, steps, cpu_seconds = train_on_one_batch(tiny_model_cfg, batch, 20)
    losses = [step['loss'] for step in steps]
    print(f'loss {losses[0]:.3f} -> {losses[-1]:.3f} in {cpu_seconds:.1f} s CPU')
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] <= 0.6 * losses[0]
    for name in ('loss_center_heatmap', 'loss_knot_heatmap', 'loss_cls'):
        assert steps[-1][name] <= 0.5 * steps[0][name], (name, steps[0][name], steps[-1][name])


@pytest.mark.slow
def test_tiny_model_overfits_a_few_clips(tiny_model_cfg, clip_factory):
    """Four 4-frame clips of two moving actors, three classes: the joint loss falls 10×
    within a minute, and the trained model then finds the key-frame actors with their class."""
    batch = clip_factory(num_clips=4, clip_len=4, size=64, num_classes=3)
    model, steps, cpu_seconds = train_on_one_batch(tiny_model_cfg, batch, 80)
    losses = [step['loss'] for step in steps]
    first, last = losses[0], min(losses[-5:])
    print(f'overfit: loss {first:.3f} -> {last:.3f} ({first / last:.1f}x) in '
          f'{cpu_seconds:.1f} s CPU')
    assert first / last >= 10
    assert cpu_seconds < 60

    model.eval()
    with torch.no_grad():
        results = model.test_step(copy.deepcopy(batch))
    for sample, result in zip(batch['data_samples'], results):
        gt = sample.gt_instances[sample.gt_instances.frame_inds == sample.key_frame_index]
        pred = result.pred_instances
        confident = pred[pred.scores > 0.3]
        # predictions are in original pixels (2x the input here)
        ious = bbox_overlaps(gt.bboxes * 2, confident.bboxes)
        best = ious.argmax(dim=1)
        assert (ious.max(dim=1).values > 0.5).all()
        assert (confident.labels[best] == gt.labels).all()
