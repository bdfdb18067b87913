"""Patches for known breakages of the pinned OpenMMLab stack (DESIGN.md §5).

Every patch here is applied once, by :func:`apply_all`, when ``point3d_mm`` is imported, and
each has a test in ``tests/test_compat.py`` that fails without it. This module imports nothing
of ours, so it can run before the first ``mmaction`` import.
"""
import os
import pickle
import re
import sys
import tempfile
import types
from typing import Any, List

import numpy as np
import torch

_APPLIED: List[str] = []


class CheckpointSecurityError(pickle.UnpicklingError):
    """A checkpoint needs globals outside the allow-list and was refused."""


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


def _allowed_checkpoint_globals() -> list:
    from mmengine.logging import HistoryBuffer
    dtype_classes = {type(np.dtype(name)) for name in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
        'float16', 'float32', 'float64', 'complex64', 'complex128', 'str', 'object')}
    return [
        HistoryBuffer,
        np._core.multiarray.scalar,
        np._core.multiarray._reconstruct,
        np.ndarray,
        np.dtype,
        *sorted(dtype_classes, key=lambda cls: cls.__name__),
    ]


class _WeightsOnlyTorch:
    """Proxy of the ``torch`` module whose ``load`` always uses ``weights_only=True``.

    Installed as the ``torch`` name of ``mmengine.runner.checkpoint`` so that every checkpoint
    mmengine reads (``load_from``, ``resume``, ``init_cfg`` Pretrained) goes through the
    restricted unpickler. Globals outside the allow-list are refused with their names, never
    by falling back to ``weights_only=False``.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs['weights_only'] = True
        try:
            return torch.load(f, *args, **kwargs)
        except pickle.UnpicklingError as error:
            names = sorted(set(re.findall(r'GLOBAL ([\w.]+)', str(error)))) or ['unknown']
            source = f if isinstance(f, (str, os.PathLike)) else 'checkpoint stream'
            raise CheckpointSecurityError(
                f'{source}: refused to load a checkpoint that needs globals outside the '
                f'allow-list: {", ".join(names)}. point3d_mm never unpickles arbitrary '
                'objects; re-save the checkpoint with only tensors and plain containers, or '
                'add the class to point3d_mm.utils.compat._allowed_checkpoint_globals if you '
                'trust it.') from None


def _history_buffer_getstate(self: Any) -> dict:
    # mmengine pickles the statistics methods as getattr(HistoryBuffer, 'min'); allowing
    # getattr would let a checkpoint reach any attribute of any allowed object. The methods are
    # re-registered on construction, so they need not be saved.
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def patch_checkpoint_weights_only() -> None:
    """Load mmengine checkpoints with ``weights_only=True`` and an explicit allow-list."""
    import mmengine.runner.checkpoint as checkpoint_module
    from mmengine.logging import HistoryBuffer
    torch.serialization.add_safe_globals(_allowed_checkpoint_globals())
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    checkpoint_module.torch = _WeightsOnlyTorch()
    _APPLIED.append('checkpoint_weights_only')


def atomic_write(data: bytes, filepath: str) -> None:
    """Write ``data`` to a temporary file beside ``filepath`` and rename it into place.

    A crash mid-write leaves at most a ``.tmp`` file, never a truncated file with the final
    name.
    """
    directory = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=os.path.basename(filepath) + '.',
                                    suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise


def patch_atomic_local_writes() -> None:
    """Make mmengine's local file writes atomic.

    Checkpoints (``save_checkpoint``), the ``last_checkpoint`` pointer, ``mmengine.dump`` and
    metric dumps all go through ``LocalBackend.put``/``put_text``, which open the final path and
    write in place.
    """
    from mmengine.fileio.backends.local_backend import LocalBackend

    def put(self: Any, obj: bytes, filepath: Any) -> None:
        atomic_write(obj, str(filepath))

    def put_text(self: Any, obj: str, filepath: Any, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), str(filepath))

    LocalBackend.put = put
    LocalBackend.put_text = put_text
    _APPLIED.append('atomic_local_writes')


def patch_cpu_distributed_init() -> None:
    """Let mmengine's pytorch launcher initialise on a CPU-only torch.

    mmengine 0.10.7's ``_init_dist_pytorch`` calls ``torch.cuda.set_device`` unconditionally;
    without CUDA we initialise the process group directly, with gloo in place of nccl.
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
    _APPLIED.append('cpu_distributed_init')


def apply_all() -> List[str]:
    """Apply every patch once; returns the names of the patches applied in this process."""
    if not _APPLIED:
        _APPLIED.append('started')
        patch_mmaction_missing_drn()
        patch_numpy_removed_aliases()
        patch_checkpoint_weights_only()
        patch_atomic_local_writes()
        patch_cpu_distributed_init()
    return [name for name in _APPLIED if name != 'started']
