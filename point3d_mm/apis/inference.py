"""Inference on a video of any length, then tube linking.

Frames are read lazily and only the last (T-1)s+1 frames (clip mode) or frame features
(offline and streaming modes) are kept, so memory does not grow with the video's length.

* offline mode (default): frames go through the backbone ``frame_batch`` at a time; each
  frame's features enter a ring buffer of the last (T-1)s+1 frames, and only the temporal part
  (Point Head on the key frame, TWA, 3D head) runs per frame on every s-th of them.
* streaming mode: the same, one frame at a time (live input).
* clip mode: for every frame t, the clip of frames t-(T-1)s, ..., t-s, t (stride s, the test
  dataset's ``frame_interval``; clamped to frame 1 at the video's start, as
  :func:`point3d_mm.datasets.clip_frame_ids` clamps) goes through the whole model; t is the
  clip's key frame. The reference path: the three modes give the same detections.

T and s are the config's ``test_dataloader.dataset.clip_len`` and ``frame_interval``, the
clips the model was tested on. With the test dataset's ``key_frame='center'`` (offline and
clip modes only), frame t is the middle of its clip, t-(T//2)s ... t+(T-1-T//2)s, clamped to
the video's first and last frames as the dataset clamps them: its detections come (T-1-T//2)s
frames later, once the clip's last frame has been read. Streaming stays causal.

With the model's ``test_cfg.head_interval`` k > 1, all three modes run TWA and the
classification head on the key frames 1, 1+k, 1+2k, ... and reuse its output on the frames
between (:mod:`point3d_mm.models.utils.head_interval`); the backbone and the Point Head still
run on every frame.
"""
import os.path as osp
from collections import deque
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from torch import nn

from ..datasets import clip_frame_ids, clip_results_from_frames, key_frame_index
from ..evaluation import build_linker, linker_config
from ..evaluation.functional import clip_rows
from ..models.utils import HeadMemory
from ..utils.memory import trim_heap
from ..utils.video import Frames, iter_numbered_frames

#: detect_frames gives freed heap memory back to the OS every this many frames.
_TRIM_EVERY = 100


