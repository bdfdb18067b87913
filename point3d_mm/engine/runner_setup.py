"""Adjusting a config for the run ``tools/train.py`` and ``tools/test.py`` start: ``--amp``,
a launch without CUDA, bit-identical resumption, resuming past a damaged checkpoint and the
run's checks; and building their runner (:func:`runner_from_args`)."""
import argparse
import glob
import logging
import os
import os.path as osp
import re
from typing import Callable, List, Mapping, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from ..utils.checkpoint import CheckpointDamagedError, verify_checkpoint
from ..utils.config_checks import check_cfg_types, load_config


def apply_amp(cfg: Config) -> None:
    """Turn on mixed precision for ``--amp``.

    On CUDA every optimizer wrapper becomes mmengine's ``AmpOptimWrapper`` (fp16). mmengine's
    AMP wrapper asserts a GPU, so on CPU the model's own train step runs under bf16 autocast
    instead (``model.train_cfg.autocast_dtype``); models without such a step are refused.
    """
    wrapper = cfg.optim_wrapper
    if torch.cuda.is_available():
        subwrappers = [value for value in wrapper.values()
                       if isinstance(value, Mapping) and 'optimizer' in value]
        for sub in subwrappers or [wrapper]:
            sub['type'] = 'AmpOptimWrapper'
            sub.setdefault('loss_scale', 'dynamic')
        return
    model_type = str(cfg.model.get('type', ''))
    if model_type not in ('Point3D', 'mmaction.Point3D'):
        raise SystemExit(f'--amp on CPU is supported for Point3D models only (bf16 autocast in '
                         f'their train step); {model_type} would need mmengine\'s '
                         'AmpOptimWrapper, which requires CUDA.')
    cfg.model.train_cfg = {**(cfg.model.get('train_cfg') or {}), 'autocast_dtype': 'bfloat16'}


def prepare_launcher(cfg: Config, training: bool = True) -> None:
    """Make a distributed launch work without CUDA.

    On a CPU-only machine the process group uses gloo, and DDP must get ``device_ids=None``
    (mmengine's default wraps with ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU
    modules). ``sync_bn`` cannot work there (DDP refuses SyncBatchNorm on CPU modules):
    training refuses it with a clear message; testing drops it (BatchNorm in eval mode uses
    its running statistics, so SyncBatchNorm would compute the same).
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if cfg.get('sync_bn'):
        if training:
            raise SystemExit(f'sync_bn={cfg.sync_bn!r} needs CUDA: torch synchronises '
                             'SyncBatchNorm over GPU tensors only, and DDP refuses it for CPU '
                             'modules. Remove sync_bn for a CPU (gloo) run.')
        cfg.sync_bn = None
    env_cfg = cfg.get('env_cfg') or {}
    env_cfg['dist_cfg'] = {**(env_cfg.get('dist_cfg') or {}), 'backend': 'gloo'}
    cfg.env_cfg = env_cfg
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg


def prepare_deterministic_loader(cfg: Config) -> Optional[str]:
    """Make a deterministic run resumable bit for bit: ``randomness.deterministic=True``.

    Random augmentations draw from the RNGs of the process that runs the pipeline. mmengine
    seeds a dataloader worker from (seed, rank, worker id) when it starts, so with workers
    that restart every epoch (``persistent_workers=False``) each epoch's draws are the same
    in a resumed run as in an uninterrupted one; persistent workers instead continue one RNG
    stream across epochs, which a resumed run cannot restore, so they are turned off here.
    With ``num_workers=0`` the pipeline draws from the main process's RNGs, which nothing
    reseeds between epochs either; that is only reported (use ``num_workers >= 1``).

    Returns:
        The note that was logged, or None when nothing needed saying.
    """
    if not (cfg.get('randomness') or {}).get('deterministic'):
        return None
    loader = cfg.get('train_dataloader') or {}
    if loader.get('num_workers', 0) > 0 and loader.get('persistent_workers'):
        loader['persistent_workers'] = False
        note = ('deterministic: train_dataloader.persistent_workers set to False so that a '
                'resumed run draws the same augmentations as an uninterrupted one')
    elif loader and loader.get('num_workers', 0) == 0:
        note = ('deterministic: train_dataloader.num_workers=0 draws augmentations from the '
                'main process\'s RNGs, which continue across epochs; a resumed run will not be '
                'bit-identical to an uninterrupted one (use num_workers >= 1)')
    else:
        return None
    print(note, flush=True)
    return note


def add_counter_seeded_rng(cfg: Config) -> None:
    """In a deterministic run (``randomness.deterministic=True``), add
    :class:`point3d_mm.engine.CounterSeededRNGHook` to ``custom_hooks``: the main process's
    draws (dropout) then depend on the epoch and iteration only, so that a resumed run draws
    what an uninterrupted one does."""
    if not (cfg.get('randomness') or {}).get('deterministic'):
        return
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(h, Mapping) and h.get('type') == 'CounterSeededRNGHook'
               for h in hooks):
        hooks.append(dict(type='CounterSeededRNGHook'))
    cfg.custom_hooks = hooks


def add_run_checks(cfg: Config) -> None:
    """Add :class:`point3d_mm.engine.NumClassesCheckHook` to the run's ``custom_hooks``."""
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(h, Mapping) and h.get('type') == 'NumClassesCheckHook'
               for h in hooks):
        hooks.append(dict(type='NumClassesCheckHook'))
    cfg.custom_hooks = hooks


