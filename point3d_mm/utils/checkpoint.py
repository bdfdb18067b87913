"""Checkpoint files: integrity and safe loading, the one home of both.

Integrity, at two levels:

* the file: a checkpoint written through mmengine's file backend gets a ``<file>.sha256``
  sidecar (sha256sum format, :func:`write_checkpoint`), checked before it is loaded; without
  a sidecar a zip-format checkpoint is checked for a readable structure when torch fails on
  it (:func:`verify_checkpoint`);
* the weights: every checkpoint saved through mmengine's ``save_checkpoint`` carries the
  SHA-256 of its ``state_dict`` in its own ``meta`` (:data:`DIGEST_KEY`,
  :func:`with_state_dict_digest`), checked when it is loaded (:func:`load_checkpoint_file`).
  It travels with the file, so a checkpoint copied alone (no sidecar beside it) whose tensor
  bytes changed is refused too. A checkpoint without it (weights from elsewhere, or saved
  before it existed) loads unchecked, as torch would load it.

Loading is ``torch.load(weights_only=True)`` with an explicit allow-list
(:func:`allowed_checkpoint_globals`): a checkpoint that needs other globals is refused with
:class:`CheckpointSecurityError` naming them, never by falling back to ``weights_only=False``.
``compat.patch_checkpoint_weights_only`` routes mmengine's checkpoint reads and writes here.
"""
import errno
import hashlib
import os
import pickle
import re
import zipfile
from typing import Any, Mapping, Optional

import numpy as np
import torch

from .fileio import atomic_open, atomic_write

#: Files that mmengine's backend writes as checkpoints; each gets a ``<file>.sha256`` sidecar.
CHECKPOINT_SUFFIXES = ('.pth', '.pt')
#: The ``meta`` key holding the SHA-256 of the checkpoint's ``state_dict``
#: (:func:`state_dict_digest`).
DIGEST_KEY = 'state_dict_sha256'


class CheckpointSecurityError(pickle.UnpicklingError):
    """A checkpoint needs globals outside the allow-list and was refused."""


class CheckpointDamagedError(ValueError):
    """A checkpoint file is damaged (truncated or altered): its content differs from its
    ``.sha256`` sidecar or its weights from the digest in its ``meta``, or torch's reader
    fails on it; the message names the file."""


def file_sha256(path: Any) -> str:
    """The SHA-256 (hex) of a file's bytes, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 22), b''):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(checkpoint: Any) -> str:
    """The ``<checkpoint>.sha256`` file holding the checkpoint's SHA-256 (sha256sum format)."""
    return os.fspath(checkpoint) + '.sha256'


def write_checkpoint(data: bytes, filepath: str) -> None:
    """Write a checkpoint atomically, then its sidecar.

    The old sidecar (of a checkpoint being overwritten) goes once the new bytes are written and
    before the rename: an interruption can leave a checkpoint without sidecar (loaded
    unchecked) but never one with another checkpoint's hash, and a full disk leaves both old
    files as they were.
    """
    sidecar = sidecar_path(filepath)
    with atomic_open(filepath) as f:
        f.write(data)
        f.flush()
        if os.path.exists(sidecar):
            os.unlink(sidecar)
    line = f'{hashlib.sha256(data).hexdigest()}  {os.path.basename(filepath)}\n'
    atomic_write(line.encode(), sidecar)


def remove_sidecar(filepath: Any) -> None:
    """Remove the sidecar of a checkpoint that was removed (if it has one)."""
    sidecar = sidecar_path(filepath)
    if str(filepath).endswith(CHECKPOINT_SUFFIXES) and os.path.isfile(sidecar):
        os.unlink(sidecar)


