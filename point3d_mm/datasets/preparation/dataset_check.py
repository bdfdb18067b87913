"""Checking an ACT-format dataset: one report of everything wrong with it.

:func:`validate_act_file` reads an ACT ground-truth pickle (see
:mod:`point3d_mm.datasets.act_format`) and, optionally, the frame folders, and lists every
problem with the video and frame it concerns, instead of stopping at the first one:

* the file: missing keys, keys of the wrong type;
* per video: no ``nframes``/``resolution`` entry or a malformed one, label indices outside
  ``labels``, tubes that are not (N, 5) arrays, tube frames outside ``1..nframes``, repeated
  frames or gaps inside a tube, inverted boxes (``x2 < x1`` or ``y2 < y1``), boxes outside the
  image, non-finite coordinates;
* the splits: ``train_videos``/``test_videos`` of different lengths, a video in both the train
  and the test list of one split, a video listed twice, a listed video without annotation;
* on disk (``frames_root``): missing frame folders, missing frames, more frames than
  ``nframes``, images that cannot be decoded or whose size differs from ``resolution``.

Boxes may use either pixel convention: the public JHMDB-21/UCF101-24 files hold inclusive
integer pixel indices (largest ``x2`` = 319 on 320-wide frames), CVAT exports continuous
coordinates (``x2`` up to 320), so a box is inside the image when ``0 <= x1``, ``x2 <= w``
(and likewise in y).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from point3d_mm.utils.safe_pickle import safe_pickle_load
from .act_format import ACT_KEYS
from .frame_extraction import FRAME_TMPL, format_ranges, frame_numbers

#: The kinds of problem, in report order.
PROBLEM_KINDS = ('missing_key', 'malformed', 'missing_entry', 'label_range', 'frame_range',
                 'tube_gap', 'box_inverted', 'box_outside', 'split_overlap',
                 'split_duplicate', 'unknown_video', 'frames_missing', 'frame_count',
                 'image_unreadable', 'image_size')
IMAGE_CHECKS = ('all', 'first', 'none')


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset.

    Attributes:
        kind: One of :data:`PROBLEM_KINDS`.
        message: What is wrong (without the video name, which ``str()`` adds).
        video: The video concerned, None for the file as a whole.
        frame: The (first) frame concerned, 1-based, or None.
    """
    kind: str
    message: str
    video: Optional[str] = None
    frame: Optional[int] = None

    def __str__(self) -> str:
        where = '' if self.video is None else f"video '{self.video}'"
        if self.frame is not None:
            where += f' frame {self.frame}'
        return f'[{self.kind}] ' + (f'{where}: ' if where else '') + self.message


def load_act_for_validation(path: str) -> Dict:
    """Read a pickle that should hold an ACT ground truth, failing only if it cannot be one.

    Raises:
        ValueError: the file is truncated or not a pickle, does not hold a dict, or holds a
            dict with none of the ACT keys (the message names the file).
        FileNotFoundError: the file does not exist.
    """
    data = safe_pickle_load(path)  # names the file when truncated or corrupt
    if not isinstance(data, dict):
        raise ValueError(f'{path}: not an ACT ground truth: the pickle holds a '
                         f'{type(data).__name__}, expected a dict with keys '
                         f'{", ".join(ACT_KEYS)}')
    if not set(ACT_KEYS) & set(map(str, data)):
        raise ValueError(f'{path}: not an ACT ground truth: the dict has keys '
                         f'{", ".join(sorted(map(str, data)))[:200]}, expected '
                         f'{", ".join(ACT_KEYS)}')
    return data


def validate_act_file(path: str, frames_root: Optional[str] = None,
                      filename_tmpl: str = FRAME_TMPL, check_images: str = 'all'
                      ) -> List[Problem]:
    """Every problem of an ACT pickle and, with ``frames_root``, of its frame folders.

    Args:
        path: The ACT pickle.
        frames_root: Folder of the frame folders ``<frames_root>/<video>/``; None skips the
            checks on disk.
        filename_tmpl: Frame file name template (1-based frame number).
        check_images: Decode 'all' frames, the 'first' of each video, or 'none'.

    Returns:
        The problems, empty for a clean dataset.

    Raises:
        ValueError: the file is not a readable pickle of a dict with ACT keys.
    """
    return validate_act(load_act_for_validation(path), frames_root, filename_tmpl,
                        check_images)


