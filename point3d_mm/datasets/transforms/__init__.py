from .formatting import PackPoint3DInputs
from .geometry import (BOX_KNOT_FLIP_INDICES, BOX_KNOT_NAMES, boxes_to_knots,
                       boxes_to_original, flip_boxes, flip_knots)
from .loading import LoadClipFrames
from .processing import ClipColorJitter, ClipRandomCrop, ClipRandomFlip, ClipResize

__all__ = [
    'BOX_KNOT_FLIP_INDICES', 'BOX_KNOT_NAMES', 'ClipColorJitter', 'ClipRandomCrop',
    'ClipRandomFlip', 'ClipResize', 'LoadClipFrames', 'PackPoint3DInputs', 'boxes_to_knots',
    'boxes_to_original', 'flip_boxes', 'flip_knots'
]
