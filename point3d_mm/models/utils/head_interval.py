"""How often the classification head runs at test time: ``test_cfg.head_interval`` = k.

The backbone and the Point Head run on every frame; TWA and the classification head (the 3D
Head), whose output changes slowly from one frame's clip to the next, run on one clip of
every k frames, and the clips between reuse that output.

Frames are numbered from 1, as in the ACT format and the video readers. A video's frames fall
into periods of k frames, 1..k, k+1..2k, ... (:func:`head_period`); the head runs on the first
clip of each period that is predicted, i.e. on the key frames 1, 1+k, 1+2k, ...: the first
frame of a video is always a head frame. Where a period's first frame has no clip (a frame
that could not be decoded and was skipped, a dataset without a clip there), its next clip
runs the head instead. Streaming, the cached test loop and clip mode predict a video's clips
in frame order and share this rule (:class:`HeadMemory`), so they give the same detections;
with k = 1 every clip runs the head, as without an interval.
"""
from numbers import Integral
from typing import Hashable, Optional, Tuple

from torch import Tensor


def check_head_interval(value) -> int:
    """``value`` as the head interval k, an int >= 1.

    Raises:
        ValueError: anything else (0, negative numbers, floats, strings, booleans).
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError('test_cfg.head_interval must be an int >= 1 (the classification '
                         'head runs on one frame of every head_interval frames; 1: every '
                         f'frame), got {value!r} ({type(value).__name__})')
    return int(value)


def head_period(frame: int, interval: int) -> int:
    """The period of 1-based frame number ``frame``: (frame - 1) // k, so that frames
    1..k are period 0 and its head frame is frame 1."""
    return (int(frame) - 1) // interval


def key_frame_number(metainfo: dict) -> int:
    """The 1-based number of a clip's key frame, from its data sample's metainfo."""
    return int(metainfo['frame_ids'][metainfo['key_frame_index']])


class HeadMemory:
    """The classification head's output for the last period of a video that ran it, which the
    next clips of that period reuse. A caller that predicts a video's clips in frame order
    (one or several per call) passes one memory to every call; ``key`` names the period as
    (video, period).

    One entry is enough: clips come in frame order, so once a clip of another period or
    video has run the head, the earlier output is never needed again.
    """

    def __init__(self) -> None:
        self.key: Optional[Tuple[Hashable, int]] = None
        self.feats: Optional[Tensor] = None

    def store(self, key: Tuple[Hashable, int], feats: Tensor) -> None:
        """Keep ``feats`` (1, ...), the head's output for period ``key``."""
        self.key, self.feats = key, feats
