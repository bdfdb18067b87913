"""One training step of a Point3D config under DDP, and the same step in one process.

Run as a script by ``python -m torch.distributed.run --nproc_per_node N ddp_step.py CONFIG
BATCH INIT OUT``: every process joins the process group through mmengine's ``pytorch``
launcher (the backend and the DDP arguments that ``tools/train.py`` sets,
:func:`point3d_mm.engine.runner_setup.prepare_launcher`), wraps the model as mmengine's Runner
does (the config's ``model_wrapper_cfg``: ``MMSeparateDistributedDataParallel``), takes its
share of the pickled global batch and runs ``train_step`` with both optimizers, saving to
``OUT/rank<r>.pth`` the gradients each optimizer stepped with, the weights after the step and
its loss.

The test imports :func:`build_model_and_optim`, :func:`record_step_gradients` and
:func:`share` for its single-process reference (:func:`one_process_step`), so both sides
build, split and record alike.
"""
import argparse
import os.path as osp
import pickle
import sys
from typing import Dict, List, Tuple

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapperDict, build_optim_wrapper


def build_model_and_optim(cfg: Config, init_state: Dict[str, torch.Tensor]):
    """The config's model with the weights ``init_state`` and its optimizers (both)."""
    from mmaction.registry import MODELS
    model = MODELS.build(cfg.model)
    model.load_state_dict(init_state)
    return model, build_optim_wrapper(model, cfg.optim_wrapper)


def record_step_gradients(model: torch.nn.Module,
                          optim: OptimWrapperDict) -> Dict[str, Dict[str, torch.Tensor]]:
    """Copies of the gradients each optimizer steps with, by optimizer name and parameter
    name, filled when the optimizers step (a step pre-hook: after DDP's all-reduce)."""
    names = {id(p): name for name, p in model.named_parameters()}
    recorded: Dict[str, Dict[str, torch.Tensor]] = {}

    def hook_for(optimizer_name: str):
        def record(optimizer, args, kwargs):
            recorded[optimizer_name] = {
                names[id(p)]: p.grad.detach().clone()
                for group in optimizer.param_groups for p in group['params']
                if p.grad is not None}
        return record

    for optimizer_name, wrapper in optim.items():
        wrapper.optimizer.register_step_pre_hook(hook_for(optimizer_name))
    return recorded


def one_process_step(model: torch.nn.Module, optim: OptimWrapperDict,
                     shares: List[dict]) -> Tuple[List[float], Dict[str, torch.Tensor]]:
    """What DDP computes, in one process: forward and backward of each share on its own
    (its BatchNorm statistics and loss normalisation are the share's, as in a process of the
    group), the mean of the shares' gradients, then one step of every optimizer.

    Returns:
        The shares' losses, and the first share's own gradients (by parameter name).
    """
    losses, first = [], {}
    for index, data in enumerate(shares):
        data = model.data_preprocessor(data, True)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        loss.backward()
        losses.append(loss.item())
        if index == 0:
            first = {name: p.grad.clone() for name, p in model.named_parameters()
                     if p.grad is not None}
    for p in model.parameters():
        if p.grad is not None:
            p.grad.div_(len(shares))
    for wrapper in optim.values():
        wrapper.step()
    return losses, first


def share(batch: dict, rank: int, world_size: int) -> dict:
    """Process ``rank``'s consecutive share of a collated batch (what a sampler without
    shuffling gives each process)."""
    size = len(batch['inputs']) // world_size
    assert size * world_size == len(batch['inputs']), 'the batch does not split evenly'
    return {key: value[rank * size:(rank + 1) * size] for key, value in batch.items()}


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('batch', help='pickled collated global batch')
    parser.add_argument('init', help='initial weights (a state_dict saved by torch.save)')
    parser.add_argument('out', help='folder for rank<r>.pth')
    args = parser.parse_args(argv)

    from mmengine.dist import get_dist_info, init_dist
    from mmengine.registry import MODEL_WRAPPERS, init_default_scope
    from mmengine.runner.checkpoint import get_state_dict

    import point3d_mm  # noqa: F401  (the stack's patches: mmengine's launcher without CUDA)
    from point3d_mm.engine.runner_setup import prepare_launcher

    torch.set_num_threads(1)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.default_scope)  # as mmengine's Runner
    cfg.launcher = 'pytorch'
    prepare_launcher(cfg)
    init_dist(cfg.launcher, **cfg.env_cfg.dist_cfg)
    rank, world_size = get_dist_info()

    model, optim = build_model_and_optim(cfg, torch.load(args.init, weights_only=True))
    gradients = record_step_gradients(model, optim)  # names before wrapping: the plain ones
    wrapped = MODEL_WRAPPERS.build(cfg.model_wrapper_cfg, default_args=dict(module=model))
    with open(args.batch, 'rb') as f:
        batch = pickle.load(f)
    log_vars = wrapped.train_step(share(batch, rank, world_size), optim)
    torch.save(dict(gradients=gradients, state=get_state_dict(wrapped),
                    loss=log_vars['loss'].detach(), backend=torch.distributed.get_backend(),
                    wrapper=type(wrapped).__name__, world_size=world_size),
               osp.join(args.out, f'rank{rank}.pth'))
    torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1:])