def validate_act(data: Mapping, frames_root: Optional[str] = None,
                 filename_tmpl: str = FRAME_TMPL, check_images: str = 'all') -> List[Problem]:
    """Every problem of an (unpickled, not yet normalised) ACT dict; see the module doc.

    Args:
        data: The dict as unpickled (keys may be ``np.str_``, labels ``np.int64``).
        frames_root: See :func:`validate_act_file`.
        filename_tmpl: See :func:`validate_act_file`.
        check_images: See :func:`validate_act_file`.

    Returns:
        The problems, in the order of :data:`PROBLEM_KINDS` and then of the videos.
    """
    if check_images not in IMAGE_CHECKS:
        raise ValueError(f'check_images must be one of {IMAGE_CHECKS}, got {check_images!r}')
    data = {str(key): value for key, value in data.items()}
    problems = [Problem('missing_key', f"the file has no '{key}' key")
                for key in ACT_KEYS if key not in data]
    labels = _typed(data, 'labels', (list, tuple), problems)
    gttubes = _typed(data, 'gttubes', dict, problems)
    nframes = _typed(data, 'nframes', dict, problems)
    resolution = _typed(data, 'resolution', dict, problems)
    gttubes, nframes, resolution = ({str(k): v for k, v in d.items()}
                                    for d in (gttubes, nframes, resolution))
    sizes = {video: _check_video_entry(video, nframes, resolution, problems)
             for video in sorted(set(gttubes) | set(nframes))}
    # Without a usable 'labels' list (already a problem) label indices cannot be checked.
    num_labels = len(labels) if isinstance(data.get('labels'), (list, tuple)) else None
    for video in sorted(gttubes):
        problems.extend(_check_tubes(video, gttubes[video], num_labels, *sizes[video]))
    problems.extend(_check_splits(data, set(nframes) | set(gttubes)))
    if frames_root is not None:
        for video in sorted(nframes):
            count, shape = sizes[video]
            if count is not None:
                problems.extend(_check_frames(video, osp.join(frames_root, video), count,
                                              shape, filename_tmpl, check_images))
    order = {kind: i for i, kind in enumerate(PROBLEM_KINDS)}
    return sorted(problems, key=lambda p: order[p.kind])  # stable: videos keep their order


def raise_on_problems(problems: Sequence[Problem], source: str, limit: int = 20) -> None:
    """Raise one ValueError listing the problems (the first ``limit``), if there are any."""
    if problems:
        shown = '\n  '.join(map(str, problems[:limit]))
        more = f'\n  ... and {len(problems) - limit} more' if len(problems) > limit else ''
        raise ValueError(f'{source}: {len(problems)} problem(s):\n  {shown}{more}')


def _typed(data: Mapping, key: str, kind, problems: List[Problem]):
    """``data[key]`` if it has the expected type, else an empty one (and a problem)."""
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        problems.append(Problem('malformed', f"'{key}' is a {type(value).__name__}, "
                                f"expected a {getattr(kind, '__name__', 'list')}"))
        value = None
    return value if value is not None else ({} if kind is dict else [])


def _check_video_entry(video: str, nframes: Mapping, resolution: Mapping,
                       problems: List[Problem]) -> Tuple[Optional[int], Optional[Tuple]]:
    """The video's frame count and (h, w), None where missing or malformed (a problem)."""
    count = shape = None
    if video not in nframes:
        problems.append(Problem('missing_entry', "no entry in 'nframes'", video))
    elif not _is_int(nframes[video]) or int(nframes[video]) < 1:
        problems.append(Problem('malformed', f"nframes is {nframes[video]!r}, expected a "
                                'positive integer', video))
    else:
        count = int(nframes[video])
    if video not in resolution:
        problems.append(Problem('missing_entry', "no entry in 'resolution'", video))
    else:
        value = resolution[video]
        if (isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2
                and all(_is_int(v) and int(v) > 0 for v in value)):
            shape = (int(value[0]), int(value[1]))
        else:
            problems.append(Problem('malformed', f'resolution is {value!r}, expected '
                                    '(height, width)', video))
    return count, shape


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_tubes(video: str, tubes, num_labels: Optional[int], nframes: Optional[int],
                 shape: Optional[Tuple[int, int]]) -> Iterator[Problem]:
    """Problems of one video's ``{label: [tube, ...]}``."""
    if not isinstance(tubes, dict):
        yield Problem('malformed', f'gttubes entry is a {type(tubes).__name__}, expected a '
                      'dict {label: [tube, ...]}', video)
        return
    for label, label_tubes in tubes.items():
        if num_labels is not None and not (_is_int(label) and 0 <= int(label) < num_labels):
            yield Problem('label_range', f'label {label!r} is not an index into the '
                          f'{num_labels} labels', video)
        if not isinstance(label_tubes, (list, tuple)):
            yield Problem('malformed', f'tubes of label {label} are a '
                          f'{type(label_tubes).__name__}, expected a list of arrays', video)
            continue
        for index, tube in enumerate(label_tubes):
            name = f'tube {index} of label {label}'
            tube = np.asarray(tube)
            if tube.ndim != 2 or tube.shape[1] != 5 or not len(tube) or not np.issubdtype(
                    tube.dtype, np.number):
                yield Problem('malformed', f'{name} has shape {tube.shape} and dtype '
                              f'{tube.dtype}, expected (N >= 1, 5) numbers', video)
                continue
            yield from _check_tube(video, name, tube.astype(np.float64), nframes, shape)


