from .action_map import FrameMAP, VideoMAP, format_ap_table
from .ava_metric import AVAMetricCapped, ava_eval_capped

__all__ = ['AVAMetricCapped', 'FrameMAP', 'VideoMAP', 'ava_eval_capped', 'format_ap_table']
