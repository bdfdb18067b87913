"""Giving freed heap memory back to the operating system."""
import ctypes
import sys
from typing import Any

_malloc_trim: Any = None


def trim_heap() -> None:
    """Return freed heap pages to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    Each frame of a long video allocates and frees a few large buffers around a few
    long-lived small ones (its detections); glibc keeps the freed pages between them, so
    without this the resident memory of a 10,000-frame video grows by about 160 MB that
    nothing references (tools/analysis/benchmark_memory.py).
    """
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith('linux'):
            try:
                _malloc_trim = ctypes.CDLL('libc.so.6').malloc_trim
            except (OSError, AttributeError):
                pass
    if _malloc_trim:
        _malloc_trim(0)
