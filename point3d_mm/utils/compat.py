"""Patches for known breakages of the pinned OpenMMLab stack (requirements/constraints.txt).

Every patch here is applied once, by :func:`apply_all`, when ``point3d_mm`` is imported, and
each has a test in ``tests/test_compat.py`` (mmaction2's own components:
``tests/test_upstream_compat.py``) that fails without it. This module imports nothing of ours
but the checkpoint and file helpers, so it can run before the first ``mmaction`` import.
"""
import builtins
import importlib.abc
import os
import sys
import types
import warnings
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

from .checkpoint import (
    CHECKPOINT_SUFFIXES,
    allowed_checkpoint_globals,
    load_checkpoint_file,
    remove_sidecar,
    save_checkpoint_file,
    write_checkpoint,
)
from .fileio import atomic_open, atomic_write

_APPLIED: List[str] = []


def patch_mmaction_missing_drn() -> None:
    """Stand in for ``mmaction.models.localizers.drn``, missing from mmaction2 1.2.0's wheel.

    ``mmaction/models/localizers/__init__.py`` does ``from .drn.drn import DRN``; without the
    folder ``import mmaction.models`` fails. The stand-in raises only if DRN is actually used.
    """
    if 'mmaction.models.localizers.drn.drn' in sys.modules:
        return
    try:
        import mmaction
    except ImportError:
        return
    drn_dir = os.path.join(os.path.dirname(mmaction.__file__), 'models', 'localizers', 'drn')
    if os.path.isdir(drn_dir):
        return

    class DRN:  # noqa: D401 - stand-in
        """Stand-in for mmaction2's DRN localizer, which its 1.2.0 release does not ship."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError('mmaction2 1.2.0 ships without mmaction/models/localizers/drn; '
                              'DRN is unavailable with the pinned stack')

    package = types.ModuleType('mmaction.models.localizers.drn')
    package.__path__ = []
    package.DRN = DRN
    module = types.ModuleType('mmaction.models.localizers.drn.drn')
    module.DRN = DRN
    package.drn = module
    sys.modules[package.__name__] = package
    sys.modules[module.__name__] = module
    _APPLIED.append('mmaction_missing_drn')


def patch_numpy_removed_aliases() -> None:
    """mmaction2 1.2.0 uses ``np.Inf`` (pose transforms) and ``np.NAN`` (AVA evaluation's
    ``compute_average_precision``), both removed in numpy 2; alias them again."""
    for alias, value in (('Inf', np.inf), ('NAN', np.nan)):
        if not hasattr(np, alias):
            setattr(np, alias, value)
            _APPLIED.append(f'numpy_{alias}_alias')


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a module right after its first import (``import point3d_mm`` does not import
    mmaction.datasets, about 1 s, so its patch waits for the user's import)."""

    def __init__(self) -> None:
        self.pending: Dict[str, Callable[[types.ModuleType], None]] = {}

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.pending:
            return None
        for finder in sys.meta_path:
            spec = (None if finder is self or not hasattr(finder, 'find_spec')
                    else finder.find_spec(name, path, target))
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        patch, exec_module = self.pending.pop(name), spec.loader.exec_module

        def exec_and_patch(module: types.ModuleType) -> None:
            exec_module(module)
            patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


_PATCH_ON_IMPORT = _PatchOnImport()


def _when_imported(name: str, patch: Callable[[types.ModuleType], None]) -> None:
    """Apply ``patch`` to the module ``name`` now if it is imported, else after its import."""
    if name in sys.modules:
        patch(sys.modules[name])
        return
    _PATCH_ON_IMPORT.pending[name] = patch
    if _PATCH_ON_IMPORT not in sys.meta_path:
        sys.meta_path.insert(0, _PATCH_ON_IMPORT)


