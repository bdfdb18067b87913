"""Writing files and folders atomically: the one writer of every file point3d_mm produces.

A file appears under its final name only once it is complete (written to a temporary file
beside it, synced, then renamed), with the permissions ``open()`` would give it. A crash
leaves the previous file untouched and at most a ``.tmp`` file; a failed write leaves the
previous file untouched and no ``.tmp`` file, and one that ran out of room (a full disk, a
file-size limit) is raised as an ``OSError`` saying ``could not write <file>: ...``.
A folder (:func:`atomic_folder`) is filled beside its final name and swapped into place alike.
Temporary names are ``<name>.<8 random characters>.tmp[<suffix>]`` (:data:`TEMPORARY_NAME`).
Imports only the standard library and numpy, so the pure-numpy layers can use it.
"""
import contextlib
import errno
import glob
import json
import math
import os
import re
import shutil
import tempfile
from typing import IO, Any, Iterator

#: The names of the temporary files and folders of the atomic writes (``tempfile``'s random
#: part is 8 characters): what a killed write can leave, never read, safe to delete.
TEMPORARY_NAME = re.compile(r'.+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?')

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(filepath: Any, mode: str = 'wb', **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``filepath`` for writing; rename it into place on success.

    Args:
        filepath: The final file; its folder is created if missing.
        mode: A write mode (``'wb'``, ``'w'``).
        **kwargs: Passed to :func:`os.fdopen` (``encoding``, ``newline``).

    Raises:
        OSError: ``could not write <filepath>: <reason> (disk full or file too large?)`` when
            the disk, a quota or the process's file-size limit is exhausted.
    """
    with atomic_path(filepath) as tmp_path:
        with open(tmp_path, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


#: errno values of a write that ran out of room: a full disk or quota, or a file-size limit.
_NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _raise_write_error(error: BaseException, filepath: str) -> None:
    """Re-raise a write that ran out of room as one OSError naming the final file (the
    original names the temporary file or nothing, deep inside a library's writer)."""
    if isinstance(error, OSError) and error.errno in _NO_ROOM:
        raise OSError(error.errno, f'could not write {filepath}: {error.strerror} '
                      '(disk full or file too large?)') from None


@contextlib.contextmanager
def atomic_path(filepath: Any, suffix: str = '') -> Iterator[str]:
    """A temporary path beside ``filepath`` for writers that want a file name (a video
    encoder, ``savefig``); moved into place with the usual permissions on success.

    Args:
        filepath: The final file; its folder is created if missing.
        suffix: Suffix of the temporary name (encoders pick the container by it).
    """
    filepath = os.path.abspath(os.fspath(filepath))
    directory = os.path.dirname(filepath)
    os.makedirs(directory, exist_ok=True)
    # <name>.<random>.tmp, or <name>.<random>.tmp<suffix>: a crash leaves at most such a file.
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=os.path.basename(filepath) + '.',
                                    suffix='.tmp' + suffix)
    os.close(fd)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, filepath)
    except BaseException as error:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        _raise_write_error(error, filepath)
        raise


def atomic_write(data: bytes, filepath: Any) -> None:
    """Write ``data`` to ``filepath`` atomically."""
    with atomic_open(filepath, 'wb') as f:
        f.write(data)


@contextlib.contextmanager
def atomic_folder(folder: Any) -> Iterator[str]:
    """A new empty folder beside ``folder`` to fill; when the block ends without error it
    replaces ``folder`` (and all it held), with the permissions ``os.makedirs`` would give it.

    An error removes the temporary folder and leaves ``folder`` as it was. A crash leaves at
    most ``<name>.<random>.tmp`` folders beside it, which the next ``atomic_folder`` of the
    same folder removes (so two writers of one folder at once must be kept apart by the
    caller). Replacing an existing folder takes two renames (POSIX has no atomic exchange of
    folders): killed between them, ``folder`` is absent, never partial. A symlink is
    followed: the folder it points to is the one replaced.

    Args:
        folder: The final folder; its parent is created if missing.

    Yields:
        The temporary folder's path.
    """
    target = os.path.realpath(os.fspath(folder))
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    own = re.compile(re.escape(name) + r'\.[A-Za-z0-9_]{8}\.tmp')
    for stale in glob.glob(os.path.join(glob.escape(parent), glob.escape(name) + '.*.tmp')):
        if own.fullmatch(os.path.basename(stale)) and os.path.isdir(stale):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=name + '.', suffix='.tmp')
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 -> what os.makedirs gives
        if os.path.lexists(target):
            old = tempfile.mkdtemp(dir=parent, prefix=name + '.', suffix='.tmp')
            os.replace(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_write_error(error, target)
        raise


def remove_leftovers(folder: Any) -> None:
    """Remove the temporary files of atomic writes that were killed, directly in ``folder``
    (the caller makes sure that no write into it is under way)."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if TEMPORARY_NAME.fullmatch(name) and os.path.isfile(path):
                os.unlink(path)


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python numbers and lists, nan/inf as None
    (JSON has no nan)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dump_json(data: Any, filepath: Any, indent: int = 1) -> None:
    """Write ``data`` as JSON atomically (numpy values converted, nan as null).

    Lists of numbers are written on one line each, so a box or a tube's frames stay readable.
    """
    text = json.dumps(json_safe(data), indent=indent)
    if indent:
        text = _inline_number_lists(text)
    atomic_write((text + '\n').encode('utf-8'), filepath)


def _inline_number_lists(text: str) -> str:
    """Re-join the innermost lists of numbers that ``json.dumps(indent=...)`` spread over one
    line per number."""
    pattern = re.compile(r'\[\s*((?:-?[\d.eE+-]+|null)(?:,\s*(?:-?[\d.eE+-]+|null))*)\s*\]')
    return pattern.sub(lambda m: '[' + ', '.join(p.strip() for p in m.group(1).split(','))
                       + ']', text)
