"""Other detectors' released detections, read into frame-detection rows and checked against
the ground truth they are scored on (pure numpy).

Every format below is read into (D, 8) rows (:mod:`.rows`: frame 1-based, label 0-based in
the order of the ground truth's ``labels``, boxes in pixels) and the tubes the file carries.
What each format numbers how is stated here and checked (:func:`load_detections`):

============  ==========================================  =========  ======  ==============
format        file                                        classes    frames  boxes
============  ==========================================  =========  ======  ==============
``point3d``   ours: ``.npz``/``.pkl``/``.csv`` of          0-based    1-based pixels
              :mod:`.detection_io` (video names inside)
``moc``       MOC-Detector / ACT ``frame_detections.pkl``  0-based    1-based pixels
              (a bare (D, 8) float32 array whose video
              index is into ``test_videos[split - 1]``),
              or the folder holding it; tubes from the
              ``<video>_tubes.pkl`` files beside it
              (``{label: [[(L, 6) frame, x1, y1, x2, y2,
              score], tube score]]}``, label 0-based)
``mmaction2`` mmaction2 MultiSports ``<r>-formated.pkl``   0-based    1-based pixels
              (``tools/data/multisports/
              format_det_result.py``: a bare (D, 8) array,
              video index into ``test_videos[0]``); tubes
              from ``<r>_vid_dets.pkl`` beside it
              (``{label: [(video, score, (L, 6))]}``)
``yowo``      YOWO / YOWOv2 per-frame text files: a        1-based    1-based pixels
              folder of ``<video>_<frame:05d>.txt`` (the
              video's ``/`` written as ``_``), a line
              ``class score x1 y1 x2 y2`` per box
``ava_csv``   AVA CSV (mmaction2 ``results2csv``): rows    1-based    ``fps`` × normalised
              ``video, timestamp, x1, y1, x2, y2,          (action    timestamp  to [0, 1]
              action_id, score``, no header                id)
``yowov3``    YOWOv3 ``scripts/ava_eval.py``'s CSV: the    1-based    ``fps`` ×  normalised
              AVA CSV (class index + 1, coordinates        timestamp
              rounded to 3 decimals)
============  ==========================================  =========  ======  ==============

Class order is the ground truth's ``labels`` in every format (ACT's pickles, MOC's and
mmaction2's datasets read it from there; YOWO's UCF101-24 and JHMDB-21 class lists are the
same alphabetical order). YOWOv3 writes a file only for AVA; on UCF101-24 and JHMDB-21 it
scores in memory, so its detections there are read as YOWO text files. YOWO and YOWOv2 link
tubes in memory too: their files carry no tubes.

Checks against the ground truth, each one ``ValueError`` naming the file: values that are
not finite; videos that the ground truth does not have (a file of another dataset), video
indices beyond the split; labels outside the classes; frames outside ``1..nframes``
(0-based numbering, or an offset); and, with ``check=True``, three plausibility checks:
a class order that disagrees with the ground truth (the classes that detections overlapping
the ground-truth boxes carry follow another order), frames that agree better with the ground
truth one frame earlier or later, and for bare arrays, whose videos are only indices, no
detection overlapping any ground-truth box.
"""
import csv
import glob
import math
import os
import os.path as osp
import re
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ...utils.safe_pickle import safe_pickle_load
from .action_ap import ground_truth_boxes
from .detection_io import DAMAGED_FILE_ERRORS, load_frame_detections
from .error_analysis import frame_box_pairs, frame_keys
from .overlaps import Tube
from .rows import align_rows, check_rows, split_videos

FORMATS: Tuple[str, ...] = ('point3d', 'moc', 'mmaction2', 'yowo', 'ava_csv', 'yowov3')
#: The formats whose detections may be a folder.
FOLDER_FORMATS: Tuple[str, ...] = ('moc', 'yowo')
#: How many ground-truth boxes with an overlapping detection the plausibility checks need.
MIN_EVIDENCE = 20


