"""The peers of Point3D's speed: what a user of mmaction2 runs for spatio-temporal action
detection, timed per key frame from random initialisation (nothing downloaded).

* The pipeline (:func:`pipeline_latency`), as mmaction2's ``demo/demo_spatiotemporal_det.py``
  runs it: mmdet's Faster R-CNN R50-FPN 2x, built from the config mmdet ships
  (:data:`DETECTOR_CONFIG`), finds the people on the key frame; mmaction2's SlowOnly-R50 AVA
  detector (:data:`SLOWONLY_CONFIG`) classifies their actions on the key frame's clip, with
  those boxes as proposals. Two :data:`SETTINGS`: the demo's ('demo': mmdet's test pipeline as
  shipped, ``Resize(scale=(1333, 800), keep_ratio=True)``, so a 320x240 frame becomes
  1067x800, and SlowOnly on the frames resized to short side 256) and Point3D's input size
  ('input': the detector and SlowOnly fed 256x256).
* SlowOnly alone (:func:`peer_latency`), boxes given: a lower bound of the pipeline, without
  the person detector that it needs.

Point3D finds and classifies the actors in one model, so the pipeline is the peer a user
compares it with. Speed options as in Point3D's rows: channels_last weights, and bf16 or
fp16 autocast of the convolutions and fully connected layers; mmcv's CPU RoIAlign and NMS have
no bf16 kernels, so the box operations stay fp32, as in Point3D's 3D Head.
"""
import os.path as osp
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..apis import inference_autocast, to_channels_last
from ..utils.benchmark import latency_stats, median_time

SLOWONLY_CONFIG = ('detection/slowonly/'
                   'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py')
DETECTOR_CONFIG = 'faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py'
#: The demo's ``--det-score-thr`` and ``--det-cat-id`` (COCO's person).
PERSON_SCORE_THR, PERSON_LABEL = 0.9, 0
#: Point3D's input size, at which the 'input' setting feeds both models.
INPUT_SIZE = 256
#: mmaction2's demo: mmdet's Resize scale as shipped, and SlowOnly's frames at short side 256
#: (smaller only in tests).
DEMO = dict(detector_scale=(1333, 800), clip_short_side=256)
SETTINGS = ('demo', 'input')
SLOWONLY_ALONE = 'SlowOnly-R50 alone, boxes given (lower bound: no person detector)'



def pipeline_name(setting: str, input_size: int = INPUT_SIZE) -> str:
    """What the pipeline at ``setting`` includes, for reports."""
    if setting == 'demo':
        return ("Faster R-CNN R50-FPN 2x at mmaction2's demo settings (mmdet's test pipeline: "
                'Resize(1333, 800, keep_ratio)) + SlowOnly-R50 on short-side-256 clips')
    return (f'Faster R-CNN R50-FPN 2x fed {input_size}x{input_size} + SlowOnly-R50 on '
            f'{input_size}x{input_size} clips (our input size)')


def shipped_config(package: str, relative: str) -> str:
    """The path of config ``relative`` in the configs that ``package`` (mmdet, mmaction)
    ships in its ``.mim/configs``.

    Raises:
        FileNotFoundError: the installed package has no such config.
    """
    module = __import__(package)
    path = osp.join(osp.dirname(module.__file__), '.mim', 'configs', relative)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: {package} {module.__version__} ships no config '
                                f'{relative}')
    return path


def _to_float(value):
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_to_float(item) for item in value)
    return value


def autocast_parts(model: nn.Module, parts: Sequence[str], dtype: Optional[str]) -> nn.Module:
    """Run each named submodule of ``model`` ('backbone', 'roi_head.bbox_head', ...) under
    autocast to ``dtype`` ('bfloat16', 'float16'; None: unchanged), its floating outputs cast
    back to fp32 for the parts between them (box operations without a bf16 kernel)."""
    if dtype is None:
        return model
    for name in parts:
        part = model.get_submodule(name)

        def forward(*args, _forward=part.forward, **kwargs):
            with inference_autocast(model, dtype):
                return _to_float(_forward(*args, **kwargs))

        part.forward = forward
    return model


def build_slowonly(device: str, channels_last: bool = False,
                   dtype: Optional[str] = None) -> Tuple[nn.Module, int]:
    """mmaction2's SlowOnly-R50 AVA FastRCNN detector from its shipped config, random init
    (seed 0), with the speed options (autocast on the backbone, where its time goes), and its
    clip length."""
    from mmaction.registry import MODELS
    from mmengine.config import Config
    cfg = Config.fromfile(shipped_config('mmaction', SLOWONLY_CONFIG))
    cfg.model.pop('init_cfg', None)  # random init: nothing downloaded
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).eval()
    if channels_last:
        to_channels_last(model)
    autocast_parts(model, ['backbone'], dtype)
    clip_len = next(step['clip_len'] for step in cfg.val_pipeline
                    if step['type'] == 'SampleAVAFrames')
    return model, clip_len


