from .functional import frame_ap, video_ap
from .metrics import (
    AVAMetricCapped,
    FrameMAP,
    VideoMAP,
    build_linker,
    linker_config,
    linker_from_options,
    linker_types,
)

__all__ = ['AVAMetricCapped', 'FrameMAP', 'VideoMAP', 'build_linker', 'frame_ap',
           'linker_config', 'linker_from_options', 'linker_types', 'video_ap']
