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


@pytest.mark.slow
def test_tiny_model_overfits_a_few_clips(tiny_model_cfg, clip_factory):
    """Four 4-frame clips of two moving actors, three classes: the joint loss falls 10×
    within a minute, and the trained model then finds the key-frame actors with their class."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg)
    model.init_weights()
    wrappers = build_optim_wrapper(model, copy.deepcopy(TINY_OPTIM))
    batch = clip_factory(num_clips=4, clip_len=4, size=64, num_classes=3)

    # CPU time, not wall time: the budget must hold on a machine shared with other jobs.
    start, start_cpu = time.perf_counter(), time.process_time()
    losses = [model.train_step(copy.deepcopy(batch), wrappers)['loss'].detach().item()
              for _ in range(80)]
    cpu_seconds = time.process_time() - start_cpu
    first, last = losses[0], min(losses[-5:])
    print(f'overfit: loss {first:.3f} -> {last:.3f} ({first / last:.1f}x) in '
          f'{time.perf_counter() - start:.1f} s ({cpu_seconds:.1f} s CPU)')
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
