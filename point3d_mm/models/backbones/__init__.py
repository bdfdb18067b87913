from .hourglass_backbone import HourglassBackbone

__all__ = ['HourglassBackbone']
