from .action_map import FrameMAP, VideoMAP, format_ap_table

__all__ = ['FrameMAP', 'VideoMAP', 'format_ap_table']
