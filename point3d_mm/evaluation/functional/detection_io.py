"""Read and write frame detections and tubes (pure numpy, atomic writes).

Formats (``docs/interfaces.md``):

* frame detections: a (D, 8) array of rows ``video_index, frame, label, score, x1, y1, x2,
  y2`` and the list of video names that ``video_index`` refers to. Stored as ``.npz``
  (arrays ``detections`` and ``videos``), ``.pkl`` (a dict with those keys; a bare (D, 8)
  array, as ACT/MOC-Detector dump it, is read too) or ``.csv`` (header
  ``video,frame,label,score,x1,y1,x2,y2``, the video by name).
* tubes: ``{video: [(label, score, (L, 5) frame, x1, y1, x2, y2), ...]}`` as ``.pkl``.

Writes go to a temporary file in the target folder that is renamed over the target, so a
reader never sees a half-written file. Pickles are read with
:func:`point3d_mm.utils.safe_pickle.safe_pickle_load`, which admits only builtins and numpy
arrays.
"""
import csv
import errno
import os
import os.path as osp
import pickle
import zipfile
import zlib
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ...utils.fileio import atomic_open
from ...utils.safe_pickle import safe_pickle_load
from .overlaps import Tube
from .rows import check_rows

PathLike = Union[str, os.PathLike]
CSV_HEADER = ('video', 'frame', 'label', 'score', 'x1', 'y1', 'x2', 'y2')


def save_frame_detections(path: PathLike, detections: np.ndarray,
                          videos: Sequence[str]) -> None:
    """Write frame detections atomically; the format follows the suffix of ``path``.

    Args:
        path: ``.npz``, ``.pkl`` or ``.csv`` file.
        detections: (D, 8) rows ``video_index, frame, label, score, x1, y1, x2, y2``.
        videos: Video names indexed by ``video_index``.
    """
    dets = np.asarray(detections, dtype=np.float64).reshape(-1, 8)
    videos = [str(v) for v in videos]
    suffix = _suffix(path, ('.npz', '.pkl', '.csv'))
    if suffix == '.npz':
        with atomic_open(path) as f:
            np.savez_compressed(f, detections=dets, videos=np.asarray(videos, dtype=str))
    elif suffix == '.pkl':
        with atomic_open(path) as f:
            pickle.dump(dict(detections=dets, videos=videos), f, protocol=4)
    else:
        with atomic_open(path, 'w', newline='', encoding='utf-8') as f:
            writer = csv.writer(f)
            writer.writerow(CSV_HEADER)
            for row in dets.tolist():
                writer.writerow([videos[int(row[0])], int(row[1]), int(row[2]), *row[3:]])


def load_frame_detections(path: PathLike) -> Tuple[np.ndarray, Optional[List[str]]]:
    """Read frame detections written by :func:`save_frame_detections` (or ACT's bare array).

    Args:
        path: ``.npz``, ``.pkl`` or ``.csv`` file.

    Returns:
        ``(detections, videos)``: the (D, 8) float64 array and the video names, or ``None``
        for a bare array pickle, whose indices refer to the test split's video list.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not one of these formats, or damaged (the message names it).
    """
    reader = {'.npz': _read_npz, '.pkl': _read_pkl, '.csv': _read_csv}[
        _suffix(path, ('.npz', '.pkl', '.csv'))]
    try:
        return reader(path)
    except DAMAGED_FILE_ERRORS as error:
        raise ValueError(f'{path}: not a readable detections file: '
                         f'{type(error).__name__}: {error}') from None


#: What reading a damaged file or one of another layout raises besides ValueError
#: (NotImplementedError: zipfile on a damaged version or compression field).
DAMAGED_FILE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, OverflowError, EOFError,
            UnicodeDecodeError, csv.Error, zipfile.BadZipFile, zlib.error, NotImplementedError)


