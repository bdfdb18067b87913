from .functional import frame_ap, video_ap
from .metrics import AVAMetricCapped, FrameMAP, VideoMAP

__all__ = ['AVAMetricCapped', 'FrameMAP', 'VideoMAP', 'frame_ap', 'video_ap']
