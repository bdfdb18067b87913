from .act_dataset import ACTDataset, JHMDB_JOINT_FLIP_INDICES, clip_frame_ids, key_frame_index
from .act_format import ACT_KEYS, dump_act, load_act, normalise_act, video_problems
from .converters import (act_to_csv, csv_to_act, multisports_to_act, read_csv_rows,
                         write_csv_rows)
from .synthetic import SyntheticActions
from .transforms import *  # noqa: F401,F403
from .transforms import clip_results_from_frames
from .video_reader import OpenCVVideoReader

__all__ = [
    'ACTDataset', 'ACT_KEYS', 'JHMDB_JOINT_FLIP_INDICES', 'OpenCVVideoReader',
    'SyntheticActions', 'act_to_csv', 'clip_results_from_frames', 'clip_frame_ids', 'csv_to_act', 'dump_act',
    'key_frame_index', 'load_act', 'multisports_to_act', 'normalise_act', 'read_csv_rows',
    'video_problems', 'write_csv_rows'
]
