"""The corrected UCF101-24 annotations (Singh et al.) to the ACT ground-truth format.

Source: ``pyannot_with_class_names.pkl`` and ``testlist01.txt`` of
https://github.com/gurkirt/corrected-UCF101-Annots. The pickle holds

* ``db``: ``{video: {'numf': frames, 'label': class, 'annotations': [{'sf', 'ef', 'label',
  'boxes'}]}}`` with video names like ``'Basketball/v_Basketball_g01_c01'``; one annotation
  is one actor's tube over frames ``sf`` (0-based, inclusive) to ``ef`` (exclusive), with
  ``ef - sf`` boxes ``(x, y, w, h)`` in 1-based pixels;
* ``trainvideos``: the train list (2290 names; 6 of them have no entry in ``db``);
* ``classes``: the 24 class names, in label order.

``numf`` and ``boxes`` are uint8/uint16 arrays, so arithmetic on them wraps around: they are
cast to int64 first.

The ACT ``UCF101v2-GT.pkl`` (used by ACT, MOC, YOWO) was made from this file. Comparing it
with the real ACT sample gives its rules, which :func:`corrected_to_act` follows:

* tube rows are frames ``sf + 1 .. ef`` (1-based) and boxes
  ``(x - 1, y - 1, x + w - 1, y + h - 1)``: 0-based inclusive pixel indices, the JHMDB-21
  convention;
* ``labels`` is ``classes`` unchanged; a tube's label is its annotation's ``label``; the
  tubes of a label keep the annotation order;
* ``nframes`` is ``numf``; ``resolution`` is (240, 320) for every video (all UCF101 videos are
  320x240);
* test videos are those of ``testlist01.txt`` (910), train videos those of ``trainvideos``
  that ``db`` annotates (2284): the 6 train videos without annotation cannot be used (no frame
  count, no tubes) and are left out.

The split membership of mmaction2's 3-video sample of the ACT file does *not* follow any
UCF101 split (``WalkingWithDog/v_WalkingWithDog_g05_c02``, in ``testlist01.txt`` and absent
from ``trainvideos``, is listed there as a train video, and
``SalsaSpin/v_SalsaSpin_g11_c02``, a train video, as a test video; its 3 splits are copies):
that sample's splits were made for a unit test, so its tubes, frame counts, labels and
resolution are reproduced here but its splits are not.
"""
import os
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

from ...structures.act_format import normalise_act, raise_on_problems
from ...utils.safe_pickle import safe_pickle_load
from .dataset_check import validate_act

#: (height, width) of every UCF101 video.
UCF101_RESOLUTION = (240, 320)
CORRECTED_KEYS = ('db', 'trainvideos', 'classes')


def load_corrected_annotations(path: Union[str, os.PathLike]) -> Dict:
    """Read ``pyannot_with_class_names.pkl`` through the restricted unpickler.

    Raises:
        ValueError: the file is not a readable pickle of a dict with ``db``, ``trainvideos``
            and ``classes`` (the message names the file).
    """
    path = os.fspath(path)
    data = safe_pickle_load(path)
    if not isinstance(data, dict) or not set(CORRECTED_KEYS) <= set(map(str, data)):
        keys = ', '.join(sorted(map(str, data))) if isinstance(data, dict) else ''
        raise ValueError(f'{path}: not the corrected UCF101-24 annotations: expected a dict '
                         f'with keys {", ".join(CORRECTED_KEYS)}, got a '
                         f'{type(data).__name__} {keys}'.rstrip())
    return {str(key): value for key, value in data.items()}