def _test_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline without its frame loading (frames come from memory)."""
    pipeline = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    return Compose([step for step in pipeline if 'Load' not in step['type']
                    and 'Sample' not in step['type']])


class ClipPreparer:
    """Turns in-memory frames into the model's (inputs, data_samples): one clip of T frames,
    or (:meth:`frames`) N frames each as a one-frame clip, for their per-frame features."""

    def __init__(self, model: nn.Module, video_name: str) -> None:
        self.model = model
        self.pipeline = _test_pipeline(model.cfg)
        self.video_name = video_name

    def __call__(self, frames: List[np.ndarray], frame_ids: List[int],
                 key_index: Optional[int] = None) -> Tuple[torch.Tensor, list]:
        """One clip; its key frame at ``key_index`` (default: the last frame)."""
        return self._preprocess([self._pack(frames, frame_ids, key_index)])

    def frames(self, frames: List[np.ndarray],
               frame_ids: List[int]) -> Tuple[torch.Tensor, list]:
        """(N, 3, 1, H, W) inputs and N samples of frames taken one by one."""
        return self._preprocess([self._pack([frame], [number])
                                 for frame, number in zip(frames, frame_ids)])

    def _pack(self, frames: List[np.ndarray], frame_ids: List[int],
              key_index: Optional[int] = None) -> dict:
        return self.pipeline(clip_results_from_frames(
            frames, frame_ids, video=self.video_name,
            key_frame_index=len(frames) - 1 if key_index is None else key_index))

    def _preprocess(self, packed: List[dict]) -> Tuple[torch.Tensor, list]:
        data = self.model.data_preprocessor(
            dict(inputs=[p['inputs'] for p in packed],
                 data_samples=[p['data_samples'] for p in packed]), False)
        return data['inputs'], data['data_samples']


def _clip_window(buffer: deque, frame_ids: List[int], newest: int) -> list:
    """The items of ``buffer`` (one per frame, the last one that of frame ``newest``) of the
    clip's frames; frames before the buffer's start (a video whose first frames could not be
    decoded) take its first item."""
    return [buffer[max(0, len(buffer) - 1 - (newest - frame))] for frame in frame_ids]


def _detections_rows(sample: Any, frame: int) -> np.ndarray:
    """(M, 7) float32 rows frame, label, score, x1, y1, x2, y2 of one clip's key-frame
    predictions."""
    pred = sample.pred_instances
    if len(pred) == 0:
        return np.zeros((0, 7), np.float32)
    key_frame = dict(labels=pred.labels, scores=pred.scores, bboxes=pred.bboxes)
    return clip_rows(key_frame, [frame]).astype(np.float32)


#: Modes of :func:`detect_frames`.
DETECTION_MODES = ('offline', 'streaming', 'clip')


@torch.no_grad()
def detect_frames(model: nn.Module, video: Frames, streaming: bool = False,
                  video_name: Optional[str] = None,
                  on_frame: Optional[Callable[[int, np.ndarray, np.ndarray], None]] = None,
                  on_corrupt: str = 'raise', mode: Optional[str] = None,
                  frame_batch: int = 16) -> np.ndarray:
    """Per-frame detections of a whole video, every frame as the key frame of its clip.

    Three ways to the same detections (T and s from :func:`clip_sampling`):

    * ``'offline'`` (default): ``frame_batch`` frames at a time go through the backbone
      together; each frame's features are kept while the next (T-1)s frames' clips need
      them (ring buffer), and only the temporal part runs per frame.
    * ``'streaming'`` (``streaming=True``): the same, one frame at a time, for live input
      (each frame's detections as soon as it arrives).
    * ``'clip'``: the whole model on every frame's clip of T frames, the reference path.

    Offline and clip modes follow the test dataset's ``key_frame``: with ``'center'`` each
    frame's clip reaches (T-1-T//2)s frames past it (padded with the last frame at the
    video's end), so its detections come that many frames later; streaming refuses it.

    Args:
        model: a Point3D detector from :func:`init_detector`.
        video: a video file, a folder of frames or an iterable of BGR frames.
        streaming: shorthand for ``mode='streaming'``.
        video_name: name put into the samples' metainfo.
        on_frame: called as ``on_frame(frame_number, frame, detections)`` for every frame
            (1-based number, the BGR frame, its (M, 7) rows), e.g. to write an annotated
            video while reading.
        on_corrupt: 'raise' (default) or 'skip' an undecodable frame (see
            :func:`iter_numbered_frames`); a skipped frame gets no detections and its place
            in later clips repeats the frame before it, so frame numbers stay aligned.
        mode: one of :data:`DETECTION_MODES`; default 'streaming' if ``streaming`` else
            'offline'.
        frame_batch: frames per backbone call in 'offline' mode.

    Returns:
        (D, 7) float32 rows ``frame (1-based), label, score, x1, y1, x2, y2`` in original
        frame pixels.
    """
    rows = []
    for number, frame, detections in iter_frame_detections(
            model, video, video_name=video_name, on_corrupt=on_corrupt,
            mode=mode or ('streaming' if streaming else 'offline'), frame_batch=frame_batch):
        rows.append(detections)
        if on_frame is not None:
            on_frame(number, frame, detections)
    return np.concatenate(rows) if rows else np.zeros((0, 7), np.float32)


@torch.no_grad()
def iter_frame_detections(model: nn.Module, video: Frames, mode: str = 'streaming',
                          video_name: Optional[str] = None, on_corrupt: str = 'raise',
                          frame_batch: int = 16
                          ) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
    """:func:`detect_frames` one frame at a time: yields ``(frame_number, frame,
    detections)`` (1-based number, the (H, W, 3) BGR frame, its (M, 7) rows ``frame, label,
    score, x1, y1, x2, y2`` in frame pixels) and keeps nothing of a frame once the clips
    still to come no longer need it, so memory stays flat however long ``video`` is (a live
    stream: the live demo).

    In ``'streaming'`` mode each frame is pulled from ``video`` only when the previous one's
    detections have been yielded (one frame in flight); ``'offline'`` pulls ``frame_batch``
    frames ahead. Arguments as in :func:`detect_frames`.
    """
    if mode not in DETECTION_MODES:
        raise ValueError(f'mode must be one of {DETECTION_MODES}, got {mode!r}')
    if mode == 'streaming':
        clip_len, frame_interval = clip_sampling(model.cfg)  # refuses a centred key frame
        key_index = clip_len - 1
    else:
        clip_len, frame_interval, key_index = clip_geometry(model.cfg)
    name = video_name or (osp.splitext(osp.basename(video))[0] if isinstance(video, str)
                          else 'video')
    prepare = ClipPreparer(model, name)
    # The clip of key frame t spans t - behind ... t + ahead: only that span is ever needed.
    behind, ahead = key_index * frame_interval, (clip_len - 1 - key_index) * frame_interval
    span = behind + ahead + 1
    window: deque = deque(maxlen=span)
    waiting: deque = deque()  # (number, frame) read but not yet detected: up to ahead + 1
    last = 0
    input_size = None
    # One memory per video, passed only with an interval: k = 1 calls the model as before.
    head_args = (HeadMemory(), ) if getattr(model, 'head_interval', 1) > 1 else ()

    def detect(number: int) -> np.ndarray:
        # The frames the test dataset loads for key frame `number`, the last frame read so
        # far (`last`) standing for the video's last frame: the clamp at the end only acts
        # once the input has ended, as every other clip's frames have been read.
        frame_ids = clip_frame_ids(number, last, clip_len, frame_interval,
                                   'last' if key_index == clip_len - 1 else 'center')
        if mode == 'clip':
            clip_inputs, clip_samples = prepare(_clip_window(window, frame_ids, last), frame_ids,
                                                key_index)
            clip_samples = model.predict(clip_inputs, clip_samples, *head_args)
        else:
            clip_samples = [sample_template.new()]
            clip_samples[0].set_metainfo(dict(frame_ids=frame_ids, key_frame_index=key_index))
            feats = torch.stack(_clip_window(window, frame_ids, last))[None]
            clip_samples = model.predict_clip_feats(feats, clip_samples, input_size,
                                                    *head_args)
        if number % _TRIM_EVERY == 0:
            trim_heap()
        return _detections_rows(clip_samples[0], number)

    batch = 1 if mode != 'offline' else frame_batch
    for chunk in _chunks(iter_numbered_frames(video, on_corrupt), batch):
        numbers, frames = [n for n, _ in chunk], [f for _, f in chunk]
        if mode == 'clip':
            items = frames
        else:
            inputs, samples = prepare.frames(frames, numbers)
            sample_template, input_size = samples[0], tuple(inputs.shape[-2:])
            items = list(model.extract_frame_feats(inputs)[-1])
        for number, frame, item in zip(numbers, frames, items):
            if window:  # skipped frames: their slots repeat the frame (features) before them
                window.extend([window[-1]] * min(number - last - 1, span))
            last = number
            window.append(item)
            waiting.append((number, frame))
            while waiting and waiting[0][0] + ahead <= number:
                key, key_frame = waiting.popleft()
                yield key, key_frame, detect(key)
    while waiting:  # the end of the input: later clip frames repeat the last frame
        key, key_frame = waiting.popleft()
        yield key, key_frame, detect(key)


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def clip_sampling(cfg: Config) -> Tuple[int, int]:
    """The test clips' length T and frame stride s for causal inference (streaming, ONNX
    export): :func:`clip_geometry` of a config whose key frame ends its clip.

    Args:
        cfg: the model's config.

    Returns:
        ``(clip_len, frame_interval)``.

    Raises:
        KeyError, ValueError: as :func:`clip_geometry`; ValueError also for a test dataset
            whose key frame is not the last one of its clip.
    """
    clip_len, frame_interval, key_index = clip_geometry(cfg)
    if key_index != clip_len - 1:
        # Streaming sees no future frame: every frame is the last frame of its clip.
        raise ValueError(f"{cfg.filename or 'the config'}: streaming inference and export "
                         'run clips whose key frame is the last one; '
                         f'test_dataloader.dataset.key_frame is '
                         f'{cfg.test_dataloader.dataset.key_frame!r} (offline inference '
                         'runs centred clips)')
    return clip_len, frame_interval


def clip_geometry(cfg: Config) -> Tuple[int, int, int]:
    """The clips the model is tested on: ``test_dataloader.dataset``'s ``clip_len`` T,
    ``frame_interval`` s (default 1) and the key frame's index in the clip (T - 1 for
    ``key_frame='last'``, the default; T // 2 for ``'center'``).

    Args:
        cfg: the model's config.

    Returns:
        ``(clip_len, frame_interval, key_frame_index)``.

    Raises:
        KeyError: the test dataset sets no ``clip_len``.
        ValueError: a value below 1, an unknown key frame, or a top-level ``clip_len`` that
            differs from the test dataset's (an override of only one of them: the config
            would say one T and inference use another).
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
    try:
        key_index = key_frame_index(clip_len, dataset.get('key_frame', 'last'))
    except ValueError as error:
        raise ValueError(f'{name}: test_dataloader.dataset: {error}') from None
    top = cfg.get('clip_len', None)
    if top is not None and int(top) != clip_len:
        raise ValueError(
            f'{name}: the top-level clip_len ({top}) differs from '
            f'test_dataloader.dataset.clip_len ({clip_len}); inference uses the test '
            "dataset's: set both to the same value")
    return clip_len, frame_interval, key_index


