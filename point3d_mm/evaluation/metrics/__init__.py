from .action_map import (
    FrameMAP,
    VideoMAP,
    build_linker,
    format_ap_table,
    linker_config,
    linker_from_options,
    linker_types,
)
from .ava_metric import AVAMetricCapped, ava_eval_capped

__all__ = ['AVAMetricCapped', 'FrameMAP', 'VideoMAP', 'ava_eval_capped', 'build_linker',
           'format_ap_table', 'linker_config', 'linker_from_options', 'linker_types']