def _check_tube(video: str, name: str, tube: np.ndarray, nframes: Optional[int],
                shape: Optional[Tuple[int, int]]) -> Iterator[Problem]:
    """Problems of one (N, 5) tube of rows frame, x1, y1, x2, y2."""
    finite = np.isfinite(tube).all(axis=1)
    if not finite.all():
        yield Problem('malformed', f'{name} has non-finite values in '
                      f'{int((~finite).sum())} rows', video, _first_frame(tube, ~finite))
        tube = tube[finite]
    tube = tube[np.argsort(tube[:, 0], kind='stable')]
    frames = tube[:, 0]
    if (frames != np.round(frames)).any():
        yield Problem('malformed', f'{name} has non-integer frame numbers', video,
                      _first_frame(tube, frames != np.round(frames)))
    if nframes is not None:
        outside = (frames < 1) | (frames > nframes)
        if outside.any():
            yield Problem('frame_range', f'{name} has {int(outside.sum())} frames outside '
                          f'1..{nframes}: {format_ranges(frames[outside].astype(int))}',
                          video, _first_frame(tube, outside))
    steps = np.diff(frames)
    for step_index in np.nonzero(steps != 1)[0][:5]:
        before, after = int(frames[step_index]), int(frames[step_index + 1])
        what = (f'repeats frame {after}' if after == before else
                f'jumps from frame {before} to {after} (frames '
                f'{format_ranges(range(before + 1, after))} missing)')
        yield Problem('tube_gap', f'{name} {what}', video, after)
    x1, y1, x2, y2 = tube[:, 1:].T
    inverted = (x2 < x1) | (y2 < y1)
    if inverted.any():
        yield Problem('box_inverted', f'{name} has {int(inverted.sum())} boxes with x2 < x1 '
                      f'or y2 < y1, first {tube[inverted][0, 1:].tolist()}', video,
                      _first_frame(tube, inverted))
    if shape is not None:
        height, width = shape
        outside = (x1 < 0) | (y1 < 0) | (x2 > width) | (y2 > height)
        if outside.any():
            yield Problem('box_outside', f'{name} has {int(outside.sum())} boxes outside the '
                          f'{width}x{height} (w x h) image, first '
                          f'{tube[outside][0, 1:].tolist()}', video,
                          _first_frame(tube, outside))


def _first_frame(tube: np.ndarray, mask: np.ndarray) -> int:
    return int(tube[mask][0, 0])


def _check_splits(data: Mapping, annotated: set) -> Iterator[Problem]:
    """Problems of ``train_videos``/``test_videos``."""
    lists = {}
    for key in ('train_videos', 'test_videos'):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(split, (list, tuple)) for split in value):
            yield Problem('malformed', f"'{key}' is not a list of splits (lists of video "
                          'names)')
            continue
        lists[key] = [[str(video) for video in split] for split in value]
    if len(lists) == 2 and len(lists['train_videos']) != len(lists['test_videos']):
        yield Problem('malformed', f"'train_videos' has {len(lists['train_videos'])} splits "
                      f"but 'test_videos' has {len(lists['test_videos'])}")
    for key, splits in lists.items():
        for number, split in enumerate(splits, 1):
            seen = set()
            for video in split:
                if video in seen:
                    yield Problem('split_duplicate', f"listed twice in split {number} of "
                                  f"'{key}'", video)
                seen.add(video)
                if video not in annotated:
                    yield Problem('unknown_video', f"in split {number} of '{key}' but has "
                                  "no 'nframes' or 'gttubes' entry", video)
    for number, (train, test) in enumerate(
            zip(lists.get('train_videos', []), lists.get('test_videos', [])), 1):
        for video in sorted(set(train) & set(test)):
            yield Problem('split_overlap', f'in both the train and the test videos of split '
                          f'{number}', video)


def _check_frames(video: str, frame_dir: str, nframes: int,
                  shape: Optional[Tuple[int, int]], filename_tmpl: str,
                  check_images: str) -> Iterator[Problem]:
    """Problems of one video's frame folder."""
    try:
        numbers = frame_numbers(frame_dir, filename_tmpl)
    except FileNotFoundError:
        yield Problem('frames_missing', f'frame folder {frame_dir} does not exist', video)
        return
    present = set(numbers)
    missing = [f for f in range(1, nframes + 1) if f not in present]
    if missing:
        yield Problem('frames_missing', f'{len(missing)} of {nframes} frames missing in '
                      f'{frame_dir}: {format_ranges(missing)}', video, missing[0])
    extra = [f for f in numbers if f > nframes]
    if extra:
        yield Problem('frame_count', f'{frame_dir} has frames up to '
                      f'{filename_tmpl.format(numbers[-1])} but nframes is {nframes}', video,
                      extra[0])
    to_read = {'all': [f for f in numbers if f <= nframes], 'first': numbers[:1],
               'none': []}[check_images]
    size_reported = False
    for frame in to_read:
        path = osp.join(frame_dir, filename_tmpl.format(frame))
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            yield Problem('image_unreadable', f'{path} cannot be decoded as an image', video,
                          frame)
        elif shape is not None and img.shape[:2] != shape and not size_reported:
            size_reported = True  # one per video: all frames of a video share a size
            yield Problem('image_size', f'{path} is {img.shape[1]}x{img.shape[0]} (w x h), '
                          f'the resolution entry says {shape[1]}x{shape[0]}', video, frame)
