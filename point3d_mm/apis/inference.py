"""Inference on a video of any length: clip mode and streaming mode, then tube linking.

Frames are read lazily and only the last (T-1)s+1 frames (clip mode) or frame features
(streaming mode) are kept, so memory does not grow with the video's length.

* clip mode: for every frame t, the clip of frames t-(T-1)s, ..., t-s, t (stride s, the test
  dataset's ``frame_interval``; clamped to frame 1 at the video's start, as
  :func:`point3d_mm.datasets.clip_frame_ids` clamps) goes through the whole model; t is the
  clip's key frame.
* streaming mode: every frame goes through the backbone once; its features enter a ring
  buffer of the last (T-1)s+1 frames, and only the temporal part (Point Head on the key frame,
  TWA, 3D head) runs per frame on every s-th of them. Both modes give the same detections for
  the same frames.

T and s are the config's ``test_dataloader.dataset.clip_len`` and ``frame_interval``, the
clips the model was tested on.
"""
import ctypes
import os
import os.path as osp
import sys
from collections import deque
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmaction.registry import TASK_UTILS
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from torch import nn

from ..datasets import clip_frame_ids, clip_results_from_frames

Frames = Union[str, Sequence[np.ndarray], Iterable[np.ndarray]]


def init_detector(config: Union[str, Config], checkpoint: Optional[str] = None,
                  device: str = 'cpu', cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a Point3D detector from a config and load its weights.

    Args:
        config: config file or :class:`Config`.
        checkpoint: checkpoint file; None keeps the random initialisation.
        device: 'cpu', 'cuda', 'cuda:1', ...
        cfg_options: overrides merged into the config.

    Returns:
        The model in eval mode, with the config as ``model.cfg`` and the training dataset's
        metainfo (``classes``) from the checkpoint as ``model.dataset_meta``.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    from mmaction.registry import MODELS
    model_cfg = cfg.model.copy()
    model_cfg.pop('init_cfg', None)  # never download pretrained weights for inference
    for part in ('backbone', 'cls_head'):
        if isinstance(model_cfg.get(part), dict):
            model_cfg[part] = {k: v for k, v in model_cfg[part].items() if k != 'init_cfg'}
    model = MODELS.build(model_cfg)
    model.dataset_meta = {}
    if checkpoint is not None:
        loaded = load_checkpoint(model, checkpoint, map_location='cpu')
        model.dataset_meta = dict(loaded.get('meta', {}).get('dataset_meta') or {})
    model.cfg = cfg
    return model.to(device).eval()


CORRUPT_FRAME_MODES = ('raise', 'skip')
#: Consecutive undecodable frames after which a video is taken to end there.
_MAX_CORRUPT_RUN = 100


def iter_numbered_frames(video: Frames, on_corrupt: str = 'raise'
                         ) -> Iterator[Tuple[int, np.ndarray]]:
    """Yield ``(frame_number, frame)`` pairs, 1-based, BGR, one at a time.

    A frame that cannot be decoded (a corrupt frame of a video file before the end its
    container reports, or an unreadable image of a frame folder) is an error naming the file
    and the frame number (``on_corrupt='raise'``), or is logged with its number and left out
    (``'skip'``): the numbers of the following frames stay those of the video, so detections
    and boxes stay on their frames.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the video cannot be opened or yields no frame, or (``'raise'``) a frame
            cannot be decoded.
    """
    if on_corrupt not in CORRUPT_FRAME_MODES:
        raise ValueError(f'on_corrupt must be one of {CORRUPT_FRAME_MODES}, got {on_corrupt!r}')
    if not isinstance(video, str):
        yield from enumerate(video, start=1)
        return
    if not osp.exists(video):
        raise FileNotFoundError(f'{video}: no such video file or frame folder')
    if osp.isdir(video):
        names = sorted(n for n in os.listdir(video)
                       if n.lower().endswith(('.jpg', '.jpeg', '.png')))
        for number, name in enumerate(names, start=1):
            frame = cv2.imread(osp.join(video, name))
            if frame is None:
                _corrupt_frame(f'{osp.join(video, name)}: unreadable image (frame {number})',
                               on_corrupt)
                continue
            yield number, frame
        return
    capture = cv2.VideoCapture(video)
    if not capture.isOpened():
        raise ValueError(f'{video}: OpenCV cannot open this video')
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    number, decoded, failed = 0, 0, []
    try:
        while True:
            number += 1
            ok, frame = capture.read()
            if not ok:
                # A failed read consumes the frame's packet: the next read returns the next
                # frame. Before the declared end it is a corrupt frame; past it, the end.
                failed.append(number)
                if number > declared or len(failed) >= _MAX_CORRUPT_RUN:
                    break
                continue
            for bad in failed:
                _corrupt_frame(f'{video}: frame {bad} cannot be decoded (corrupt; the '
                               f'container reports {declared} frames)', on_corrupt)
            failed = []
            decoded += 1
            yield number, frame
    finally:
        capture.release()
    if decoded == 0:
        raise ValueError(f'{video}: no frame could be decoded')
    if failed and failed[0] <= declared:
        # Nothing after them is misnumbered (and containers may over-count): a warning.
        _corrupt_frame(f'{video}: the last frames, {failed[0]} to {declared}, cannot be '
                       f'decoded (the container reports {declared} frames; truncated file?)',
                       'skip')


def _corrupt_frame(message: str, on_corrupt: str) -> None:
    if on_corrupt == 'raise':
        raise ValueError(message + "; pass on_corrupt='skip' to go on without it")
    from mmengine.logging import print_log
    print_log('skipped: ' + message, logger='current', level=30)


def iter_video_frames(video: Frames, on_corrupt: str = 'raise') -> Iterator[np.ndarray]:
    """Yield BGR frames one at a time from a video file, a frame folder or an iterable.

    See :func:`iter_numbered_frames`; with ``on_corrupt='skip'`` use that function to keep
    each frame's number.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the video cannot be opened or yields no frame, or a frame cannot be
            decoded (``on_corrupt='raise'``).
    """
    for _, frame in iter_numbered_frames(video, on_corrupt):
        yield frame


def _test_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without its frame loading (frames come from memory)."""
    pipeline = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    return Compose([step for step in pipeline if 'Load' not in step['type']
                    and 'Sample' not in step['type']])


class _ClipPreparer:
    """Turns T in-memory frames into the model's (data, data_samples) input."""

    def __init__(self, model: nn.Module, video_name: str) -> None:
        self.model = model
        self.pipeline = _test_pipeline(model.cfg)
        self.video_name = video_name

    def __call__(self, frames: List[np.ndarray], frame_ids: List[int]) -> Tuple[torch.Tensor, list]:
        results = clip_results_from_frames(frames, frame_ids, key_frame_index=len(frames) - 1,
                                           video=self.video_name)
        packed = self.pipeline(results)
        data = self.model.data_preprocessor(
            dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]), False)
        return data['inputs'], data['data_samples']