def verify_checkpoint(path: Any) -> None:
    """Check a checkpoint file against its sidecar or, without one, its zip structure.

    Reads the whole file. A checkpoint without sidecar that is not a zip archive (torch's
    legacy format) is not checked. The weights' digest is checked when the file is loaded.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointDamagedError: the file is damaged (truncated or altered).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    problem = (_sidecar_problem(path) if os.path.isfile(sidecar_path(path))
               else _zip_problem(path))
    if problem:
        raise _damaged(path, problem)


def _damaged(path: str, problem: str) -> CheckpointDamagedError:
    return CheckpointDamagedError(
        f'{path}: the checkpoint is damaged ({problem}); it was truncated or altered after it '
        'was saved. Use an intact checkpoint (tools/train.py --resume falls back to the newest '
        'intact one of the work dir)')


def _sidecar_problem(path: str) -> Optional[str]:
    """Why ``path`` does not match its sidecar, or None when it does."""
    sidecar = sidecar_path(path)
    with open(sidecar, 'rb') as f:
        expected = f.read(64).decode('ascii', 'replace').lower()
    if file_sha256(path) != expected:
        return (f'hash mismatch: its SHA-256 differs from the one in {sidecar}, '
                f'{os.path.getsize(path)} bytes now')
    return None


def _zip_problem(path: str) -> Optional[str]:
    """Why a zip-format checkpoint (torch >= 1.6) is unreadable, or None when its structure
    and every member's CRC are intact (or it is not a zip archive)."""
    with open(path, 'rb') as f:
        if f.read(4) != b'PK\x03\x04':
            return None
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except Exception as error:  # noqa: BLE001  (any failure to read the archive is damage:
        # BadZipFile, NotImplementedError for a flipped compression method, EOFError, ...)
        return f'not a readable zip archive: {type(error).__name__}: {error}'
    return f'member {bad} fails its CRC check' if bad else None


# --- the weights' digest, in the checkpoint's meta -----------------------------------------