def slowonly_predict(model: nn.Module, clip: torch.Tensor, boxes: torch.Tensor) -> None:
    """SlowOnly's action scores of ``boxes`` (N, 4) in ``clip`` (3, T, H, W), uint8, through
    its data preprocessor (normalisation) and prediction."""
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    sample = ActionDataSample(metainfo=dict(img_shape=tuple(clip.shape[-2:])))
    sample.proposals = InstanceData(bboxes=boxes, scores=torch.ones(len(boxes)))
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[clip], data_samples=[sample]), False)
        model(**data, mode='predict')[0].pred_instances.scores.cpu()


def fixed_boxes(count: int, shape: Tuple[int, int]) -> torch.Tensor:
    """``count`` person-sized boxes side by side in an (H, W) frame."""
    height, width = shape
    step = (width - 60) / max(count, 1)
    return torch.tensor([[step * i, 0.12 * height, step * i + 60, 0.86 * height]
                         for i in range(count)], dtype=torch.float32)


def peer_latency(device: str, clips: int, warmup: int = 1, num_proposals: int = 5,
                 channels_last: bool = False, dtype: Optional[str] = None,
                 input_size: int = INPUT_SIZE) -> Dict:
    """SlowOnly alone (:data:`SLOWONLY_ALONE`): per-clip latency of SlowOnly-R50 AVA (its own
    clip length, 4 frames at interval 16) on an ``input_size`` squared clip with
    ``num_proposals`` boxes given, with the speed options."""
    model, clip_len = build_slowonly(device, channels_last, dtype)
    size = input_size
    clip = torch.randint(0, 255, (3, clip_len, size, size), dtype=torch.uint8)
    boxes = fixed_boxes(num_proposals, (size, size))
    _, _, latencies = median_time(lambda: slowonly_predict(model, clip, boxes), clips,
                                  warmup, device)
    stats = latency_stats(latencies)
    row = dict(name=f'{SLOWONLY_ALONE}, {size}x{size} clips',
               config=f'mmaction::{SLOWONLY_CONFIG}',
               clip_len=clip_len, input=f'{size}x{size}', proposals=num_proposals,
               channels_last=channels_last, dtype=dtype, ms_per_clip=stats['ms_median'],
               key_frames_per_s=stats['fps'], clips=len(latencies),
               ms_all=[1e3 * t for t in latencies])
    print(f'  peer {SLOWONLY_ALONE}, channels_last={channels_last}, dtype={dtype}: '
          f'{row["ms_per_clip"]:.1f} ms/key frame', flush=True)
    return row


def build_person_detector(device: str, setting: str, channels_last: bool = False,
                          dtype: Optional[str] = None, input_size: int = INPUT_SIZE,
                          detector_scale: Tuple[int, int] = DEMO['detector_scale']):
    """mmdet's Faster R-CNN R50-FPN 2x from mmdet's shipped :data:`DETECTOR_CONFIG`, random
    init (seed 0), and its test pipeline for frames in memory, as ``inference_detector``
    builds it (mmaction2's demo config drops its LoadAnnotations step, as here).

    Args:
        setting: 'demo' (the pipeline's Resize at ``detector_scale``, keep_ratio, as
            shipped) or 'input' (Resize to ``input_size`` squared, as Point3D's test pipeline).
        detector_scale: the demo's Resize scale, (1333, 800) as shipped.

    Returns:
        tuple: the model (its ``cfg`` the shipped config, ``cfg.filename`` its file) and the
        test pipeline.
    """
    from mmcv.transforms import Compose
    from mmdet.registry import MODELS
    from mmdet.utils import get_test_pipeline_cfg
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    if setting not in SETTINGS:
        raise ValueError(f'setting must be one of {SETTINGS}, got {setting!r}')
    cfg = Config.fromfile(shipped_config('mmdet', DETECTOR_CONFIG))
    cfg.model.backbone.init_cfg = None  # random init: nothing downloaded
    steps = [dict(step) for step in get_test_pipeline_cfg(cfg)
             if step['type'] != 'LoadAnnotations']
    steps[0] = dict(type='mmdet.LoadImageFromNDArray')
    resize = next(step for step in steps if step['type'] == 'Resize')
    if setting == 'input':
        resize.update(scale=(input_size, input_size), keep_ratio=False)
    else:
        resize.update(scale=tuple(detector_scale))
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).to(device).eval()
        pipeline = Compose(steps)
    model.cfg = cfg
    if channels_last:
        to_channels_last(model)
    autocast_parts(model, ['backbone', 'neck', 'rpn_head', 'roi_head.bbox_head'], dtype)
    return model, pipeline


