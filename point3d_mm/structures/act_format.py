"""Reading, checking and writing the ACT ground-truth format.

The format of the JHMDB-21 and UCF101-24 releases used by ACT, MOC and YOWO: a pickle of a
dict with

* ``labels``: list of class names (index = label),
* ``gttubes``: ``{video: {label: [ndarray (N, 5) of frame (1-based), x1, y1, x2, y2]}}``,
* ``nframes``: ``{video: int}``, ``resolution``: ``{video: (h, w)}``,
* ``train_videos`` / ``test_videos``: lists of splits, each a list of video names.

The public files are Python 2 protocol-0 pickles (strings decode as latin1, label keys may be
``np.int64``, names ``np.str_``); :func:`load_act` returns them with plain Python keys and
float32 tubes so every user sees one form.

This module is the one loader (:func:`load_act`), writer (:func:`dump_act`) and checker
(:func:`act_content_problems`, :func:`video_problems`) of the format. The checker lists every
problem
with the video and frame it concerns instead of stopping at the first one:

* the file: missing keys, keys of the wrong type;
* per video: no ``nframes``/``resolution`` entry or a malformed one, label indices outside
  ``labels``, tubes that are not (N, 5) arrays, tube frames outside ``1..nframes``, repeated
  frames or gaps inside a tube, inverted boxes (``x2 < x1`` or ``y2 < y1``), boxes outside the
  image, non-finite coordinates;
* the splits: ``train_videos``/``test_videos`` of different lengths, a video in both the train
  and the test list of one split, a video listed twice, a listed video without annotation.

Boxes may use either pixel convention: the public JHMDB-21/UCF101-24 files hold inclusive
integer pixel indices (largest ``x2`` = 319 on 320-wide frames), CVAT exports continuous
coordinates (``x2`` up to 320), so a box is inside the image when ``0 <= x1``, ``x2 <= w``
(and likewise in y). Pure numpy.
"""
import os
import pickle
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..utils.fileio import atomic_write
from ..utils.safe_pickle import safe_pickle_load

ACT_KEYS = ('labels', 'gttubes', 'nframes', 'resolution', 'train_videos', 'test_videos')
#: The optional key of a validation file (:func:`validation_act`): the file it was held out
#: from. Its ``test_videos`` are then validation videos, never test videos.
VALIDATION_KEY = 'validation_of'


def load_act(path: Union[str, os.PathLike],
             required: Sequence[str] = ACT_KEYS) -> Dict:
    """Load an ACT pickle through the restricted unpickler and normalise its types.

    Args:
        path: The pickle file.
        required: Keys that must be present (a test-only file may lack ``train_videos``).

    Returns:
        The ACT dict with ``str`` video names and class names, ``int`` label keys and
        ``nframes``, ``(int, int)`` resolutions, float32 (N, 5) tubes sorted by frame and
        lists of lists of ``str`` splits. Keys outside :data:`ACT_KEYS` and
        :data:`VALIDATION_KEY` are dropped.

    Raises:
        ValueError: the file is not a readable pickle of a dict, lacks a required key or has
            a key of the wrong shape; the message names the file.
    """
    path = os.fspath(path)
    data = safe_pickle_load(path)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: an ACT annotation pickle holds a dict with keys '
                         f'{", ".join(ACT_KEYS)}; got {type(data).__name__}')
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f'{path}: ACT annotation pickle lacks key(s) '
                         f'{", ".join(repr(k) for k in missing)} (has '
                         f'{", ".join(repr(str(k)) for k in data)})')
    try:
        return normalise_act(data)
    except (TypeError, ValueError, AttributeError, OverflowError) as error:
        # OverflowError: a frame count or coordinate too large for an int or a float32
        raise ValueError(f'{path}: malformed ACT annotation pickle: {error}') from None


def normalise_act(data: Dict) -> Dict:
    """Return ``data`` (an ACT dict) with plain Python keys and float32 sorted tubes."""
    act: Dict = {'labels': [str(name) for name in data.get('labels', [])]}
    act['gttubes'] = {}
    for video, tubes in data.get('gttubes', {}).items():
        if not isinstance(tubes, dict):
            raise TypeError(f"gttubes['{video}'] is a {type(tubes).__name__}, not a dict "
                            '{label: [tube, ...]}')
        act['gttubes'][str(video)] = {
            int(label): [_as_tube(tube, video) for tube in label_tubes]
            for label, label_tubes in sorted(tubes.items(), key=lambda kv: int(kv[0]))
        }
    act['nframes'] = {str(video): int(n) for video, n in data.get('nframes', {}).items()}
    act['resolution'] = {
        str(video): _as_resolution(shape, video)
        for video, shape in data.get('resolution', {}).items()
    }
    for key in ('train_videos', 'test_videos'):
        if key in data:
            act[key] = [[str(video) for video in split] for split in data[key]]
    if VALIDATION_KEY in data:
        act[VALIDATION_KEY] = str(data[VALIDATION_KEY])
    return act