def state_dict_digest(state_dict: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of a state dict: every key in order, and of each value its dtype,
    shape and bytes (tensors and arrays, wherever they live) or its ``repr`` (numbers,
    strings, None; other objects count by type name only, their ``repr`` being unstable).

    Two state dicts with equal keys, dtypes, shapes and bits give the same digest; any flipped
    bit in a tensor changes it. Costs one pass over the weights at the speed of SHA-256.
    """
    digest = hashlib.sha256()
    for key, value in state_dict.items():
        digest.update(f'{key}\0'.encode())
        if isinstance(value, torch.Tensor):
            tensor = value.detach()
            digest.update(f'{tensor.dtype}{tuple(tensor.shape)}\0'.encode())
            if tensor.numel():
                # Viewing the bytes as uint8 avoids a copy, and covers dtypes that numpy lacks
                # (bfloat16).
                flat = tensor.reshape(-1).cpu().contiguous()
                digest.update(flat.view(torch.uint8).numpy())
        elif isinstance(value, np.ndarray):
            digest.update(f'{value.dtype}{value.shape}\0'.encode())
            digest.update(np.ascontiguousarray(value).view(np.uint8))
        elif value is None or isinstance(value, (bool, int, float, str, bytes)):
            digest.update(f'{type(value).__name__}:{value!r}\0'.encode())
        else:
            digest.update(f'{type(value).__name__}\0'.encode())
    return digest.hexdigest()


def with_state_dict_digest(checkpoint: Any) -> Any:
    """``checkpoint`` (a dict with a ``state_dict``) with the state dict's digest added to its
    ``meta`` as :data:`DIGEST_KEY`; a new dict (the caller's is not changed). Anything else,
    or a checkpoint whose ``meta`` is not a dict, is returned as it is."""
    if not (isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), Mapping)
            and isinstance(checkpoint.get('meta', {}), dict)):
        return checkpoint
    meta = dict(checkpoint.get('meta') or {})
    meta[DIGEST_KEY] = state_dict_digest(checkpoint['state_dict'])
    return {**checkpoint, 'meta': meta}


def check_state_dict_digest(checkpoint: Any, source: str) -> None:
    """Check a loaded checkpoint's weights against the digest its ``meta`` carries; a
    checkpoint without one passes.

    Raises:
        CheckpointDamagedError: the weights differ from the digest (naming ``source``).
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not (isinstance(meta, dict) and DIGEST_KEY in meta
            and isinstance(checkpoint.get('state_dict'), Mapping)):
        return
    if state_dict_digest(checkpoint['state_dict']) != meta[DIGEST_KEY]:
        raise _damaged(source, f"its state_dict differs from the SHA-256 in its meta "
                       f"['{DIGEST_KEY}'], recorded when it was saved")


# --- reading and writing through torch -----------------------------------------------------

def allowed_checkpoint_globals() -> list:
    """The globals beyond torch's own that a checkpoint of mmengine's Runner needs: its
    ``message_hub``'s ``HistoryBuffer`` and the numpy scalars and arrays of its ``meta``."""
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


def save_checkpoint_file(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    """``torch.save`` of a checkpoint with its state dict's digest in its ``meta``
    (:func:`with_state_dict_digest`)."""
    torch.save(with_state_dict_digest(obj), f, *args, **kwargs)


def load_checkpoint_file(f: Any, *args: Any, **kwargs: Any) -> Any:
    """``torch.load`` with ``weights_only=True``, checked: a file with a sidecar is verified
    first, the loaded weights against the digest in their ``meta``.

    Raises:
        CheckpointDamagedError: the file differs from its sidecar, torch's reader fails on it
            (truncated, bytes flipped), or its weights differ from their digest.
        CheckpointSecurityError: the checkpoint needs globals outside the allow-list.
    """
    kwargs['weights_only'] = True
    is_path = isinstance(f, (str, os.PathLike))
    source = os.fspath(f) if is_path else 'checkpoint stream'
    if is_path and os.path.isfile(sidecar_path(f)):
        verify_checkpoint(f)
    try:
        checkpoint = torch.load(f, *args, **kwargs)
    except Exception as error:
        problem = _zip_problem(source) if is_path and os.path.isfile(source) else None
        if problem is None and _is_refusal(error):
            raise _refused(source, error) from None
        if problem is None and _is_read_failure(error):
            problem = f'{type(error).__name__}: {str(error).splitlines()[0][:200]}'
        if problem is None:
            raise
        raise _damaged(source, problem) from None
    check_state_dict_digest(checkpoint, source)
    return checkpoint


def _is_refusal(error: BaseException) -> bool:
    """Whether torch's weights-only unpickler refused a global (not a damaged pickle)."""
    return isinstance(error, pickle.UnpicklingError) and bool(
        re.search(r'GLOBAL |allowlisted|reduce for unrecognized function', str(error)))


def _is_read_failure(error: BaseException) -> bool:
    """Whether torch failed reading the file's bytes: its zip reader, a truncated stream
    (``OSError: [Errno 22]`` from its file reader, EOFError) or a pickle that is not one."""
    if isinstance(error, OSError):
        return error.errno == errno.EINVAL
    if isinstance(error, RuntimeError):
        return bool(re.search(r'PytorchStreamReader|inline_container|hasRecord|record size',
                              str(error)))
    return isinstance(error, (EOFError, pickle.UnpicklingError, UnicodeDecodeError))


def _refused(source: str, error: BaseException) -> CheckpointSecurityError:
    names = sorted(set(re.findall(r'GLOBAL ([\w.]+)', str(error)))) or ['unknown']
    return CheckpointSecurityError(
        f'{source}: refused to load a checkpoint that needs globals outside the '
        f'allow-list: {", ".join(names)}. point3d_mm never unpickles arbitrary '
        'objects; re-save the checkpoint with only tensors and plain containers, or '
        'add the class to point3d_mm.utils.checkpoint.allowed_checkpoint_globals if you '
        'trust it.')
