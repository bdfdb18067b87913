"""Restricted loading of annotation pickles from untrusted sources.

Public spatio-temporal annotation files (the ACT ``JHMDB-GT.pkl``, ``UCF101v2-GT.pkl``,
MultiSports and AVA proposal pickles) hold only builtin containers, numbers, strings and numpy
arrays. :func:`safe_pickle_load` admits exactly those, so a crafted pickle cannot run code.
"""
import io
import os
import pickle
import struct
from typing import Any, Union

# (module, name) pairs a data pickle may reference. Python 2 pickles name builtins
# '__builtin__'; numpy >= 2 moved 'numpy.core' to 'numpy._core' and keeps an alias.
_ALLOWED_GLOBALS = {
    ('collections', 'OrderedDict'),
    ('collections', 'defaultdict'),
    ('__builtin__', 'set'), ('builtins', 'set'),
    ('__builtin__', 'frozenset'), ('builtins', 'frozenset'),
    ('__builtin__', 'slice'), ('builtins', 'slice'),
    ('__builtin__', 'complex'), ('builtins', 'complex'),
    ('__builtin__', 'list'), ('builtins', 'list'),
    ('__builtin__', 'dict'), ('builtins', 'dict'),
    ('__builtin__', 'tuple'), ('builtins', 'tuple'),
    ('__builtin__', 'object'), ('builtins', 'object'),
    ('copy_reg', '_reconstructor'), ('copyreg', '_reconstructor'),
    # Python 3 writes bytes (numpy array buffers) at protocols < 3 as _codecs.encode(str).
    ('_codecs', 'encode'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'), ('numpy._core.numeric', '_frombuffer'),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global outside the allow-list."""


class _RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler, admitting only :data:`_ALLOWED_GLOBALS`.

    Not the C one: it stores the memo in an array as long as the largest memo index the file
    names, so one corrupt index (``LONG_BINPUT 1751607649`` in an 8 kB file) makes it fill
    14 GB; the Python one keeps the memo in a dict. It is fast enough for annotation files
    (the 2.2 MB JHMDB-GT.pkl loads in 0.06 s, the 3.6 MB corrected UCF101-24 file in 0.5 s).
    """

    def __init__(self, file: Any, source: str, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._source = source

    def load_bytearray8(self) -> None:
        # pickle's allocates the declared length before reading: read what there is instead
        size = int.from_bytes(self.read(8), 'little')
        data = self.read(size)
        if len(data) != size:
            raise pickle.UnpicklingError('pickle data was truncated (BYTEARRAY8)')
        self.append(bytearray(data))

    def load_build(self) -> None:
        import numpy as np
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.dtype) and not _is_dtype_state(inst, state):
            raise pickle.UnpicklingError(
                f'a damaged or structured numpy dtype state {state!r} for {inst}')
        super().load_build()

    dispatch = {**pickle._Unpickler.dispatch, pickle.BYTEARRAY8[0]: load_bytearray8,
                pickle.BUILD[0]: load_build}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        # numpy scalar and dtype classes (np.float32, np.dtypes.Float32DType, ...).
        if module in ('numpy', 'numpy.dtypes'):
            import numpy as np
            candidate = getattr(np.dtypes if module == 'numpy.dtypes' else np, name, None)
            if isinstance(candidate, type) and (issubclass(candidate, np.generic)
                                                or issubclass(candidate, np.dtype)):
                return candidate
        raise UnsafePickleError(
            f'{self._source}: refused to unpickle global {module}.{name}; annotation pickles '
            'may hold only builtin containers, numbers, strings and numpy arrays')


def _is_dtype_state(dtype: Any, state: Any) -> bool:
    """Whether ``state`` is the pickled state numpy gives ``dtype`` (up to byte order).

    numpy trusts it: one flipped bit of a '<U31' dtype's flags is a segmentation fault. So its
    flags must be the dtype's own, its size and alignment the dtype's (or -1, unset), and it
    may not add fields or a subarray (structured dtypes are not annotation data).
    """
    if not (isinstance(state, tuple) and len(state) in (8, 9)):
        return False
    _, _, subarray, names, fields, size, alignment, flags = state[:8]
    own = dtype.__reduce__()[2]
    return (subarray is None and names is None and fields is None
            and size in (-1, own[5], dtype.itemsize)
            and alignment in (-1, own[6], dtype.alignment) and flags == own[7])


def safe_pickle_loads(data: bytes, source: str = '<bytes>') -> Any:
    """Unpickle ``data`` with the restricted unpickler (see :func:`safe_pickle_load`)."""
    return _load(io.BytesIO(data), source)


def safe_pickle_load(path: Union[str, os.PathLike]) -> Any:
    """Load a data pickle admitting only builtins and numpy arrays, dtypes and scalars.

    Python 2 pickles (the public JHMDB-21 / UCF101-24 ACT files) are read with
    ``encoding='latin1'``, which is also correct for Python 3 pickles of str data.

    Args:
        path: The pickle file.

    Returns:
        The unpickled object.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafePickleError: the pickle references any other global (a class or callable).
        ValueError: the file is truncated or not a pickle; the message names the file.
    """
    path = os.fspath(path)
    with open(path, 'rb') as f:
        # from memory: a corrupt length (a BINBYTES8 of petabytes) then reads what there is,
        # where a file object's read(n) would first allocate n bytes
        data = f.read()
    return _load(io.BytesIO(data), path)


def _load(file: Any, source: str) -> Any:
    try:
        return _RestrictedUnpickler(file, source, encoding='latin1').load()
    except UnsafePickleError:
        raise
    # KeyError: an unknown opcode or memo index; struct.error: a truncated number;
    # OverflowError, MemoryError: a corrupt length field (a FRAME of petabytes);
    # RuntimeError, SystemError: numpy's reconstruction of a damaged dtype or scalar state;
    # LookupError: a damaged codec name for _codecs.encode
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
            AttributeError, struct.error, OverflowError, MemoryError, RuntimeError,
            SystemError, LookupError) as error:
        raise ValueError(f'{source}: not a readable pickle (truncated or corrupt?): '
                         f'{type(error).__name__}: {error}') from None
