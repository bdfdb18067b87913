"""Hooks the reliability tests add to a run through ``custom_imports`` + ``custom_hooks``.

This folder is put on ``PYTHONPATH`` of the launched processes, so the hooks reach every rank
of a distributed run.
"""
import hashlib
import json
import os
import os.path as osp
import random

import numpy as np
import torch
from mmaction.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.runner.checkpoint import get_state_dict


@HOOKS.register_module()
class DumpRankState(Hook):
    """After training, every rank saves its (unwrapped) model weights as
    ``<work_dir>/state_rank<rank>.pth``; before testing, every rank records how many
    ``SyncBatchNorm`` layers the wrapped model has in ``<work_dir>/syncbn_rank<rank>.json``."""

    def after_train(self, runner) -> None:
        state = {k: v.detach().clone() for k, v in get_state_dict(runner.model).items()}
        torch.save(state, osp.join(runner.work_dir, f'state_rank{get_rank()}.pth'))

    def before_test(self, runner) -> None:
        modules = list(runner.model.modules())
        count = sum(isinstance(m, torch.nn.SyncBatchNorm) for m in modules)
        batchnorm = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in modules)
        with open(osp.join(runner.work_dir, f'syncbn_rank{get_rank()}.json'), 'w') as f:
            json.dump(dict(sync_bn=count, batch_norm=batchnorm,
                           world_size=int(os.environ.get('WORLD_SIZE', 1))), f)


@HOOKS.register_module()
class DumpValMetrics(Hook):
    """Write each validation's metrics to ``<work_dir>/val_metrics_epoch<N>.json``."""

    def after_val_epoch(self, runner, metrics=None) -> None:
        if get_rank() == 0 and metrics is not None:
            with open(osp.join(runner.work_dir, f'val_metrics_epoch{runner.epoch}.json'),
                      'w') as f:
                json.dump({k: float(v) for k, v in metrics.items()}, f)


def rng_digests() -> dict:
    """SHA-256 digests of this process's torch, numpy and python RNG states."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    states = dict(torch=torch.get_rng_state().numpy().tobytes(),
                  numpy=keys.tobytes() + repr((position, has_gauss, gauss)).encode(),
                  python=repr(random.getstate()).encode())
    return {name: hashlib.sha256(state).hexdigest() for name, state in states.items()}


@HOOKS.register_module()
class RecordTrainStream(Hook):
    """Record what drives each training iteration besides the weights, and write it to
    ``<work_dir>/train_stream_rank<rank>.json`` after training: per iteration the digest of
    the batch (the sampler's order and the augmentations' draws) and of the main process's
    RNG states (dropout draws from them), and the RNG states at the end."""

    def before_train(self, runner) -> None:
        self.iterations = []

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        batch = hashlib.sha256()
        for clip, sample in zip(data_batch['inputs'], data_batch['data_samples']):
            batch.update(clip.numpy().tobytes())
            meta = sample.metainfo
            batch.update(repr((meta.get('video'), meta.get('frame_ids'))).encode())
        self.iterations.append(dict(iter=runner.iter, epoch=runner.epoch,
                                    batch=batch.hexdigest(), rng=rng_digests()))

    def after_train(self, runner) -> None:
        with open(osp.join(runner.work_dir, f'train_stream_rank{get_rank()}.json'), 'w') as f:
            json.dump(dict(iterations=self.iterations, rng_after=rng_digests()), f, indent=1)