def read_name_list(path: Union[str, os.PathLike]) -> List[str]:
    """Names in a text file, one per line (``testlist01.txt``, labels); blank lines skipped."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def annotation_to_tube(annotation: Mapping, video: str, index: int) -> np.ndarray:
    """One corrected annotation as an ACT tube.

    Args:
        annotation: ``{'sf', 'ef', 'boxes' (ef - sf, 4) of x, y, w, h}``.
        video: The video name, for messages.
        index: The annotation's index in the video, for messages.

    Returns:
        float32 (ef - sf, 5) rows ``frame (sf+1 .. ef), x - 1, y - 1, x + w - 1, y + h - 1``.

    Raises:
        ValueError: the number of boxes is not ``ef - sf``.
    """
    start, end = int(annotation['sf']), int(annotation['ef'])
    boxes = np.asarray(annotation['boxes']).astype(np.int64)  # uint8/uint16 would wrap
    if boxes.ndim != 2 or boxes.shape != (end - start, 4):
        raise ValueError(f"video '{video}' annotation {index}: boxes have shape "
                         f'{boxes.shape}, expected ({end - start}, 4) for frames sf={start} '
                         f'to ef={end}')
    x, y, w, h = boxes.T
    frames = np.arange(start + 1, end + 1)
    return np.stack([frames, x - 1, y - 1, x + w - 1, y + h - 1], axis=1).astype(np.float32)


def corrected_to_act(annots: Mapping, test_videos: Sequence[str],
                     resolution: Tuple[int, int] = UCF101_RESOLUTION, num_splits: int = 1,
                     source: str = 'corrected UCF101-24 annotations') -> Tuple[Dict, List[str]]:
    """Build the ACT ground truth of UCF101-24 from the corrected annotations.

    Args:
        annots: The unpickled ``pyannot_with_class_names.pkl`` dict.
        test_videos: The test list (``testlist01.txt``).
        resolution: (h, w) of every video.
        num_splits: Copies of the one split in ``train_videos``/``test_videos`` (the ACT
            file and MOC use split 1 only; mmaction2's sample carries 3 copies).
        source: Name used in error messages (the file).

    Returns:
        The normalised ACT dict, and the listed videos left out because ``db`` does not
        annotate them (the 6 train videos of the public file).

    Raises:
        ValueError: an annotation's boxes do not match its frames, an entry lacks a key or
            has one of the wrong type, or the result has a problem
            (:func:`~point3d_mm.datasets.preparation.dataset_check.validate_act`); the message
            names the source (and the video).
    """
    try:
        act, dropped = _convert(annots, test_videos, resolution, num_splits)
    except ValueError as error:
        raise ValueError(f'{source}: {error}') from None
    except (KeyError, TypeError, AttributeError, IndexError, OverflowError) as error:
        # a file of another layout, or a damaged one: a key missing, a value of another type
        raise ValueError(f'{source}: not the corrected UCF101-24 layout: '
                         f'{type(error).__name__}: {error}') from None
    raise_on_problems(validate_act(act), source)
    return act, dropped


def _convert(annots: Mapping, test_videos: Sequence[str], resolution: Tuple[int, int],
             num_splits: int) -> Tuple[Dict, List[str]]:
    """:func:`corrected_to_act` before the check of its result."""
    db = {str(video): entry for video, entry in annots['db'].items()}
    gttubes: Dict[str, Dict[int, List[np.ndarray]]] = {}
    for video in sorted(db):
        tubes: Dict[int, List[np.ndarray]] = {}
        for index, annotation in enumerate(db[video]['annotations']):
            tube = annotation_to_tube(annotation, video, index)
            tubes.setdefault(int(annotation['label']), []).append(tube)
        gttubes[video] = tubes
    test = [str(video) for video in test_videos]
    test_set = set(test)
    train = [str(video) for video in annots['trainvideos'] if str(video) not in test_set]
    dropped = [video for video in train + test if video not in db]
    train = [video for video in train if video in db]
    test = [video for video in test if video in db]
    act = normalise_act(dict(
        labels=[str(name) for name in annots['classes']], gttubes=gttubes,
        nframes={video: int(db[video]['numf']) for video in gttubes},
        resolution={video: tuple(resolution) for video in gttubes},
        train_videos=[list(train) for _ in range(num_splits)],
        test_videos=[list(test) for _ in range(num_splits)]))
    return act, dropped