def validation_act(act: Dict, val_videos: Sequence[Sequence[str]], source: str) -> Dict:
    """The validation file of ``act``: its splits' test lists become ``val_videos`` and
    its train lists lose them.

    Settings are chosen on such a file (the evaluators, ``tune_linker.py``) so that no test
    video chooses anything; the file records where it came from (:data:`VALIDATION_KEY`).

    Args:
        act: An ACT dict (normalised).
        val_videos: Per split, the validation videos: annotated in ``act``, and (when held out
            of the training videos) removed from that split's train list.
        source: The file ``act`` was read from (its name is recorded).

    Raises:
        ValueError: a split count that differs from ``act``'s, a validation video without
            annotation, or one that is a test video of its split.
    """
    train_splits = act.get('train_videos', [[] for _ in val_videos])
    test_splits = act.get('test_videos', [[] for _ in val_videos])
    if len(val_videos) != len(train_splits):
        raise ValueError(f'{source}: {len(train_splits)} split(s) but validation videos for '
                         f'{len(val_videos)}')
    out = {'labels': act['labels'], 'train_videos': [], 'test_videos': []}
    for number, (train, test, val) in enumerate(zip(train_splits, test_splits, val_videos), 1):
        unknown = [v for v in val if v not in act['nframes']]
        leaked = sorted(set(val) & set(test))
        if unknown or leaked:
            raise ValueError(f'{source}: split {number}: validation videos '
                             + (f'without annotation {unknown[:5]} ' if unknown else '')
                             + (f'that are test videos {leaked[:5]}' if leaked else ''))
        held_out = set(val)
        out['train_videos'].append([v for v in train if v not in held_out])
        out['test_videos'].append(list(val))
    # the annotation of videos that no split trains or validates on (a one-split dataset's
    # test videos) stays out, so that nothing reading this file can use it
    kept = {v for split in out['train_videos'] + out['test_videos'] for v in split}
    for key in ('gttubes', 'nframes', 'resolution'):
        out[key] = {v: value for v, value in act[key].items() if v in kept}
    out[VALIDATION_KEY] = os.path.basename(os.fspath(source))
    return out


def is_validation_act(act: Mapping) -> bool:
    """Whether an ACT dict is a validation file (:func:`validation_act`)."""
    return VALIDATION_KEY in act


def _as_resolution(shape, video: str) -> Tuple[int, int]:
    try:
        return int(shape[0]), int(shape[1])
    except (TypeError, ValueError, KeyError, IndexError, OverflowError):
        raise ValueError(f"the resolution of video '{video}' is {shape!r}, expected "
                         '(height, width)') from None


def _as_tube(tube: np.ndarray, video: str) -> np.ndarray:
    tube = np.asarray(tube, dtype=np.float32)
    if tube.ndim != 2 or tube.shape[1] != 5:
        raise ValueError(f"a tube of video '{video}' has shape {tube.shape}, "
                         'expected (N, 5) rows of frame, x1, y1, x2, y2')
    return tube[np.argsort(tube[:, 0], kind='stable')]


def dump_act(act: Dict, path: Union[str, os.PathLike]) -> None:
    """Write an ACT dict as a pickle (protocol 4; readable by :func:`load_act`).

    Only builtins and numpy arrays are written, so the file loads through the restricted
    unpickler. The write is atomic: a crash never leaves a truncated file.
    """
    atomic_write(pickle.dumps(normalise_act(act), protocol=4), os.fspath(path))


#: The kinds of problem, in report order.
PROBLEM_KINDS = ('missing_key', 'malformed', 'missing_entry', 'label_range', 'frame_range',
                 'tube_gap', 'box_inverted', 'box_outside', 'split_overlap',
                 'split_duplicate', 'unknown_video', 'frames_missing', 'frame_count',
                 'image_unreadable', 'image_size')


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


def act_content_problems(data: Mapping) -> Tuple[List[Problem], Dict[str, Tuple]]:
    """Every problem of an (unpickled, not yet normalised) ACT dict; see the module doc.

    Args:
        data: The dict as unpickled (keys may be ``np.str_``, labels ``np.int64``).

    Returns:
        The problems, in the order of :data:`PROBLEM_KINDS` and then of the videos, and
        ``{video: (nframes, (h, w))}`` (None where missing or malformed) of every video.
    """
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
    return sort_problems(problems), sizes


def sort_problems(problems: List[Problem]) -> List[Problem]:
    """``problems`` in the order of :data:`PROBLEM_KINDS` (stable: videos keep theirs)."""
    order = {kind: i for i, kind in enumerate(PROBLEM_KINDS)}
    return sorted(problems, key=lambda p: order[p.kind])


#: The problems that make a video unusable for training and testing (the others, gaps or
#: boxes a pixel outside the image, are reported by ``tools/data/validate_dataset.py``).
_UNUSABLE = ('missing_entry', 'label_range', 'frame_range')


def video_problems(act: Dict, video: str) -> List[Problem]:
    """What makes one video of a normalised ACT dict (:func:`load_act`) unusable: a missing
    ``nframes``/``resolution`` entry, a label outside ``labels``, tube frames outside
    1..nframes. Empty when it is usable."""
    problems: List[Problem] = []
    count, shape = _check_video_entry(video, act['nframes'], act['resolution'], problems)
    problems.extend(_check_tubes(video, act['gttubes'].get(video, {}), len(act['labels']),
                                 count, shape))
    return [p for p in problems if p.kind in _UNUSABLE]


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
        # the missing frames are one run: named by its ends, never listed (a corrupt frame
        # number of 1e12 would make a list of a trillion)
        missing = f'{before + 1}' if after == before + 2 else f'{before + 1}-{after - 1}'
        what = (f'repeats frame {after}' if after == before else
                f'jumps from frame {before} to {after} (frames {missing} missing)')
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


def format_ranges(numbers: Iterable[int], limit: int = 10) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``'1-3, 7, 9-10'`` (at most ``limit`` runs shown)."""
    runs: List[List[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    text = ', '.join(f'{a}' if a == b else f'{a}-{b}' for a, b in runs[:limit])
    return text + (f', ... ({len(runs) - limit} more runs)' if len(runs) > limit else '')