class _NumpyWith(types.ModuleType):
    """numpy plus functions the pinned numpy removed, as one upstream module's ``np`` (so no
    other library sees the removed names again)."""

    def __init__(self, **functions: Callable) -> None:
        super().__init__(np.__name__, np.__doc__)
        self.__dict__.update(functions)

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _numpy1_int(value: Any, *args: Any) -> int:
    """``int`` as numpy 1 allowed it: also of a one-element array with dimensions."""
    if isinstance(value, np.ndarray) and value.size == 1 and not args:
        value = value.item()
    return int(value, *args)


def _in1d(ar1: Any, ar2: Any, assume_unique: bool = False, invert: bool = False,
          *, kind: Optional[str] = None) -> np.ndarray:
    """numpy < 2.4's ``in1d``: ``isin`` of the flattened first argument."""
    return np.isin(np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert, kind=kind)


def _adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """mmaction2 1.2.0's ``ColorJitter.adjust_hue`` (datasets/transforms/processing.py:975)
    with numpy 1's arithmetic at line 979: a negative offset added to the uint8 hue channel
    was promoted to int16 there, where numpy 2 raises OverflowError. A positive offset stays
    uint8 arithmetic, as before (results equal numpy 1's for every factor)."""
    import cv2
    img = np.clip(img, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    offset = int(factor * 255)
    hue = hsv[..., 0].astype(np.int16) if offset < 0 else hsv[..., 0]
    hsv[..., 0] = (hue + offset) % 180
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)


def patch_mmaction_numpy2() -> None:
    """Fix the mmaction2 1.2.0 components that numpy 2 (pinned: 2.4) breaks, each in its own
    module (tests/test_upstream_compat.py; tools/check_upstream.sh runs mmaction2's suite):

    * ``datasets/transforms/processing.py:979`` ``ColorJitter``: :func:`_adjust_hue`.
    * ``evaluation/functional/multisports_utils.py:67-70`` ``iou3dt_voc`` (MultiSports video AP)
      calls ``int()`` on one-element arrays, refused since numpy 2.3: the module's ``int`` is
      numpy 1's. (Its ``get_vid_dets`` reading ``frm_det[3]`` at line 182 is a bug of
      mmaction2 under any numpy, not patched: ``benchmark_eval.py`` times a fixed copy of
      ``link_tubes``, ``point3d_mm.analysis.evaluation_speed.mmaction2_reference``.)
    * ``evaluation/functional/accuracy.py:428`` ``average_recall_at_avg_proposals`` (AR@AN):
      ``np.trapz``, removed in numpy 2.4 (renamed ``np.trapezoid`` in 2.0).
    * ``evaluation/metrics/multimodal_metric.py:514`` ``RetrievalRecall``: ``np.in1d``, removed
      in numpy 2.4.
    """
    def color_jitter(module: types.ModuleType) -> None:
        module.ColorJitter.adjust_hue = staticmethod(_adjust_hue)

    def module_global(name: str, value: Any) -> Callable[[types.ModuleType], None]:
        return lambda module: setattr(module, name, value)

    _when_imported('mmaction.datasets.transforms.processing', color_jitter)
    _when_imported('mmaction.evaluation.functional.multisports_utils',
                   module_global('int', _numpy1_int))
    if not hasattr(np, 'trapz'):
        _when_imported('mmaction.evaluation.functional.accuracy',
                       module_global('np', _NumpyWith(trapz=np.trapezoid)))
    if not hasattr(np, 'in1d'):
        _when_imported('mmaction.evaluation.metrics.multimodal_metric',
                       module_global('np', _NumpyWith(in1d=_in1d)))
    _APPLIED.append('mmaction_numpy2')


