"""Frame-detection rows: the one home of the test split, the check of rows, their alignment
to a split and their conversion from and to model predictions (pure numpy).

A frame detection is a row ``video_index, frame, label, score, x1, y1, x2, y2`` of a (D, 8)
float array: ``video_index`` indexes a list of video names (a test split, or the names stored
with a detections file), ``frame`` is 1-based as in the ACT ground truth, ``label`` 0-based
in the order of the ground truth's ``labels``, boxes in pixels of the original frame.

Prediction fields may be numpy arrays or tensors: anything with ``detach`` is moved to the
CPU and converted, without importing a framework here.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

#: The columns of a frame-detection row.
ROW_COLUMNS: Tuple[str, ...] = ('video_index', 'frame', 'label', 'score', 'x1', 'y1', 'x2',
                                'y2')


def split_videos(gt: Mapping, split: int = 1, source: Optional[str] = None) -> List[str]:
    """The test videos of a 1-based split, after checking the ground truth's structure.

    Args:
        gt: ACT ground truth (``labels``, ``gttubes``, ``test_videos``).
        split: 1-based index into ``test_videos``.
        source: The ground truth's file, named in errors.

    Raises:
        ValueError: naming ``source`` and what is missing or malformed.
    """
    where = f'{source}: ' if source else ''
    if not isinstance(gt, Mapping):
        raise ValueError(f'{where}expected an ACT ground-truth dict, got {type(gt).__name__}')
    missing = [k for k in ('labels', 'gttubes', 'test_videos') if k not in gt]
    if missing:
        raise ValueError(f'{where}not an ACT ground truth: no '
                         f'{", ".join(map(repr, missing))} key')
    if not 1 <= split <= len(gt['test_videos']):
        raise ValueError(f'{where}split {split} does not exist: the ground truth has '
                         f'{len(gt["test_videos"])} test split(s)')
    videos = [str(v) for v in gt['test_videos'][split - 1]]
    unknown = [v for v in videos if v not in gt['gttubes']]
    if unknown:
        raise ValueError(f'{where}test video {unknown[0]!r} has no entry in "gttubes"')
    return videos


def check_rows(detections: Any, num_videos: Optional[int] = None,
               num_classes: Optional[int] = None, source: str = 'detections') -> np.ndarray:
    """Frame detections as a checked (D, 8) float64 array.

    Args:
        detections: (D, 8) rows (module docstring); an empty array of any shape is none.
        num_videos: If given, video indices must lie in [0, num_videos).
        num_classes: If given, labels must lie in [0, num_classes).
        source: What the rows are (a file name), named in errors.

    Raises:
        ValueError: one message naming ``source``: not (D, 8) numbers, a NaN or infinite
            value (a NaN score would otherwise sort first and could score as a true
            positive), a non-integer video index, frame or label, or one out of range.
    """
    try:
        dets = np.asarray(detections, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f'{source}: detections are not a (D, 8) array of numbers') from None
    if dets.size == 0:
        return np.zeros((0, 8))
    if dets.ndim != 2 or dets.shape[1] != 8:
        raise ValueError(f'{source}: detections must be (D, 8) rows {", ".join(ROW_COLUMNS)}; '
                         f'got shape {dets.shape}')
    bad = ~np.isfinite(dets)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f'{source}: {int(bad.any(axis=1).sum())} detection(s) hold NaN or '
                         f'infinite values, e.g. row {row} {ROW_COLUMNS[col]}={dets[row, col]}')
    whole = dets[:, :3] != np.round(dets[:, :3])
    if whole.any():
        row, col = np.argwhere(whole)[0]
        raise ValueError(f'{source}: {ROW_COLUMNS[col]} must be whole numbers, row {row} has '
                         f'{dets[row, col]:g}')
    for col, limit, what in ((0, num_videos, 'video indices must lie in [0, {}), the videos'),
                             (2, num_classes, "labels must lie in [0, {}), the ground truth's "
                                              'classes')):
        if limit is not None and (dets[:, col].min() < 0 or dets[:, col].max() >= limit):
            raise ValueError(f'{source}: detection {what.format(limit)}; got '
                             f'{dets[:, col].min():g}..{dets[:, col].max():g}')
    return dets


def align_rows(detections: np.ndarray, names: Optional[Sequence[str]], videos: Sequence[str],
               known: Optional[Mapping] = None, source: str = 'detections'
               ) -> Tuple[np.ndarray, List[str]]:
    """Renumber frame detections to index ``videos`` and drop those of other videos.

    Args:
        detections: (D, 8) rows whose ``video_index`` indexes ``names``.
        names: Video names of the detections; ``None`` when the indices already refer to
            ``videos`` (ACT's and mmaction2's bare arrays).
        videos: The evaluated videos (a test split).
        known: If given (the ground truth's ``gttubes``), a detection of a video that is not
            in it is an error: the file belongs to another dataset.
        source: Named in errors.

    Returns:
        ``(detections, outside)``: the (D', 8) kept rows, in input order, and the sorted names
        of the videos whose rows were dropped (of other splits).

    Raises:
        ValueError: video indices outside ``names`` (or ``videos``), or unknown videos.
    """
    dets = check_rows(detections, len(videos) if names is None else len(names), source=source)
    if names is None:
        return dets, []
    names = [str(name) for name in names]
    used = np.unique(dets[:, 0].astype(np.int64))
    if known is not None:
        unknown = [names[i] for i in used if names[i] not in known]
        if unknown:
            raise ValueError(f'{source}: {len(unknown)} of its {len(used)} videos are not in '
                             f'the ground truth (a file of another dataset?), e.g. '
                             f'{unknown[:3]}')
    index = {video: i for i, video in enumerate(videos)}
    remap = np.array([index.get(name, -1) for name in names] + [-1])
    new_index = remap[dets[:, 0].astype(np.int64)]
    kept = dets[new_index >= 0]
    kept[:, 0] = new_index[new_index >= 0]
    return kept, sorted({names[i] for i in used if remap[i] < 0})


def clip_rows(pred: Mapping, frame_ids: Sequence[int], key_frame_index: int = 0
              ) -> np.ndarray:
    """(M, 7) rows ``frame, label, score, x1, y1, x2, y2`` of one clip's predictions.

    Args:
        pred: ``labels`` (M,), ``scores`` (M,), ``bboxes`` (M, 4) and optionally
            ``frame_inds`` (M,) indexing ``frame_ids``; without it every box is on the key
            frame.
        frame_ids: The clip's (1-based) frame numbers.
        key_frame_index: Position of the key frame in ``frame_ids``.
    """
    bboxes = as_numpy(pred['bboxes']).reshape(-1, 4)
    frame_ids = np.asarray(frame_ids, dtype=np.int64)
    if 'frame_inds' in pred:
        frames = frame_ids[as_numpy(pred['frame_inds']).astype(np.int64).reshape(-1)]
    else:
        frames = np.full(len(bboxes), frame_ids[key_frame_index])
    return np.column_stack([frames, as_numpy(pred['labels']).reshape(-1),
                            as_numpy(pred['scores']).reshape(-1), bboxes]).astype(np.float64)


def rows_from_clips(clips: Sequence[Mapping], videos: Sequence[str]) -> np.ndarray:
    """(D, 8) rows of the clips of ``videos``, in (video, frame) order: when several clips
    report one frame, the rows of the first of them are kept.

    Args:
        clips: ``{'video': name, 'rows': (M, 7) clip_rows}`` per clip, in any order of videos;
            clips of other videos are left out.
        videos: The evaluated videos, indexed by the rows' ``video_index``.
    """
    index = {video: i for i, video in enumerate(videos)}
    parts = [np.column_stack([np.full(len(c['rows']), index[c['video']]),
                              np.full(len(c['rows']), i), c['rows']])
             for i, c in enumerate(clips) if c['video'] in index and len(c['rows'])]
    if not parts:
        return np.zeros((0, 8))
    rows = np.concatenate(parts)
    place = rows[:, 0] * (rows[:, 2].max() + 1) + rows[:, 2]
    _, first, owner = np.unique(place, return_index=True, return_inverse=True)
    rows = rows[rows[first[owner.ravel()], 1] == rows[:, 1]]
    rows = rows[np.lexsort((rows[:, 2], rows[:, 0]))]
    return np.delete(rows, 1, axis=1)


def rows_to_samples(detections: np.ndarray, videos: Sequence[str]) -> List[Dict]:
    """One predicted data sample per video, as a test loop hands them to the metrics: the
    inverse of :func:`clip_rows` and :func:`rows_from_clips`.

    Returns:
        ``{'video', 'frame_ids', 'key_frame_index': 0, 'pred_instances': {'labels',
        'scores', 'bboxes', 'frame_inds'}}`` per video, its frames in increasing order.
    """
    dets = check_rows(detections, len(videos))
    samples = []
    for index, video in enumerate(videos):
        rows = dets[dets[:, 0] == index]
        frame_ids, frame_inds = np.unique(rows[:, 1].astype(np.int64), return_inverse=True)
        samples.append(dict(video=video, frame_ids=frame_ids.tolist(), key_frame_index=0,
                            pred_instances=dict(labels=rows[:, 2].astype(np.int64),
                                                scores=rows[:, 3], bboxes=rows[:, 4:8],
                                                frame_inds=frame_inds.ravel())))
    return samples


def as_numpy(value: Any) -> np.ndarray:
    """A numpy array of ``value``; tensors are detached and moved to the CPU first."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
