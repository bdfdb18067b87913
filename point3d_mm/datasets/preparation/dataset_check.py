"""Checking an ACT-format dataset on disk: one report of everything wrong with it.

:func:`validate_act_file` reads an ACT ground-truth pickle, lists every problem of its content
(:func:`point3d_mm.structures.act_format.act_content_problems`) and, with ``frames_root``,
of its frame folders: missing frame folders, missing frames, more frames than ``nframes``,
images that cannot be decoded or whose size differs from ``resolution``.
"""
import os.path as osp
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

from ...structures.act_format import (
    ACT_KEYS,
    Problem,
    act_content_problems,
    format_ranges,
    sort_problems,
)
from ...utils.safe_pickle import safe_pickle_load
from ...utils.video import FRAME_TMPL, CorruptFrameError, list_frames, read_frame

IMAGE_CHECKS = ('all', 'first', 'none')


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
    """Every problem of an (unpickled, not yet normalised) ACT dict and, with
    ``frames_root``, of its frame folders; arguments as :func:`validate_act_file`.

    Returns:
        The problems, in the order of :data:`PROBLEM_KINDS` and then of the videos.
    """
    if check_images not in IMAGE_CHECKS:
        raise ValueError(f'check_images must be one of {IMAGE_CHECKS}, got {check_images!r}')
    problems, sizes = act_content_problems(data)
    if frames_root is not None:
        for video, (count, shape) in sizes.items():
            if count is not None:
                problems.extend(_check_frames(video, osp.join(frames_root, video), count,
                                              shape, filename_tmpl, check_images))
    return sort_problems(problems)


def _check_frames(video: str, frame_dir: str, nframes: int,
                  shape: Optional[Tuple[int, int]], filename_tmpl: str,
                  check_images: str) -> Iterator[Problem]:
    """Problems of one video's frame folder."""
    try:
        numbers = [number for number, _ in list_frames(frame_dir, filename_tmpl)]
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
        try:
            img = read_frame(path)
        except CorruptFrameError:
            yield Problem('image_unreadable', f'{path} cannot be decoded as an image', video,
                          frame)
            continue
        if shape is not None and img.shape[:2] != shape and not size_reported:
            size_reported = True  # one per video: all frames of a video share a size
            yield Problem('image_size', f'{path} is {img.shape[1]}x{img.shape[0]} (w x h), '
                          f'the resolution entry says {shape[1]}x{shape[0]}', video, frame)
