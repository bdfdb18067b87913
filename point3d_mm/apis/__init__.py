from .inference import detect_frames, inference_video, init_detector, iter_video_frames

__all__ = ['detect_frames', 'inference_video', 'init_detector', 'iter_video_frames']