def inference_video(model: nn.Module, video: Frames, streaming: bool = False,
                    linker: Optional[dict] = None, video_name: Optional[str] = None,
                    on_frame: Optional[Callable] = None,
                    on_corrupt: str = 'raise', mode: Optional[str] = None) -> Dict[str, Any]:
    """Detect actions in a video and link them into tubes.

    Args:
        model: a Point3D detector from :func:`init_detector`.
        video: a video file, a folder of frames or an iterable of BGR frames.
        streaming: see :func:`detect_frames`.
        linker: ``TubeLinker`` config; by default the one the config's ``VideoMAP``
            evaluator links with (:func:`linker_config`).
        video_name: name for the results.
        on_frame: see :func:`detect_frames`.
        on_corrupt: see :func:`detect_frames`.
        mode: see :func:`detect_frames`.

    Returns:
        dict with ``detections`` ((D, 7) rows frame, label, score, x1, y1, x2, y2),
        ``tubes`` (list of (label, score, (L, 5) frame, x1, y1, x2, y2), best first) and
        ``classes`` (the class names saved in the checkpoint, if any).
    """
    detections = detect_frames(model, video, streaming=streaming, video_name=video_name,
                               on_frame=on_frame, on_corrupt=on_corrupt, mode=mode)
    tubes = build_linker(linker or linker_config(model.cfg))(detections)
    return dict(detections=detections, tubes=tubes,
                classes=list(model.dataset_meta.get('classes', ())))