class Detections(NamedTuple):
    """Frame detections of one file, aligned to a test split.

    ``detections``: (D, 8) rows indexing ``videos``; ``videos``: the split's videos;
    ``tubes``: ``{video: [Tube]}`` the file carries (``None`` when it has none);
    ``outside``: videos of the file outside the split (their rows were dropped);
    ``source``: the file; ``format``: its format.
    """
    detections: np.ndarray
    videos: List[str]
    tubes: Optional[Dict[str, List[Tube]]]
    outside: List[str]
    source: str
    format: str


def guess_format(path: str) -> str:
    """The format of ``path`` from its name and, for CSV files, its first line."""
    name = osp.basename(osp.normpath(path))
    if osp.isdir(path):
        return 'moc' if osp.isfile(osp.join(path, 'frame_detections.pkl')) else 'yowo'
    if name == 'frame_detections.pkl':
        return 'moc'
    if name.endswith('-formated.pkl'):
        return 'mmaction2'
    if name.lower().endswith('.csv'):
        with open(path, newline='', encoding='utf-8') as f:
            first = next(csv.reader(f), [])
        return 'point3d' if first and first[0] == 'video' else 'ava_csv'
    return 'point3d'


def load_detections(path: str, gt: Mapping, split: int = 1, fmt: Optional[str] = None,
                    fps: float = 1.0, check: bool = True) -> Detections:
    """Read a detections file of any :data:`FORMATS` and check it against ``gt``.

    Args:
        path: The file (or folder, for ``yowo`` and ``moc``).
        gt: ACT ground truth (``labels``, ``gttubes``, ``test_videos``; ``nframes`` and
            ``resolution`` where the format needs them).
        split: 1-based test split scored.
        fmt: One of :data:`FORMATS`; ``None`` guesses it (:func:`guess_format`).
        fps: AVA CSV: frames per timestamp unit (frame = round(timestamp × fps)).
        check: Run the plausibility checks (module docstring).

    Raises:
        FileNotFoundError: no such file.
        ValueError: one message naming the file (module docstring).
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f'{path}: unknown detections format {fmt!r}; one of {FORMATS}')
    if not osp.exists(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    if fmt in ('ava_csv', 'yowov3', None) and not (isinstance(fps, (int, float))
                                                   and math.isfinite(fps) and fps > 0):
        raise ValueError(f'fps must be a positive number of frames per timestamp unit; '
                         f'got {fps!r}')
    videos = split_videos(gt, split)
    source = os.fspath(path)
    try:
        fmt = fmt or guess_format(path)
        if osp.isdir(path) and fmt not in FOLDER_FORMATS:
            raise ValueError(f'{path}: is a folder; {fmt} detections are a file')
        reader = _READERS[fmt]
        rows, names, tubes = reader(path, gt, split, fps) if fmt in ('ava_csv', 'yowov3') \
            else reader(path, gt, split)
        rows = check_rows(rows, source=source)
        kept, outside = align_rows(rows, names, videos, known=gt['gttubes'], source=source)
        kept = check_rows(kept, len(videos), len(gt['labels']), source=source)
        _check_frames(gt, kept, videos, source)
        if tubes is not None:
            tubes = _checked_tubes(gt, tubes, videos, source)
        if check:
            check_plausible(gt, kept, videos, source, bare=names is None or fmt == 'mmaction2')
    except FileNotFoundError:
        raise
    except ValueError as error:
        # Messages name the file they are about: this one, or one beside it (tube files).
        folder = osp.dirname(source)
        if str(error).startswith(source) or (folder and str(error).startswith(folder)):
            raise
        raise ValueError(f'{source}: {error}') from None
    except (*DAMAGED_FILE_ERRORS, OSError) as error:
        raise ValueError(f'{source}: not readable as {fmt or "detections"}: '
                         f'{type(error).__name__}: {error}') from None
    return Detections(kept, videos, tubes, outside, source, fmt)


# ------------------------------------------------------------------------ readers
def _read_point3d(path: str, gt: Mapping, split: int):
    rows, names = load_frame_detections(path)
    return rows, names, None


def _read_moc(path: str, gt: Mapping, split: int):
    folder = path if osp.isdir(path) else osp.dirname(path)
    rows = _bare_array(osp.join(folder, 'frame_detections.pkl') if osp.isdir(path) else path)
    videos = split_videos(gt, split)
    files = {v: osp.join(folder, f'{v}_tubes.pkl') for v in videos}
    present = [v for v, f in files.items() if osp.isfile(f)]
    if not present:
        return rows, None, None
    if len(present) < len(videos):
        missing = next(f for v, f in files.items() if v not in present)
        raise ValueError(f'{folder}: holds MOC tube files for {len(present)} of the '
                         f'{len(videos)} test videos; {missing} is missing')
    tubes = {}
    for video in videos:
        by_label = safe_pickle_load(files[video])
        if not isinstance(by_label, dict):
            raise ValueError(f'{files[video]}: expected {{label: [[(L, 6) tube, score]]}}')
        tubes[video] = [(label, entry[1], entry[0]) for label, entries in by_label.items()
                        for entry in entries]
    return rows, None, tubes


def _read_mmaction2(path: str, gt: Mapping, split: int):
    rows = _bare_array(path)
    names = split_videos(gt, 1)  # mmaction2 indexes test_videos[0] whatever the split
    tube_file = re.sub(r'-formated\.pkl$', '_vid_dets.pkl', path)
    if tube_file == path or not osp.isfile(tube_file):
        return rows, names, None
    by_label = safe_pickle_load(tube_file)
    if not isinstance(by_label, dict):
        raise ValueError(f'{tube_file}: expected {{label: [(video, score, (L, 6) tube)]}}')
    tubes: Dict[str, list] = {}
    for label, entries in by_label.items():
        for entry in entries:
            if not (isinstance(entry, (tuple, list)) and len(entry) == 3):
                raise ValueError(f'{tube_file}: expected (video, score, tube) entries')
            tubes.setdefault(str(entry[0]), []).append((label, entry[1], entry[2]))
    return rows, names, tubes


def _read_yowo(path: str, gt: Mapping, split: int):
    if not osp.isdir(path):
        raise ValueError(f'{path}: YOWO detections are a folder of per-frame .txt files')
    by_key = {str(v).replace('/', '_'): str(v) for v in gt['gttubes']}
    names: Dict[str, int] = {}
    rows, unknown = [], []
    files = sorted(glob.glob(osp.join(path, '*.txt')))
    if not files:
        raise ValueError(f'{path}: holds no detection files: no YOWO per-frame '
                         '<video>_<frame:05d>.txt files, nor MOC\'s frame_detections.pkl')
    for file in files:
        stem = osp.splitext(osp.basename(file))[0]
        key, _, frame = stem.rpartition('_')
        if key not in by_key or not frame.isdigit():
            unknown.append(osp.basename(file))
            continue
        values = _text_rows(file, 6)
        index = names.setdefault(by_key[key], len(names))
        rows.append(np.column_stack([np.full(len(values), index), np.full(len(values),
                                     int(frame)), values[:, 0] - 1, values[:, 1:]]))
    if unknown:
        raise ValueError(f'{path}: {len(unknown)} file(s) name no video of the ground truth '
                         f'as <video>_<frame:05d>.txt (a folder of another dataset?), e.g. '
                         f'{unknown[:3]}')
    return (np.concatenate(rows) if rows else np.zeros((0, 8))), list(names), None


def _read_ava_csv(path: str, gt: Mapping, split: int, fps: float):
    names: Dict[str, int] = {}
    rows = []
    with open(path, newline='', encoding='utf-8') as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if len(row) < 8:
                raise ValueError(f'{path}:{line}: expected video, timestamp, x1, y1, x2, y2, '
                                 f'action_id, score; got {len(row)} fields')
            try:
                values = [float(v) for v in row[1:8]]
            except ValueError as error:
                raise ValueError(f'{path}:{line}: {error}') from None
            if not all(map(math.isfinite, values)):
                raise ValueError(f'{path}:{line}: holds a NaN or infinite value')
            index = names.setdefault(row[0], len(names))
            rows.append([index, round(values[0] * fps), values[5] - 1, values[6], *values[1:5]])
    dets = np.asarray(rows, dtype=np.float64).reshape(-1, 8)
    known = [v for v in names if v in gt['gttubes']]
    if known and 'resolution' not in gt:
        raise ValueError(f'{path}: AVA CSV boxes are normalised; the ground truth needs '
                         '"resolution" to turn them into pixels')
    for video in known:  # normalised to pixels: x by the width, y by the height
        height, width = gt['resolution'][video]
        dets[dets[:, 0] == names[video], 4:8] *= (width, height, width, height)
    return dets, list(names), None


_READERS = dict(point3d=_read_point3d, moc=_read_moc, mmaction2=_read_mmaction2,
                yowo=_read_yowo, ava_csv=_read_ava_csv, yowov3=_read_ava_csv)


def _bare_array(path: str) -> np.ndarray:
    data = safe_pickle_load(path)
    if not isinstance(data, np.ndarray):
        raise ValueError(f'{path}: expected a bare (D, 8) array of frame detections, got '
                         f'{type(data).__name__}')
    return check_rows(data, source=path)


def _text_rows(path: str, columns: int) -> np.ndarray:
    """(N, columns) numbers of a text file, a line per row; an empty file (YOWO writes one
    for a frame without boxes) has none."""
    with open(path, encoding='utf-8') as f:
        lines = [(number, line.split()) for number, line in enumerate(f, 1) if line.strip()]
    for number, fields in lines:
        if len(fields) != columns:
            raise ValueError(f'{path}:{number}: expected {columns} numbers, got {len(fields)}')
    try:
        return np.array([fields for _, fields in lines], dtype=np.float64).reshape(-1, columns)
    except ValueError as error:
        raise ValueError(f'{path}: not rows of {columns} numbers: {error}') from None


# ------------------------------------------------------------------------ checks
def _check_frames(gt: Mapping, dets: np.ndarray, videos: Sequence[str], source: str) -> None:
    """Frames inside ``1..nframes`` of their video (where the ground truth has ``nframes``)."""
    if not len(dets) or 'nframes' not in gt:
        return
    nframes = np.array([gt['nframes'].get(v, np.inf) for v in videos])
    frame, last = dets[:, 1], nframes[dets[:, 0].astype(np.int64)]
    if frame.min() < 1:
        row = int(np.argmin(frame))
        raise ValueError(f'{source}: frame {frame[row]:g} of video {videos[int(dets[row, 0])]!r}'
                         ': frames are 1-based here (numbered from 0, or offset?)')
    beyond = np.flatnonzero(frame > last)
    if len(beyond):
        row = beyond[0]
        raise ValueError(f'{source}: {len(beyond)} detection(s) lie beyond their video\'s last '
                         f'frame, e.g. frame {frame[row]:g} of {videos[int(dets[row, 0])]!r} '
                         f'({last[row]:g} frames): frames offset?')


def _checked_tubes(gt: Mapping, tubes: Mapping, videos: Sequence[str], source: str
                   ) -> Dict[str, List[Tube]]:
    """The tubes of ``videos`` as (label, score, (L, 5) array), checked like rows."""
    num_classes = len(gt['labels'])
    unknown = sorted(set(map(str, tubes)) - set(gt['gttubes']))
    if unknown:
        raise ValueError(f'{source}: tubes of {len(unknown)} video(s) that the ground truth '
                         f'does not have, e.g. {unknown[:3]}')
    checked = {}
    for video in videos:
        checked[video] = []
        for label, score, tube in tubes.get(video, ()):
            tube = np.asarray(tube, dtype=np.float64)
            if tube.ndim != 2 or tube.shape[1] < 5:
                raise ValueError(f'{source}: a tube of {video!r} is not (L, 5+) rows')
            if not (np.isfinite(float(score)) and np.isfinite(tube[:, :5]).all()):
                raise ValueError(f'{source}: a tube of {video!r} has a NaN or infinite score '
                                 'or box')
            if not 0 <= int(label) < num_classes:
                raise ValueError(f'{source}: tube label {label} of {video!r} is outside '
                                 f'[0, {num_classes}), the ground truth\'s classes')
            last = gt.get('nframes', {}).get(video, np.inf)
            if len(tube) and (tube[0, 0] < 1 or tube[-1, 0] > last):
                raise ValueError(f'{source}: a tube of {video!r} spans frames '
                                 f'{tube[0, 0]:g}..{tube[-1, 0]:g}, outside the video\'s '
                                 f'1..{last}: frames offset?')
            checked[video].append((int(label), float(score), tube[:, :5]))
    return checked


def check_plausible(gt: Mapping, dets: np.ndarray, videos: Sequence[str], source: str,
                    bare: bool = False) -> None:
    """Raise when the detections look numbered differently from the ground truth.

    Args:
        gt: ACT ground truth.
        dets: (D, 8) checked rows indexing ``videos``.
        videos: The split.
        source: Named in errors.
        bare: The file names its videos only by index: also raise when no detection
            overlaps any ground-truth box (IoU >= 0.5).

    Raises:
        ValueError: a class order that disagrees with the ground truth's (fewer than half of
            the ground-truth boxes best detected with their own class, and a permutation of
            the classes explaining at least twice as many), frames that agree better with the
            ground truth one frame away (20 % more boxes found, and 5 more), or, for ``bare``,
            no overlap at all among 50 or more detections.
    """
    labels = list(gt['labels'])
    found, det_label, gt_label = _best_detections(gt, dets, videos, 0)
    if bare and len(dets) >= 50 and not found.any():
        raise ValueError(f'{source}: none of its {len(dets)} detections overlaps a ground-truth '
                         'box (IoU >= 0.5): detections of another dataset or split?')
    if found.sum() >= MIN_EVIDENCE:
        confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
        np.add.at(confusion, (gt_label[found], det_label[found]), 1)
        own = np.trace(confusion) / found.sum()
        mapped = confusion.max(axis=1).sum() / found.sum()
        if own < 0.5 and mapped >= 2 * own:
            g = int(np.argmax(confusion.sum(axis=1) - np.diag(confusion)))
            d = int(np.argmax(confusion[g]))
            raise ValueError(
                f'{source}: its class order does not look like the ground truth\'s: only '
                f'{own:.0%} of the ground-truth boxes are best detected with their own class, '
                f'{mapped:.0%} under a reordering, e.g. {labels[g]!r} mostly as label {d} '
                f'({labels[d]!r}); classes are 0-based in the order of the ground truth\'s '
                '"labels" here')
    hits = {k: int(_best_detections(gt, dets, videos, k, same_class=True)[0].sum())
            for k in (-1, 0, 1)}
    for k in (-1, 1):
        if hits[k] > 1.2 * hits[0] + 5:
            raise ValueError(
                f'{source}: its frames agree better with the ground truth {abs(k)} frame '
                f'{"earlier" if k < 0 else "later"} ({hits[k]} ground-truth boxes found '
                f'against {hits[0]}): frames are 1-based here (numbered from 0, or offset?)')


def _best_detections(gt: Mapping, dets: np.ndarray, videos: Sequence[str], shift: int,
                     same_class: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each ground-truth box of ``videos``: whether a detection ``shift`` frames later
    overlaps it with IoU >= 0.5 (of its class if ``same_class``), and the label of the
    highest-scored such detection: (G,) bool, (G,) int64 labels (-1 for none), (G,) ground
    truth labels."""
    gt_label, gt_video, gt_frame, gt_boxes = ground_truth_boxes(gt, videos)
    det_place = dets[:, :2].astype(np.int64) + np.array([0, shift])
    gt_key, det_key = frame_keys(np.column_stack([gt_video, gt_frame]), det_place)
    order = np.argsort(-dets[:, 3], kind='stable')
    pairs = frame_box_pairs(det_key[order], dets[order, 4:8], gt_key, gt_boxes, plus_one=False)
    det_label = dets[order, 2].astype(np.int64)[pairs.det]
    ok = pairs.iou >= 0.5
    if same_class:
        ok &= det_label == gt_label[pairs.gt]
    best = np.full(len(gt_label), -1, dtype=np.int64)
    # Pairs run by ranked detection: the first pair of a ground truth is its best-scored.
    gts, first = np.unique(pairs.gt[ok], return_index=True)
    best[gts] = det_label[ok][first]
    return best >= 0, best, gt_label
