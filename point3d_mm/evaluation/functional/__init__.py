"""Pure-numpy evaluation of spatio-temporal action detection: frame-AP, video-AP and I/O.

Usable without a model: score the frame detections or tubes of any detector against an ACT
ground-truth dict (see ``docs/evaluation_protocols.md``).
"""
from .action_ap import (
                        ACT_EVAL_TUBE_NMS_THR,
                        FRAME_PROTOCOLS,
                        FRAME_SETS,
                        MULTISPORTS_SKIPPED_LABELS,
                        VIDEO_AVERAGE_THRS,
                        VIDEO_THRS,
                        average_precision,
                        check_iou_thresholds,
                        class_agnostic,
                        frame_ap,
                        video_ap,
)
from .detection_io import load_frame_detections, load_tubes, save_frame_detections, save_tubes
from .linking import TubeLinker, TubeLinkerBase, ViterbiTubeLinker, viterbi_trim
from .nms import nms2d, tube_nms
from .overlaps import PROTOCOLS, Tube, check_protocol, iou2d, paired_iou, tube_iou
from .rows import (
                        align_rows,
                        check_rows,
                        clip_rows,
                        rows_from_clips,
                        rows_to_samples,
                        split_videos,
)

__all__ = [
    'ACT_EVAL_TUBE_NMS_THR', 'FRAME_PROTOCOLS', 'FRAME_SETS', 'MULTISPORTS_SKIPPED_LABELS',
    'PROTOCOLS', 'VIDEO_AVERAGE_THRS', 'VIDEO_THRS', 'average_precision', 'check_iou_thresholds',
    'class_agnostic', 'frame_ap', 'iou2d', 'load_frame_detections', 'load_tubes', 'nms2d',
    'paired_iou', 'save_frame_detections', 'save_tubes', 'Tube', 'TubeLinker', 'TubeLinkerBase',
    'check_protocol', 'tube_iou', 'tube_nms', 'video_ap', 'viterbi_trim', 'align_rows',
    'check_rows', 'clip_rows', 'rows_from_clips', 'rows_to_samples', 'split_videos',
    'ViterbiTubeLinker'
]