def _clip_window(buffer: deque, frame_ids: List[int]) -> list:
    """The items of ``buffer`` (one per frame, the last one the key frame ``frame_ids[-1]``)
    of the clip's frames; frames before the buffer's start (a video whose first frames could
    not be decoded) take its first item."""
    key = frame_ids[-1]
    return [buffer[max(0, len(buffer) - 1 - (key - frame))] for frame in frame_ids]


def _detections_rows(sample: Any, frame: int) -> np.ndarray:
    """(M, 7) rows frame, label, score, x1, y1, x2, y2 of one clip's key-frame predictions."""
    pred = sample.pred_instances
    if len(pred) == 0:
        return np.zeros((0, 7), np.float32)
    return np.concatenate([
        np.full((len(pred), 1), frame, np.float32),
        pred.labels.cpu().numpy()[:, None].astype(np.float32),
        pred.scores.cpu().numpy()[:, None].astype(np.float32),
        pred.bboxes.cpu().numpy().astype(np.float32)], axis=1)


@torch.no_grad()
def detect_frames(model: nn.Module, video: Frames, streaming: bool = False,
                  video_name: Optional[str] = None,
                  on_frame: Optional[Callable[[int, np.ndarray, np.ndarray], None]] = None,
                  on_corrupt: str = 'raise') -> np.ndarray:
    """Per-frame detections of a whole video, every frame as the key frame of its clip.

    Args:
        model: a Point3D detector from :func:`init_detector`.
        video: a video file, a folder of frames or an iterable of BGR frames.
        streaming: compute each frame's features once and keep those of the last
            (T-1)s+1 frames (ring buffer); T and s from :func:`clip_sampling`.
        video_name: name put into the samples' metainfo.
        on_frame: called as ``on_frame(frame_number, frame, detections)`` for every frame
            (1-based number, the BGR frame, its (M, 7) rows), e.g. to write an annotated
            video while reading.
        on_corrupt: 'raise' (default) or 'skip' an undecodable frame (see
            :func:`iter_numbered_frames`); a skipped frame gets no detections and its place
            in later clips repeats the frame before it, so frame numbers stay aligned.

    Returns:
        (D, 7) float32 rows ``frame (1-based), label, score, x1, y1, x2, y2`` in original
        frame pixels.
    """
    clip_len, frame_interval = clip_sampling(model.cfg)
    name = video_name or (osp.splitext(osp.basename(video))[0] if isinstance(video, str)
                          else 'video')
    prepare = _ClipPreparer(model, name)
    # A clip ending at frame t reaches back to t - (T-1)s: only that span is ever needed.
    span = (clip_len - 1) * frame_interval + 1
    window: deque = deque(maxlen=span)
    rows, last = [], 0
    for number, frame in iter_numbered_frames(video, on_corrupt):
        if window:  # skipped frames: their slots repeat the frame (features) before them
            window.extend([window[-1]] * min(number - last - 1, span))
        last = number
        # The frames the test dataset would load for key frame `number` (a video's frames
        # never run past the key frame, so only the clamp at frame 1 applies).
        frame_ids = clip_frame_ids(number, number, clip_len, frame_interval)
        if streaming:
            inputs, samples = prepare([frame], [number])
            window.append(model.extract_frame_feats(inputs)[-1])
            feats = torch.stack(_clip_window(window, frame_ids), dim=1)
            samples[0].set_metainfo(dict(frame_ids=frame_ids, key_frame_index=clip_len - 1))
            samples = model.predict_clip_feats(feats, samples, tuple(inputs.shape[-2:]))
        else:
            window.append(frame)
            inputs, samples = prepare(_clip_window(window, frame_ids), frame_ids)
            samples = model.predict(inputs, samples)
        detections = _detections_rows(samples[0], number)
        rows.append(detections)
        if number % _TRIM_EVERY == 0:
            _trim_heap()
        if on_frame is not None:
            on_frame(number, frame, detections)
    return np.concatenate(rows) if rows else np.zeros((0, 7), np.float32)


