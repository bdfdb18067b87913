from .actors import group_actor_rows
from .gaussian_target import draw_heatmaps, gaussian_maps, gaussian_radius
from .head_interval import HeadMemory, check_head_interval, head_period, key_frame_number
from .memory_format import to_channels_last

__all__ = [
    'HeadMemory', 'check_head_interval', 'draw_heatmaps', 'gaussian_maps', 'gaussian_radius',
    'group_actor_rows', 'head_period', 'key_frame_number', 'to_channels_last'
]
