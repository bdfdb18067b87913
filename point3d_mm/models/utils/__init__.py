from .actors import group_actor_rows
from .gaussian_target import draw_heatmaps, gaussian_maps, gaussian_radius

__all__ = ['draw_heatmaps', 'gaussian_maps', 'gaussian_radius', 'group_actor_rows']
