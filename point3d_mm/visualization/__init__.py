from .tube_drawer import draw_frame_tubes, index_tubes_by_frame, tube_color

__all__ = ['draw_frame_tubes', 'index_tubes_by_frame', 'tube_color']