class _WeightsOnlyTorch:
    """Proxy of the ``torch`` module whose ``load`` and ``save`` are the checked ones of
    :mod:`point3d_mm.utils.checkpoint`.

    Installed as the ``torch`` name of ``mmengine.runner.checkpoint`` so that every checkpoint
    mmengine reads (``load_from``, ``resume``, ``init_cfg`` Pretrained) goes through the
    restricted unpickler and the integrity checks, and every checkpoint it saves carries its
    weights' digest.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    load = staticmethod(load_checkpoint_file)
    save = staticmethod(save_checkpoint_file)


def _history_buffer_getstate(self: Any) -> dict:
    # mmengine pickles the statistics methods as getattr(HistoryBuffer, 'min'); allowing
    # getattr would let a checkpoint reach any attribute of any allowed object. The methods are
    # re-registered on construction, so they need not be saved.
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def patch_checkpoint_weights_only() -> None:
    """Load mmengine checkpoints with ``weights_only=True`` and an explicit allow-list, checked
    against their sidecar and their weights' digest; save them with that digest (see
    :mod:`point3d_mm.utils.checkpoint`)."""
    import mmengine.runner.checkpoint as checkpoint_module
    from mmengine.logging import HistoryBuffer
    torch.serialization.add_safe_globals(allowed_checkpoint_globals())
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    checkpoint_module.torch = _WeightsOnlyTorch()
    _APPLIED.append('checkpoint_weights_only')


def _open_writing_atomically(file: Any, mode: str = 'r', *args: Any, **kwargs: Any) -> Any:
    """``open`` for a module whose writes are whole small files (``last_checkpoint``)."""
    if 'w' in mode and '+' not in mode and not args:
        return atomic_open(file, mode, **kwargs)
    return builtins.open(file, mode, *args, **kwargs)


def patch_atomic_local_writes() -> None:
    """Make mmengine's local file writes atomic, and give checkpoints a hash sidecar.

    Checkpoints (``save_checkpoint``), ``mmengine.dump`` and metric dumps (``DumpResults``,
    ``tools/test.py --out-metrics``) go through ``LocalBackend.put``/``put_text``, which open
    the final path and write in place. ``CheckpointHook`` writes the ``last_checkpoint``
    pointer with a plain ``open(path, 'w')``: the module's ``open`` writes atomically too.
    A checkpoint (``checkpoint.CHECKPOINT_SUFFIXES``) is followed by its ``<file>.sha256``
    (``checkpoint.write_checkpoint``), checked when it is loaded, and removed with it.
    """
    import mmengine.hooks.checkpoint_hook as checkpoint_hook
    from mmengine.fileio.backends.local_backend import LocalBackend

    def put(self: Any, obj: bytes, filepath: Any) -> None:
        if str(filepath).endswith(CHECKPOINT_SUFFIXES):
            write_checkpoint(obj, str(filepath))
        else:
            atomic_write(obj, str(filepath))

    def put_text(self: Any, obj: str, filepath: Any, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), str(filepath))

    original_remove = LocalBackend.remove

    def remove(self: Any, filepath: Any) -> None:
        # CheckpointHook removes old and superseded best checkpoints through the backend
        original_remove(self, filepath)
        remove_sidecar(filepath)

    LocalBackend.put = put
    LocalBackend.put_text = put_text
    LocalBackend.remove = remove
    checkpoint_hook.open = _open_writing_atomically
    _APPLIED.append('atomic_local_writes')


def patch_cpu_distributed_init() -> None:
    """Let mmengine's pytorch and slurm launchers initialise on a CPU-only torch.

    mmengine 0.10.7's ``_init_dist_pytorch`` and ``_init_dist_slurm`` call
    ``torch.cuda.set_device`` unconditionally; without CUDA we initialise the process group
    directly (pytorch) or skip the call (slurm), with gloo in place of nccl.
    """
    import mmengine.dist.utils as dist_utils
    original = dist_utils._init_dist_pytorch

    def init_dist_pytorch(backend: str, init_backend: str = 'torch', **kwargs: Any) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            backend = 'gloo'
        torch.distributed.init_process_group(backend=backend, **kwargs)

    dist_utils._init_dist_pytorch = init_dist_pytorch

    # The slurm launcher (tools/slurm_train.sh, mim --launcher slurm) calls
    # torch.cuda.set_device(local_rank) unconditionally too.
    original_slurm = dist_utils._init_dist_slurm

    def init_dist_slurm(backend: str, *args: Any, **kwargs: Any) -> None:
        if torch.cuda.is_available():
            return original_slurm(backend, *args, **kwargs)
        set_device = torch.cuda.set_device
        torch.cuda.set_device = lambda device: None
        try:
            return original_slurm('gloo' if backend == 'nccl' else backend, *args, **kwargs)
        finally:
            torch.cuda.set_device = set_device

    dist_utils._init_dist_slurm = init_dist_slurm
    _APPLIED.append('cpu_distributed_init')


def _unwrap_part_keys(parts: List[str]) -> Any:
    """A state-dict hook renaming ``<prefix><part>.module.<rest>`` to ``<prefix><part>.<rest>``
    for the wrapped ``parts``, in place and in order (metadata too)."""

    def hook(module: Any, state_dict: Any, prefix: str, local_metadata: Any) -> None:
        renames = tuple((f'{prefix}{part}.module.', f'{prefix}{part}.') for part in parts)
        renames += tuple((f'{prefix}{part}.module', f'{prefix}{part}') for part in parts)

        def rename(key: str) -> str:
            for old, new in renames:
                if key.startswith(old) and (len(key) == len(old) or old.endswith('.')):
                    return new + key[len(old):]
            return key

        items = [(rename(key), value) for key, value in state_dict.items()]
        state_dict.clear()
        state_dict.update(items)
        metadata = getattr(state_dict, '_metadata', None)
        if metadata is not None:
            entries = [(rename(key), value) for key, value in metadata.items()]
            metadata.clear()
            metadata.update(entries)

    return hook


def patch_separate_ddp_checkpoint_keys() -> None:
    """Save plain keys from models wrapped by ``MMSeparateDistributedDataParallel``.

    mmengine 0.10.7's ``Runner.save_checkpoint`` saves ``runner.model.module.state_dict()``;
    under ``MMSeparateDistributedDataParallel`` (our two-optimizer models) every part of that
    module is itself a DDP wrapper, so the keys read ``backbone.module.stem...``. Loading such
    a checkpoint into an unwrapped model (``tools/test.py``, the demo, a resume with another
    number of processes) misses every weight with only a warning (mmengine loads with
    ``strict=False``) and evaluates a randomly initialised model. A state-dict hook on the
    wrapped module drops the wrappers' ``module.`` from its keys, which is what mmengine's own
    loader (which unwraps wrappers while loading) expects.
    """
    from mmengine.model import is_model_wrapper
    from mmengine.model.wrappers import MMSeparateDistributedDataParallel
    original_init = MMSeparateDistributedDataParallel.__init__

    def __init__(self: Any, module: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, module, *args, **kwargs)
        parts = [name for name, child in self.module._modules.items()
                 if child is not None and is_model_wrapper(child)]
        if parts:
            self.module.register_state_dict_post_hook(_unwrap_part_keys(parts))

    MMSeparateDistributedDataParallel.__init__ = __init__
    _APPLIED.append('separate_ddp_checkpoint_keys')


def silence_pkg_resources_warnings() -> None:
    """mmengine's ``is_installed``/``get_installed_path`` (a config's ``mmaction::`` base, the
    hub) import and reload ``pkg_resources``, which setuptools >= 67 deprecates with a
    UserWarning printed by every command; nothing of ours can act on it."""
    warnings.filterwarnings('ignore', message=r'pkg_resources is deprecated as an API',
                            category=UserWarning)
    warnings.filterwarnings('ignore', message=r'Deprecated call to `pkg_resources',
                            category=DeprecationWarning)


def apply_all() -> List[str]:
    """Apply every patch once; returns the names of the patches applied in this process."""
    silence_pkg_resources_warnings()
    if not _APPLIED:
        _APPLIED.append('started')
        patch_mmaction_missing_drn()
        patch_numpy_removed_aliases()
        patch_mmaction_numpy2()
        patch_checkpoint_weights_only()
        patch_atomic_local_writes()
        patch_cpu_distributed_init()
        patch_separate_ddp_checkpoint_keys()
    return [name for name in _APPLIED if name != 'started']
