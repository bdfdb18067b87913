"""The per-frame CSV annotation layout and its conversion to and from the ACT format.

A per-frame CSV, one row per box: ``video,frame,x1,y1,x2,y2,label,actor_id`` (frame
  1-based, pixels, ``label`` a class name). :func:`csv_to_act` groups rows into tubes per
  (video, actor, label), split where frames are missing; :func:`act_to_csv` is its inverse.
"""
import csv
import os
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ...structures.act_format import normalise_act, raise_on_problems, video_problems
from ...utils.fileio import atomic_open

CSV_COLUMNS = ('video', 'frame', 'x1', 'y1', 'x2', 'y2', 'label', 'actor_id')
#: Largest frame number an ACT tube (float32) holds exactly.
MAX_FRAME = 2**24
#: One CSV row: video, frame (1-based), x1, y1, x2, y2, label name, actor id.
CsvRow = Tuple[str, int, float, float, float, float, str, str]
Splits = Union[Sequence[str], Sequence[Sequence[str]]]


def check_act(act: Dict, source: str) -> Dict:
    """``act`` if every video is usable, else one error listing what is wrong, by video."""
    raise_on_problems([p for video in sorted(act['nframes'].keys() | act['gttubes'].keys())
                       for p in video_problems(act, video)], source)
    return act


def read_csv_rows(path: Union[str, os.PathLike]) -> List[CsvRow]:
    """Read a per-frame CSV (an optional header line starting with ``video`` is skipped).

    Raises:
        ValueError: a row has the wrong number of fields or a non-numeric frame/coordinate,
            or the file is not text (the message names the file and line).
    """
    try:
        return _read_rows(path)
    except (UnicodeDecodeError, csv.Error) as error:  # binary data, an oversized field
        raise ValueError(f'{path}: not a readable CSV text file: {error}') from None


def _read_rows(path: Union[str, os.PathLike]) -> List[CsvRow]:
    rows = []
    with open(path, newline='') as f:
        for line_no, fields in enumerate(csv.reader(f), 1):
            if not fields or (line_no == 1 and fields[0].strip() == 'video'):
                continue
            if len(fields) != len(CSV_COLUMNS):
                raise ValueError(f'{path}:{line_no}: expected {len(CSV_COLUMNS)} fields '
                                 f'({",".join(CSV_COLUMNS)}), got {len(fields)}')
            try:
                rows.append((fields[0], int(fields[1]), *map(float, fields[2:6]),
                             fields[6], fields[7]))
            except ValueError as error:
                raise ValueError(f'{path}:{line_no}: {error}') from None
    return rows


def write_csv_rows(rows: Iterable[CsvRow], path: Union[str, os.PathLike]) -> None:
    """Write per-frame CSV rows with a header; floats keep float32 precision exactly."""
    with atomic_open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for video, frame, x1, y1, x2, y2, label, actor in rows:
            writer.writerow([video, frame, *(f'{v:.9g}' for v in (x1, y1, x2, y2)), label,
                             actor])


def _as_splits(videos: Optional[Splits]) -> Optional[List[List[str]]]:
    if videos is None:
        return None
    videos = list(videos)
    if videos and isinstance(videos[0], str):
        return [videos]
    return [list(split) for split in videos]