def runner_from_args(args: argparse.Namespace,
                     merge_args: Callable[[Config, argparse.Namespace], Config]) -> Runner:
    """The runner of ``tools/train.py`` and ``tools/test.py``: ``args.config`` with
    ``args.cfg_options`` (:func:`~point3d_mm.utils.config_checks.load_config`), the tool's
    own arguments merged by ``merge_args``, checked before anything is built (an unknown
    ``type`` fails naming its key: :func:`~point3d_mm.utils.config_checks.check_cfg_types`;
    the model's num_classes against the datasets' classes: :func:`add_run_checks`), then
    mmengine's ``Runner.from_cfg``."""
    cfg = merge_args(load_config(args.config, args.cfg_options), args)
    check_cfg_types(cfg)
    add_run_checks(cfg)
    return Runner.from_cfg(cfg)


def resume_fallback(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` (auto) should continue from when the one the work dir's
    ``last_checkpoint`` names is damaged: the newest intact ``epoch_*.pth``/``iter_*.pth``
    of the work dir, with a warning naming both.

    Returns:
        That checkpoint, or None when the named one is intact or there is no
        ``last_checkpoint`` (mmengine's own auto-resume then does as usual).

    Raises:
        CheckpointDamagedError: the named checkpoint is damaged and no other is intact.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        latest = f.read().strip()
    damage = _checkpoint_damage(latest)
    if damage is None:
        return None
    others = [path for path in _numbered_checkpoints(work_dir)
              if osp.abspath(path) != osp.abspath(latest)]
    for candidate in others:
        if _checkpoint_damage(candidate) is None:
            print_log(f'--resume: {latest} (named by {pointer}) cannot be used: {damage}; '
                      f'resuming from {candidate}, the newest intact checkpoint, instead',
                      logger='current', level=logging.WARNING)
            return candidate
    raise CheckpointDamagedError(f'--resume: {damage}, and no other epoch_*.pth / iter_*.pth '
                                 f'of {work_dir} is intact; train without --resume to start '
                                 'afresh')


def _checkpoint_damage(path: str) -> Optional[str]:
    """Why a checkpoint cannot be resumed from (missing or damaged), or None when intact."""
    try:
        verify_checkpoint(path)
    except (FileNotFoundError, CheckpointDamagedError) as error:
        return str(error)
    return None


def _numbered_checkpoints(work_dir: str) -> List[str]:
    """The work dir's ``epoch_<n>.pth`` and ``iter_<n>.pth``, newest (highest n) first."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        match = re.fullmatch(r'(?:epoch|iter)_(\d+)\.pth', osp.basename(path))
        if match:
            found.append((int(match.group(1)), os.path.getmtime(path), path))
    return [path for _, _, path in sorted(found, reverse=True)]
