from .local_visualizer import NoDisplayError, Point3DLocalVisualizer, check_display
from .selection import one_box_per_actor, select_tubes
from .tube_drawer import draw_frame_tubes, index_tubes_by_frame, render_size, tube_color
from .video_writer import AnnotatedVideoWriter, open_video_writer

__all__ = [
    'AnnotatedVideoWriter', 'NoDisplayError', 'Point3DLocalVisualizer', 'check_display',
    'draw_frame_tubes', 'index_tubes_by_frame', 'one_box_per_actor', 'open_video_writer',
    'render_size', 'select_tubes', 'tube_color'
]