@torch.no_grad()
def center_heatmap(model: nn.Module, frame: np.ndarray) -> np.ndarray:
    """The Point Head's centre heatmap of one frame, in the frame's own pixels.

    The frame goes through the test pipeline alone (the heatmap is per frame: it does not
    depend on the clip), then the backbone and the Point Head; the last stack's heatmap (at
    the feature stride) is upsampled to the network input, the letterbox pad is cut away and
    the rest resized to the frame, so that it lies over the frame where the model looked.

    Args:
        model: a Point3D detector from :func:`init_detector`.
        frame: (H, W, 3) BGR uint8 frame.

    Returns:
        (H, W) float32 centre probabilities in [0, 1]; the maximum over classes when the
        head has several heatmap channels (the Point Head's is class-agnostic: one).
    """
    inputs, samples = _ClipPreparer(model, 'heatmap')([frame], [1])
    feats = model.extract_frame_feats(inputs)[-1]  # (1, C, h, w): one frame
    heat = model.point_head((feats, ))[0][-1]  # centre heatmaps (N, K, h, w) of the last stack
    heat = heat.amax(dim=1, keepdim=True).float()
    # Bilinear to the (batch) input size: the stride-s cells cover the input exactly.
    heat = F.interpolate(heat, size=tuple(inputs.shape[-2:]), mode='bilinear',
                         align_corners=False)[0, 0].cpu().numpy()
    # input = original x scale_factor + pad: the frame's content is the window at `pad` of
    # the original size times scale_factor; outside it lie the letterbox and batch pads.
    meta = samples[0].metainfo
    height, width = frame.shape[:2]
    sx, sy = meta.get('scale_factor', (1., 1.))
    left, top = meta.get('pad', (0., 0.))
    x0, y0 = int(round(left)), int(round(top))
    x1 = min(heat.shape[1], int(round(left + width * sx)))
    y1 = min(heat.shape[0], int(round(top + height * sy)))
    heat = cv2.resize(np.ascontiguousarray(heat[y0:y1, x0:x1]), (width, height),
                      interpolation=cv2.INTER_LINEAR)
    return np.clip(heat, 0., 1.).astype(np.float32)


