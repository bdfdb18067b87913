"""Holding validation videos out of a dataset's training videos, so that settings (linker
thresholds, defaults) are chosen without the test videos.

The choice is declared and seeded: per split and per class (the label of a video's tubes),
``round(fraction * n)`` of the class's ``n`` training videos, at least one when ``n >= 2``,
drawn by ``numpy.random.default_rng([seed, split])``. Pure numpy.
"""
from typing import Dict, List

import numpy as np

from ...structures.act_format import validation_act


def video_class(act: Dict, video: str) -> int:
    """The class of ``video``: the label of its tubes (-1 for a video without tubes)."""
    labels = sorted(act['gttubes'].get(video, {}))
    return labels[0] if labels else -1


def hold_out_videos(act: Dict, fraction: float, seed: int = 0) -> List[List[str]]:
    """Per split of ``act['train_videos']``, the training videos held out for validation,
    in their order in the split.

    Raises:
        ValueError: ``fraction`` outside (0, 1).
    """
    if not 0 < fraction < 1:
        raise ValueError(f'the validation fraction must be in (0, 1), got {fraction}')
    held_out = []
    for number, split in enumerate(act['train_videos']):
        rng = np.random.default_rng([seed, number])
        by_class: Dict[int, List[str]] = {}
        for video in split:
            by_class.setdefault(video_class(act, video), []).append(video)
        chosen = set()
        for label in sorted(by_class):
            videos = by_class[label]
            count = min(len(videos) - 1, max(1, round(fraction * len(videos))))
            if count > 0:
                chosen.update(videos[i] for i in rng.choice(len(videos), count, replace=False))
        held_out.append([video for video in split if video in chosen])
    return held_out


def make_validation_act(act: Dict, fraction: float, seed: int, source: str) -> Dict:
    """The validation file of ``act`` (:func:`~point3d_mm.structures.act_format.
    validation_act`) with :func:`hold_out_videos`'s videos."""
    return validation_act(act, hold_out_videos(act, fraction, seed), source)
