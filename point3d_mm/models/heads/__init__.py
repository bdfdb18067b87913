from .conv3d_head import Conv3DHead, FrameClsHead
from .point_head import PointHead

__all__ = ['Conv3DHead', 'FrameClsHead', 'PointHead']
