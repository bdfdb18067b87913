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
import os
import os.path as osp
import pickle
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ...utils.fileio import atomic_open
from ...utils.safe_pickle import safe_pickle_load
from .overlaps import Tube

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
    """
    suffix = _suffix(path, ('.npz', '.pkl', '.csv'))
    if suffix == '.npz':
        with np.load(path, allow_pickle=False) as data:
            return _as_detections(data['detections'], path), data['videos'].tolist()
    if suffix == '.pkl':
        data = safe_pickle_load(path)
        if isinstance(data, np.ndarray):
            return _as_detections(data, path), None
        if not isinstance(data, dict) or not {'detections', 'videos'} <= set(data):
            raise ValueError(f'{path}: expected a dict with "detections" and "videos" or a '
                             '(D, 8) array')
        return _as_detections(data['detections'], path), [str(v) for v in data['videos']]
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != CSV_HEADER:
            raise ValueError(f'{path}: expected the header {",".join(CSV_HEADER)}')
        index: Dict[str, int] = {}
        rows = [[index.setdefault(r[0], len(index)), *map(float, r[1:])] for r in reader]
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
    """Read tubes written by :func:`save_tubes`, checking their structure."""
    data = safe_pickle_load(path)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a dict {{video: [(label, score, tube)]}}')
    tubes: Dict[str, List[Tube]] = {}
    for video, video_tubes in data.items():
        tubes[str(video)] = []
        for entry in video_tubes:
            valid = isinstance(entry, (tuple, list)) and len(entry) == 3
            tube = np.asarray(entry[2], dtype=np.float64) if valid else np.zeros(0)
            if tube.ndim != 2 or tube.shape[1] != 5:
                raise ValueError(f'{path}: video {video!r} holds a tube that is not '
                                 '(label, score, (L, 5) array)')
            tubes[str(video)].append((int(entry[0]), float(entry[1]), tube))
    return tubes


def _as_detections(array: np.ndarray, path: PathLike) -> np.ndarray:
    dets = np.asarray(array, dtype=np.float64)
    if dets.size == 0:
        return np.zeros((0, 8))
    if dets.ndim != 2 or dets.shape[1] != 8:
        raise ValueError(f'{path}: detections must be (D, 8), got shape {dets.shape}')
    return dets


def _suffix(path: PathLike, allowed: Sequence[str]) -> str:
    suffix = osp.splitext(os.fspath(path))[1].lower()
    if suffix not in allowed:
        raise ValueError(f'{path}: unsupported file type {suffix!r}; use one of {allowed}')
    return suffix
