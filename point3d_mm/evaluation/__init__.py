from .functional import frame_ap, video_ap
from .metrics import FrameMAP, VideoMAP

__all__ = ['FrameMAP', 'VideoMAP', 'frame_ap', 'video_ap']