def csv_to_act(rows: Iterable[CsvRow], labels: Optional[Sequence[str]] = None,
               nframes: Optional[Mapping[str, int]] = None,
               resolution: Union[Mapping[str, Tuple[int, int]], Tuple[int, int], None] = None,
               train_videos: Optional[Splits] = None, test_videos: Optional[Splits] = None,
               source: str = 'CSV') -> Dict:
    """Build an ACT dict from per-frame box rows.

    Rows of one (video, actor_id, label) form a track; a track is split into tubes where
    frames are missing. Tubes are listed per label in order of first appearance.

    Args:
        rows: (video, frame, x1, y1, x2, y2, label, actor_id) tuples (:func:`read_csv_rows`).
        labels: Class names in label-index order; default: the sorted names in the rows.
        nframes: Frames per video; default: each video's last annotated frame.
        resolution: (h, w) per video, or one (h, w) for all; required.
        train_videos: Train videos, one list (one split) or a list of splits; default: all
            videos not in ``test_videos``.
        test_videos: Test videos, as ``train_videos``; default: none.
        source: Name used in error messages (the file).

    Returns:
        A normalised ACT dict.

    Raises:
        ValueError: an unknown label, a frame number above :data:`MAX_FRAME` or a coordinate
            that is not finite, a frame annotated twice for one actor, a missing
            resolution, or a video problem (:func:`video_problems`); the message names
            the source and video.
    """
    rows = list(rows)
    names = list(labels) if labels is not None else sorted({row[6] for row in rows})
    index = {name: i for i, name in enumerate(names)}
    tracks: Dict[Tuple[str, str, str], List] = OrderedDict()
    for row in rows:
        video, frame, x1, y1, x2, y2, label, actor = row
        if label not in index:
            raise ValueError(f"{source}: video '{video}' frame {frame}: unknown label "
                             f"'{label}' (labels: {', '.join(names)})")
        if not (abs(frame) <= MAX_FRAME and np.isfinite([x1, y1, x2, y2]).all()):
            raise ValueError(f"{source}: video '{video}' frame {frame}: the frame number (at "
                             f'most {MAX_FRAME}) or a coordinate {(x1, y1, x2, y2)} is not '
                             'a finite number')
        tracks.setdefault((video, actor, label), []).append((frame, x1, y1, x2, y2))

    gttubes: Dict[str, Dict[int, List[np.ndarray]]] = OrderedDict()
    for (video, actor, label), boxes in tracks.items():
        track = np.array(sorted(boxes), np.float32)
        repeated = track[1:, 0][np.diff(track[:, 0]) == 0]
        if len(repeated):
            raise ValueError(f"{source}: video '{video}' actor '{actor}' has frame "
                             f'{int(repeated[0])} annotated twice for label {label}')
        breaks = np.nonzero(np.diff(track[:, 0]) != 1)[0] + 1
        gttubes.setdefault(video, {}).setdefault(index[label], []).extend(
            np.split(track, breaks))

    test = _as_splits(test_videos) or [[]]
    videos = list(gttubes) + [v for split in test + (_as_splits(train_videos) or [])
                              for v in split if v not in gttubes]
    train = _as_splits(train_videos) or [[v for v in videos if v not in split]
                                         for split in test]
    if nframes is None:
        nframes = {video: max(int(t[-1, 0]) for ts in gttubes.get(video, {}).values()
                              for t in ts) for video in videos if video in gttubes}
    if resolution is None:
        raise ValueError(f'{source}: the frame resolution is needed (the CSV does not hold '
                         'it): pass one (h, w) or a dict per video')
    if isinstance(resolution, tuple):
        resolution = {video: resolution for video in videos}
    act = normalise_act(dict(
        labels=names, gttubes={v: gttubes.get(v, {}) for v in videos},
        nframes={v: nframes[v] for v in videos if v in nframes},
        resolution={v: resolution[v] for v in videos if v in resolution},
        train_videos=train, test_videos=test))
    return check_act(act, source)


def act_to_csv(act: Mapping) -> List[CsvRow]:
    """Per-frame rows of an ACT dict (the inverse of :func:`csv_to_act`).

    ``actor_id`` is the tube's index within its video, in label order, as
    :class:`~point3d_mm.datasets.ACTDataset` numbers its ``track_ids``.
    """
    rows = []
    for video, tubes in act['gttubes'].items():
        actor = 0
        for label, label_tubes in sorted(tubes.items(), key=lambda kv: int(kv[0])):
            for tube in label_tubes:
                rows.extend((str(video), int(r[0]), float(r[1]), float(r[2]), float(r[3]),
                             float(r[4]), act['labels'][int(label)], str(actor))
                            for r in np.asarray(tube, np.float32))
                actor += 1
    return rows
