from .act_dataset import JHMDB_JOINT_FLIP_INDICES, ACTDataset, clip_frame_ids, key_frame_index
from .transforms import *  # noqa: F401,F403
from .transforms import clip_results_from_frames

__all__ = [
    'ACTDataset', 'JHMDB_JOINT_FLIP_INDICES', 'clip_frame_ids', 'clip_results_from_frames',
    'key_frame_index'
]
