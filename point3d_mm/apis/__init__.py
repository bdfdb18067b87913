from .export import FramePart, TemporalPart, export_onnx, onnx_parity
from .heatmap import center_heatmap
from .inference import (
                        clip_geometry,
                        clip_sampling,
                        detect_frames,
                        inference_video,
                        iter_frame_detections,
                        linker_config,
)
from .live import LiveTubeLinker
from .model import init_detector
from .speed import (
                    apply_speed_options,
                    compile_parts,
                    inference_autocast,
                    set_activation_checkpointing,
                    to_channels_last,
)

__all__ = [
    'FramePart', 'LiveTubeLinker', 'TemporalPart', 'apply_speed_options', 'center_heatmap',
    'clip_geometry', 'clip_sampling', 'compile_parts', 'detect_frames', 'export_onnx',
    'inference_autocast', 'inference_video', 'init_detector', 'iter_frame_detections',
    'linker_config', 'onnx_parity', 'set_activation_checkpointing', 'to_channels_last'
]