#: detect_frames gives freed heap memory back to the OS every this many frames.
_TRIM_EVERY = 100
_malloc_trim: Any = None


def _trim_heap() -> None:
    """Return freed heap pages to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    Each frame allocates and frees a few large buffers around a few long-lived small ones
    (its detections); glibc keeps the freed pages between them, so without this the resident
    memory of a 10,000-frame video grows by about 160 MB that nothing references
    (tools/analysis/benchmark_memory.py).
    """
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith('linux'):
            try:
                _malloc_trim = ctypes.CDLL('libc.so.6').malloc_trim
            except (OSError, AttributeError):
                pass
    if _malloc_trim:
        _malloc_trim(0)


def clip_sampling(cfg: Config) -> Tuple[int, int]:
    """The test clips' length T and frame stride s: ``test_dataloader.dataset``'s
    ``clip_len`` and ``frame_interval`` (default 1), the clips the model is tested on.

    Args:
        cfg: the model's config.

    Returns:
        ``(clip_len, frame_interval)``.

    Raises:
        KeyError: the test dataset sets no ``clip_len``.
        ValueError: a value below 1, a key frame other than the last (inference is causal),
            or a top-level ``clip_len`` that differs from the test dataset's (an override of
            only one of them: the config would say one T and inference use another).
    """
    name = cfg.filename or 'the config'
    dataset = cfg.test_dataloader.dataset
    if 'clip_len' not in dataset:
        # (mmaction2's AVADataset samples in its pipeline; its configs predict in the AVA
        # format, which frame detections and tubes are not.)
        raise KeyError(f'{name}: test_dataloader.dataset sets no clip_len: inference on '
                       'videos needs an ACT-format test dataset (ACTDataset)')
    clip_len, frame_interval = int(dataset.clip_len), int(dataset.get('frame_interval', 1))
    if clip_len < 1 or frame_interval < 1:
        raise ValueError(f'{name}: test_dataloader.dataset.clip_len and frame_interval must '
                         f'be >= 1, got {clip_len} and {frame_interval}')
    if dataset.get('key_frame', 'last') != 'last':
        # Inference is causal: every frame is the last frame of its clip.
        raise ValueError(f"{name}: inference runs clips whose key frame is the last one; "
                         f"test_dataloader.dataset.key_frame is {dataset.key_frame!r}")
    top = cfg.get('clip_len', None)
    if top is not None and int(top) != clip_len:
        raise ValueError(
            f'{name}: the top-level clip_len ({top}) differs from '
            f'test_dataloader.dataset.clip_len ({clip_len}); inference uses the test '
            "dataset's: set both to the same value")
    return clip_len, frame_interval


def inference_video(model: nn.Module, video: Frames, streaming: bool = False,
                    linker: Optional[dict] = None, video_name: Optional[str] = None,
                    on_frame: Optional[Callable] = None,
                    on_corrupt: str = 'raise') -> Dict[str, Any]:
    """Detect actions in a video and link them into tubes.

    Args:
        model: a Point3D detector from :func:`init_detector`.
        video: a video file, a folder of frames or an iterable of BGR frames.
        streaming: see :func:`detect_frames`.
        linker: ``TubeLinker`` config; defaults to the config's ``linker`` or
            ``model.test_cfg.linker`` or TubeLinker's defaults.
        video_name: name for the results.
        on_frame: see :func:`detect_frames`.
        on_corrupt: see :func:`detect_frames`.

    Returns:
        dict with ``detections`` ((D, 7) rows frame, label, score, x1, y1, x2, y2),
        ``tubes`` (list of (label, score, (L, 5) frame, x1, y1, x2, y2), best first) and
        ``classes`` (the class names saved in the checkpoint, if any).
    """
    detections = detect_frames(model, video, streaming=streaming, video_name=video_name,
                               on_frame=on_frame, on_corrupt=on_corrupt)
    linker_cfg = linker or model.cfg.get('linker') or dict(type='TubeLinker')
    tubes = TASK_UTILS.build(linker_cfg)(detections)
    return dict(detections=detections, tubes=tubes, classes=list(model.dataset_meta.get('classes', ())))
