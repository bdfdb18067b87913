"""Runner hooks of point3d_mm."""
import hashlib
import random
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
from mmaction.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..models.utils import to_channels_last


@HOOKS.register_module()
class CounterSeededRNGHook(Hook):
    """Seed the main process's RNGs (torch on every device, numpy, python) before every
    training epoch and iteration from (seed, rank, epoch or iteration) alone.

    A resumed run gets its weights, optimizers, schedulers and counters back, but no RNG state
    (mmengine's checkpoints hold none), and the state an uninterrupted run has reached depends
    on everything drawn before: each epoch's data loader draws its workers' base seed,
    validation draws, dropout draws every iteration. Seeded from the counters, every iteration
    draws the same numbers (the 3D Head's dropout masks) in a resumed run as in an
    uninterrupted one. ``tools/train.py`` adds it to deterministic runs.
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        self._seed(runner.seed, 'epoch', runner.epoch)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._seed(runner.seed, 'iter', runner.iter)

    @staticmethod
    def _seed(seed: int, counter: str, value: int) -> None:
        digest = hashlib.sha256(repr((seed, get_rank(), counter, value)).encode()).digest()
        derived = int.from_bytes(digest[:8], 'little')
        torch.manual_seed(derived)  # the CPU and every CUDA device
        np.random.seed(derived % 2**32)
        random.seed(derived)


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Train, validate and test with every convolution in the channels-last layout (NHWC,
    NDHWC): ``custom_hooks = [dict(type='ChannelsLastHook')]``.

    The same model and the same arithmetic in another memory layout, in which oneDNN's
    convolutions (forward and backward) can run faster on CPU. The layout is set before the
    first training iteration, once the optimizer is built and a checkpoint is loaded or
    resumed (both keep it: :func:`~point3d_mm.models.utils.to_channels_last`), and again
    before validation and testing. Checkpoints hold the same keys and values as without the
    hook and load into either layout.

    One process only in training: DistributedDataParallel lays out its gradient buckets when
    the Runner wraps the model, before any hook runs, so converting afterwards would permute
    the first step's gradients; the hook refuses such a run.

    Not bit-equal to NCHW training. In float64 the two layouts agree to rounding
    (tests/performance/test_speed_options.py), but in float32 PyTorch's (2.13) CPU kernels for
    channels-last tensors round differently: training-mode BatchNorm's backward alone about
    10x further from float64 than NCHW's, and on the tiny model the gradient at the stem's
    output 1e-2 to 6e-2 of its largest value away from float64 (NCHW: below 1e-5), most
    likely because the BatchNorms in a row compound it. Like bf16 autocast, a lever to adopt
    only on its measured accuracy. Inference outside the Runner:
    ``point3d_mm.apis.apply_speed_options(model, channels_last=True)``.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        if any(isinstance(module, torch.nn.parallel.DistributedDataParallel)
               for module in runner.model.modules()):
            raise RuntimeError(
                'ChannelsLastHook: the model is wrapped for distributed training, whose '
                'gradient buckets keep the layout the model had when it was wrapped; '
                'converting now would permute the first step\'s gradients. Train with one '
                'process, or without the hook.')
        self._convert(runner)

    def before_val(self, runner) -> None:
        self._convert(runner)

    def before_test(self, runner) -> None:
        self._convert(runner)

    @staticmethod
    def _convert(runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        to_channels_last(model)


@HOOKS.register_module()
class NumClassesCheckHook(Hook):
    """Refuse to run when the classifier's ``num_classes`` does not match the dataset's.

    Checked before training (train and val datasets), validation and testing, once the
    datasets are built and before any iteration. The model's count is
    ``model.cls_head.num_classes`` (Point3D) or ``model.roi_head.bbox_head.num_classes``
    (mmaction2's two-stage detectors); the dataset's is its ``num_classes`` attribute (AVA,
    which counts the background) or the length of its ``metainfo['classes']`` (ACT). Models
    or datasets without either are not checked. ``tools/train.py`` and ``tools/test.py`` add
    this hook to every run.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        self._check(runner, 'train_dataloader', runner.train_dataloader)
        val_loop = getattr(runner, '_val_loop', None)
        if val_loop is not None and not isinstance(val_loop, dict):
            self._check(runner, 'val_dataloader', val_loop.dataloader)

    def before_val(self, runner) -> None:
        self._check(runner, 'val_dataloader', runner.val_dataloader)

    def before_test(self, runner) -> None:
        self._check(runner, 'test_dataloader', runner.test_dataloader)

    @staticmethod
    def _model_classes(runner) -> Optional[Tuple[str, int]]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for key, path in (('model.cls_head.num_classes', ('cls_head',)),
                          ('model.roi_head.bbox_head.num_classes', ('roi_head', 'bbox_head'))):
            part = model
            for name in path:
                part = getattr(part, name, None)
                if is_model_wrapper(part):
                    part = part.module
            if part is not None and isinstance(getattr(part, 'num_classes', None), int):
                return key, part.num_classes
        return None

    def _check(self, runner, loader_name: str, loader) -> None:
        model_classes = self._model_classes(runner)
        if model_classes is None or loader is None:
            return
        key, num_classes = model_classes
        for dataset in _leaf_datasets(getattr(loader, 'dataset', None)):
            count, what = _dataset_classes(dataset)
            if count is not None and count != num_classes:
                source = getattr(dataset, 'ann_file', '') or type(dataset).__name__
                raise ValueError(
                    f'{key}={num_classes} does not match {loader_name}.dataset: {source} has '
                    f'{count} {what}; set {key}={count}')


def _leaf_datasets(dataset) -> Iterator:
    if dataset is None:
        return
    children = getattr(dataset, 'datasets', None)
    if isinstance(children, (list, tuple)):  # ConcatDataset
        for child in children:
            yield from _leaf_datasets(child)
    elif hasattr(dataset, 'dataset'):  # RepeatDataset, ClassBalancedDataset
        yield from _leaf_datasets(dataset.dataset)
    else:
        yield dataset


def _dataset_classes(dataset) -> Tuple[Optional[int], str]:
    count = getattr(dataset, 'num_classes', None)
    if isinstance(count, int):
        return count, 'classes (num_classes, with the background)'
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if classes:
        shown = ', '.join(map(str, list(classes)[:4])) + (', ...' if len(classes) > 4 else '')
        return len(classes), f'labels ({shown})'
    return None, ''
