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
"""
import os
import pickle
from typing import Dict, List, Sequence, Union

import numpy as np

from point3d_mm.utils.compat import atomic_write
from point3d_mm.utils.safe_pickle import safe_pickle_load

ACT_KEYS = ('labels', 'gttubes', 'nframes', 'resolution', 'train_videos', 'test_videos')


def load_act(path: Union[str, os.PathLike],
             required: Sequence[str] = ACT_KEYS) -> Dict:
    """Load an ACT pickle through the restricted unpickler and normalise its types.

    Args:
        path: The pickle file.
        required: Keys that must be present (a test-only file may lack ``train_videos``).

    Returns:
        The ACT dict with ``str`` video names and class names, ``int`` label keys and
        ``nframes``, ``(int, int)`` resolutions, float32 (N, 5) tubes sorted by frame and
        lists of lists of ``str`` splits. Keys outside :data:`ACT_KEYS` are dropped.

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
    except (TypeError, ValueError, AttributeError) as error:
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
        str(video): (int(shape[0]), int(shape[1]))
        for video, shape in data.get('resolution', {}).items()
    }
    for key in ('train_videos', 'test_videos'):
        if key in data:
            act[key] = [[str(video) for video in split] for split in data[key]]
    return act


def _as_tube(tube: np.ndarray, video: str) -> np.ndarray:
    tube = np.asarray(tube, dtype=np.float32)
    if tube.ndim != 2 or tube.shape[1] != 5:
        raise ValueError(f"a tube of video '{video}' has shape {tube.shape}, "
                         'expected (N, 5) rows of frame, x1, y1, x2, y2')
    return tube[np.argsort(tube[:, 0], kind='stable')]


def video_problems(act: Dict, video: str) -> List[str]:
    """List what is wrong with one video's annotation (empty when it is usable).

    Checks that ``nframes`` and ``resolution`` have the video, that label indices are valid
    and that every tube frame lies in 1..nframes.

    Args:
        act: A normalised ACT dict (:func:`load_act`).
        video: The video name.

    Returns:
        One sentence per problem, each naming the video.
    """
    problems = []
    for key in ('nframes', 'resolution'):
        if video not in act[key]:
            problems.append(f"video '{video}' has no entry in '{key}'")
    nframes = act['nframes'].get(video)
    for label, tubes in act['gttubes'].get(video, {}).items():
        if not 0 <= label < len(act['labels']):
            problems.append(f"video '{video}' has tubes of label {label}, outside the "
                            f"{len(act['labels'])} labels")
        for tube in tubes:
            if nframes is None or not len(tube):
                continue
            first, last = int(tube[0, 0]), int(tube[-1, 0])
            if first < 1 or last > nframes:
                problems.append(f"video '{video}' has a tube of label {label} with frames "
                                f'{first}..{last}, outside 1..{nframes}')
    return problems


def dump_act(act: Dict, path: Union[str, os.PathLike]) -> None:
    """Write an ACT dict as a pickle (protocol 4; readable by :func:`load_act`).

    Only builtins and numpy arrays are written, so the file loads through the restricted
    unpickler. The write is atomic: a crash never leaves a truncated file.
    """
    atomic_write(pickle.dumps(normalise_act(act), protocol=4), os.fspath(path))
