from .formatting import PackPoint3DInputs
from .geometry import (BOX_KNOT_FLIP_INDICES, BOX_KNOT_NAMES, boxes_to_knots,
                       boxes_to_original, flip_boxes, flip_knots)
from .loading import LoadClipFrames, clip_results_from_frames, set_clip_frames
from .processing import ClipColorJitter, ClipRandomCrop, ClipRandomFlip, ClipResize

__all__ = [
    'BOX_KNOT_FLIP_INDICES', 'BOX_KNOT_NAMES', 'ClipColorJitter', 'ClipRandomCrop',
    'ClipRandomFlip', 'ClipResize', 'LoadClipFrames', 'PackPoint3DInputs', 'boxes_to_knots',
    'boxes_to_original', 'clip_results_from_frames', 'flip_boxes', 'flip_knots', 'set_clip_frames'
]