def _read_npz(path: PathLike) -> Tuple[np.ndarray, List[str]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            detections, videos = data['detections'], data['videos']
    except (ValueError, OSError, RuntimeError) as error:
        # ValueError: object arrays, a damaged array header, not numpy at all; OSError
        # EINVAL: zipfile seeking to a damaged (negative) offset; RuntimeError: zipfile on a
        # member whose flags say it is encrypted (one flipped bit; numpy never encrypts)
        if isinstance(error, OSError) and error.errno != errno.EINVAL:
            raise
        raise ValueError(f'{path}: not a readable .npz of detections: {error}') from None
    return _as_detections(detections, path), _names(videos, path)


def _read_pkl(path: PathLike) -> Tuple[np.ndarray, Optional[List[str]]]:
    data = safe_pickle_load(path)
    if isinstance(data, np.ndarray):
        return _as_detections(data, path), None
    if not isinstance(data, dict) or not {'detections', 'videos'} <= set(data):
        raise ValueError(f'{path}: expected a dict with "detections" and "videos" or a '
                         '(D, 8) array')
    return _as_detections(data['detections'], path), _names(data['videos'], path)


def _read_csv(path: PathLike) -> Tuple[np.ndarray, List[str]]:
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != CSV_HEADER:
            raise ValueError(f'{path}: expected the header {",".join(CSV_HEADER)}')
        index: Dict[str, int] = {}
        rows = []
        for row in reader:
            if not row:  # a blank line
                continue
            if len(row) != len(CSV_HEADER):
                raise ValueError(f'{path}:{reader.line_num}: expected {len(CSV_HEADER)} '
                                 f'fields, got {len(row)}')
            try:
                rows.append([index.setdefault(row[0], len(index)), *map(float, row[1:])])
            except ValueError as error:
                raise ValueError(f'{path}:{reader.line_num}: {error}') from None
    return _as_detections(np.asarray(rows, dtype=np.float64), path), list(index)


def save_tubes(path: PathLike, tubes: Dict[str, Sequence[Tube]]) -> None:
    """Write tubes ``{video: [(label, score, (L, 5) array)]}`` atomically as a pickle."""
    _suffix(path, ('.pkl',))
    plain = {str(video): [(int(label), float(score), np.asarray(tube, dtype=np.float64))
                          for label, score, tube in video_tubes]
             for video, video_tubes in tubes.items()}
    with atomic_open(path) as f:
        pickle.dump(plain, f, protocol=4)


def load_tubes(path: PathLike) -> Dict[str, List[Tube]]:
    """Read tubes written by :func:`save_tubes`, checking their structure.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a pickle of tubes, or damaged (the message names it).
    """
    data = safe_pickle_load(path)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a dict {{video: [(label, score, tube)]}}')
    tubes: Dict[str, List[Tube]] = {}
    for video, video_tubes in data.items():
        tubes[str(video)] = []
        for entry in (video_tubes if isinstance(video_tubes, (list, tuple)) else [None]):
            tube = _as_tube(entry)
            if tube is None:
                raise ValueError(f'{path}: video {video!r} holds a tube that is not '
                                 '(label, score, (L, 5) array)')
            if not (np.isfinite(tube[1]) and np.isfinite(tube[2]).all()):
                raise ValueError(f'{path}: video {video!r} holds a tube with a NaN or '
                                 'infinite score or box')
            tubes[str(video)].append(tube)
    return tubes


def _as_tube(entry) -> Optional[Tube]:
    """``entry`` as (label, score, (L, 5) float64 array), or None when it is not one."""
    if not (isinstance(entry, (tuple, list)) and len(entry) == 3):
        return None
    try:
        tube = np.asarray(entry[2], dtype=np.float64)
        label, score = int(entry[0]), float(entry[1])
    except (TypeError, ValueError, OverflowError):
        return None
    return (label, score, tube) if tube.ndim == 2 and tube.shape[1] == 5 else None


def _names(videos, path: PathLike) -> List[str]:
    """The video names of a detections file, as a list of ``str``."""
    names = videos if isinstance(videos, (list, tuple)) else np.asarray(videos, dtype=object)
    if isinstance(names, np.ndarray) and names.ndim != 1:
        raise ValueError(f'{path}: "videos" is not a list of video names')
    return [str(name) for name in names]


def _as_detections(array: np.ndarray, path: PathLike) -> np.ndarray:
    return check_rows(array, source=os.fspath(path))


def _suffix(path: PathLike, allowed: Sequence[str]) -> str:
    suffix = osp.splitext(os.fspath(path))[1].lower()
    if suffix not in allowed:
        raise ValueError(f'{path}: unsupported file type {suffix!r}; use one of {allowed}')
    return suffix
