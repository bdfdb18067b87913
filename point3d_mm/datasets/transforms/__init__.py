from .formatting import PackPoint3DInputs
from .loading import LoadClipFrames, clip_results_from_frames, set_clip_frames
from .processing import ClipColorJitter, ClipRandomCrop, ClipRandomFlip, ClipResize

__all__ = [
    'ClipColorJitter', 'ClipRandomCrop', 'ClipRandomFlip', 'ClipResize', 'LoadClipFrames',
    'PackPoint3DInputs', 'clip_results_from_frames', 'set_clip_frames'
]