def detect_people(model: nn.Module, pipeline, frame: np.ndarray) -> Tuple[np.ndarray, Tuple]:
    """The demo's person boxes (COCO person, score >= :data:`PERSON_SCORE_THR`) in ``frame``
    (H, W, 3) BGR, in its pixels, and the detector's input shape (H, W)."""
    from mmdet.apis import inference_detector
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        result = inference_detector(model, frame, test_pipeline=pipeline)
    pred = result.pred_instances.cpu().numpy()
    keep = (pred.labels == PERSON_LABEL) & (pred.scores >= PERSON_SCORE_THR)
    return pred.bboxes[keep], tuple(result.metainfo['img_shape'])


def clip_shape(setting: str, frame_shape: Tuple[int, int], input_size: int = INPUT_SIZE,
               short_side: int = DEMO['clip_short_side']) -> Tuple[int, int]:
    """(H, W) of SlowOnly's clip: the frame at ``short_side`` (the demo; 320x240 becomes
    341x256) or ``input_size`` squared."""
    if setting == 'input':
        return input_size, input_size
    height, width = frame_shape
    scale = short_side / min(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def pipeline_latency(device: str, setting: str, key_frames: int, warmup: int = 1,
                     num_proposals: int = 5, channels_last: bool = False,
                     dtype: Optional[str] = None,
                     frame_shape: Tuple[int, int] = (240, 320),
                     input_size: int = INPUT_SIZE, demo: Optional[Dict] = None) -> Dict:
    """Per-key-frame latency of the pipeline at ``setting`` (:data:`SETTINGS`): the person
    detector on a frame of ``frame_shape`` through mmdet's test pipeline, then SlowOnly on the
    clip with the boxes as proposals, both with the speed options. A key frame's time is its
    two stages' (each ends with its output on the host); the medians of ``key_frames`` key
    frames after ``warmup``.

    SlowOnly gets ``num_proposals`` proposals: the detector's person boxes first, then fixed
    boxes (random init finds no person above the demo's threshold; a fixed count keeps the
    time comparable between runs). The clip's frames come resized, as the demo resizes the
    video once before its loop. ``input_size``: the 'input' setting's; ``demo``: the 'demo'
    setting's :data:`DEMO` (smaller only in tests).
    """
    demo = {**DEMO, **(demo or {})}
    detector, pipeline = build_person_detector(
        device, setting, channels_last, dtype, input_size, demo['detector_scale'])
    slowonly, clip_len = build_slowonly(device, channels_last, dtype)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (*frame_shape, 3), dtype=np.uint8)
    height, width = clip_shape(setting, frame_shape, input_size, demo['clip_short_side'])
    clip = torch.from_numpy(rng.integers(0, 255, (3, clip_len, height, width), dtype=np.uint8))
    to_clip = np.array([width / frame_shape[1], height / frame_shape[0]] * 2, np.float32)
    stages, found, detector_input = [], [], None

    def key_frame() -> None:
        nonlocal detector_input
        start = time.perf_counter()
        people, detector_input = detect_people(detector, pipeline, frame)
        detected = time.perf_counter()
        boxes = torch.from_numpy(people[:num_proposals] * to_clip)
        boxes = torch.cat([boxes, fixed_boxes(num_proposals - len(boxes), (height, width))])
        slowonly_predict(slowonly, clip, boxes)
        stages.append((detected - start, time.perf_counter() - detected))
        found.append(len(people))

    for _ in range(warmup + max(key_frames, 1)):
        key_frame()
    detector_s, slowonly_s = (list(map(float, stage)) for stage in zip(*stages[warmup:]))
    latencies = [detector + slowonly for detector, slowonly in zip(detector_s, slowonly_s)]
    stats = latency_stats(latencies)
    row = dict(name=pipeline_name(setting, input_size), setting=setting,
               # as mim names a shipped config: a report names no machine's folders
               detector_config=f'mmdet::{DETECTOR_CONFIG}',
               slowonly_config=f'mmaction::{SLOWONLY_CONFIG}',
               frame=f'{frame_shape[1]}x{frame_shape[0]}',
               detector_input=f'{detector_input[1]}x{detector_input[0]}',
               clip=f'{clip_len}x{width}x{height}', proposals=num_proposals,
               detector_people=found[warmup:], channels_last=channels_last, dtype=dtype,
               ms_per_key_frame=stats['ms_median'], key_frames_per_s=stats['fps'],
               detector_ms=1e3 * float(np.median(detector_s)),
               slowonly_ms=1e3 * float(np.median(slowonly_s)), key_frames=len(latencies),
               ms_all=[1e3 * t for t in latencies],
               detector_ms_all=[1e3 * t for t in detector_s],
               slowonly_ms_all=[1e3 * t for t in slowonly_s])
    print(f'  peer pipeline ({setting}: detector {row["detector_input"]}, clip {row["clip"]}), '
          f'channels_last={channels_last}, dtype={dtype}: {row["ms_per_key_frame"]:.1f} '
          f'ms/key frame = detector {row["detector_ms"]:.1f} + SlowOnly '
          f'{row["slowonly_ms"]:.1f}', flush=True)
    return row
