from .act_dataset import ACTDataset, JHMDB_JOINT_FLIP_INDICES, clip_frame_ids, key_frame_index
from .act_format import ACT_KEYS, dump_act, load_act, normalise_act, video_problems
from .cvat import cvat_to_act, read_cvat_video
from .frame_extraction import count_frames, extract_frames, extract_videos
from .converters import (act_to_csv, csv_to_act, multisports_to_act, read_csv_rows,
                         write_csv_rows)
from .synthetic import SyntheticActions
from .ucf24_corrected import corrected_to_act, load_corrected_annotations
from .validation import Problem, validate_act, validate_act_file
from .transforms import *  # noqa: F401,F403
from .transforms import clip_results_from_frames
from .video_reader import CorruptFrameError, OpenCVVideoReader

__all__ = [
    'Problem', 'corrected_to_act', 'count_frames', 'cvat_to_act', 'extract_frames',
    'extract_videos', 'load_corrected_annotations', 'read_cvat_video', 'validate_act',
    'validate_act_file',
    'ACTDataset', 'ACT_KEYS', 'CorruptFrameError', 'JHMDB_JOINT_FLIP_INDICES',
    'OpenCVVideoReader',
    'SyntheticActions', 'act_to_csv', 'clip_results_from_frames', 'clip_frame_ids', 'csv_to_act', 'dump_act',
    'key_frame_index', 'load_act', 'multisports_to_act', 'normalise_act', 'read_csv_rows',
    'video_problems', 'write_csv_rows'
]
