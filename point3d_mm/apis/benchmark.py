"""What the benchmarks of ``tools/analysis/`` measure, as functions the scripts call.

* inference (:func:`inference_rows`, :func:`speed_option_rows`, :func:`test_loop_row`,
  :func:`paper_speed`): per-frame latency of clip mode, streaming and the cached offline
  path of :func:`~point3d_mm.apis.detect_frames`, with the speed options of
  :mod:`point3d_mm.apis.speed`, and mmaction2's SlowOnly AVA detector as the peer
  (:func:`peer_latency`);
* data loading (:func:`loader_throughput`) and training (:func:`training_rows`):
  clips/s of a pipeline, iterations/s and peak memory of mmengine's Runner, and one
  paper-scale backbone step, without and with activation checkpointing;
* training memory per clip (:func:`plan_memory_cases`, :func:`measure_memory_cases`,
  :func:`summarise`): one paper-scale ``train_step`` per fresh process
  (:func:`measure_step`), and the clips that fit a GPU;
* evaluation (:func:`synthetic_eval_set`, :func:`time_linking` for each of
  :func:`linkers`, :func:`time_frame_ap`, :func:`time_video_ap`) against mmaction2's
  ``multisports_utils``;
* the demo's memory against video length (:func:`demo_memory`).

Every model starts from random initialisation; nothing is downloaded. Timing, memory
readers and the machine's description are in :mod:`point3d_mm.utils.benchmark`.
"""
import copy
import functools
import glob
import json
import math
import os
import os.path as osp
import re
import sys
import tempfile
import time
from contextlib import nullcontext
from typing import Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..utils.benchmark import (
    child_env,
    in_fresh_process,
    latency_stats,
    median_time,
    peak_cuda_mb,
    peak_rss_mb,
    proc_status_mb,
    reset_peak_cuda,
    run_measured,
)
from .inference import detect_frames
from .model import init_detector
from .speed import apply_speed_options, cpu_has_native_bf16, inference_autocast, to_channels_last

_PACKAGE = osp.dirname(osp.dirname(osp.realpath(__file__)))
#: Where configs/ and tools/ are: the checkout, or the package's .mim of an installed wheel.
REPO = (osp.join(_PACKAGE, '.mim') if osp.isdir(osp.join(_PACKAGE, '.mim', 'configs'))
        and not osp.isdir(osp.join(osp.dirname(_PACKAGE), 'configs')) else osp.dirname(_PACKAGE))
#: Short names of the configs the benchmarks time (files under ``REPO/configs``).
CONFIGS = dict(tiny='configs/point3d_tiny_synthetic.py', paper='configs/point3d_ucf24.py',
               ucf24='configs/point3d_ucf24.py', jhmdb='configs/point3d_jhmdb.py',
               ava='configs/point3d_ava.py')
PEER_CONFIG = ('detection/slowonly/'
               'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py')
FRAME_SHAPE = (240, 320)  # UCF101-24's frames; the test pipelines resize them

#: Cheaper temporal parts (``cfg_options`` of :func:`~point3d_mm.apis.init_detector`),
#: cheapest last. The paper's 3D Head runs its ResNet3d on the full 64x64 map; 'stem stride
#: 2' halves it in the stem convolution, as an image ResNet's stem does; 'stem + pool stride
#: 2' also strides the stem's pooling (16x16). They change the model, so they need training
#: of their own and are not the configs' default.
CHEAPER_3D_HEADS = {
    'stem stride 2': {'model.cls_head.backbone.conv1_stride_s': 2},
    'stem + pool stride 2': {'model.cls_head.backbone.conv1_stride_s': 2,
                             'model.cls_head.backbone.pool1_stride_s': 2},
}


def config_path(name: str) -> str:
    """A short name of :data:`CONFIGS` or a config file, as an absolute path."""
    return osp.join(REPO, CONFIGS[name]) if name in CONFIGS else osp.abspath(name)


def config_name(path: str) -> str:
    """The short name of a config (``ucf24`` ...), else its file name without extension."""
    for short, relative in CONFIGS.items():
        if short != 'paper' and path in (short, osp.join(REPO, relative)):
            return short
    return osp.splitext(osp.basename(path))[0]


# ---------------------------------------------------------------------------- inference
def synthetic_video(num_frames: int, seed: int = 0) -> List[np.ndarray]:
    """BGR noise frames (H, W, 3) of UCF101-24's size with a bright box moving right."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 255, (num_frames, *FRAME_SHAPE, 3), dtype=np.uint8)
    for t in range(num_frames):
        video[t, 60:200, 40 + 4 * t:100 + 4 * t] = 220
    return list(video)


def build_detector(config: str, device: str, cfg_options: Optional[Dict] = None,
                   clip_len: Optional[int] = None) -> nn.Module:
    """Random-init detector with a fixed seed, optionally at another T."""
    torch.manual_seed(0)
    model = init_detector(config, device=device, cfg_options=cfg_options)
    if clip_len:
        set_test_clip_len(model.cfg, clip_len)
    return model


def set_test_clip_len(cfg, clip_len: int) -> None:
    """Run inference at T = ``clip_len``: the test dataset's clip_len is what
    ``detect_frames`` reads, and a top-level clip_len must agree with it."""
    cfg.test_dataloader.dataset.clip_len = clip_len
    if 'clip_len' in cfg:
        cfg.clip_len = clip_len


def frame_latencies(model: nn.Module, frames: List[np.ndarray], mode: str, warmup: int = 0,
                    context: Callable[[], ContextManager] = nullcontext,
                    frame_batch: int = 1) -> List[float]:
    """Seconds per frame of :func:`detect_frames` in ``mode`` ('clip', 'streaming',
    'offline'), without the first ``warmup`` frames (clip, streaming) or batches (offline).

    The detections are on the host when ``on_frame`` runs, so GPU work is included. Offline,
    the backbone runs ``frame_batch`` frames per call: each batch's time (last frame of one
    batch to the last of the next, the first batch from the start) over ``frame_batch``.
    """
    stamps = [time.perf_counter()]

    def stamp(number: int, *_) -> None:
        if mode != 'offline' or number % frame_batch == 0:
            stamps.append(time.perf_counter())

    kwargs = dict(frame_batch=frame_batch) if mode == 'offline' else {}
    with torch.no_grad(), context():
        detect_frames(model, frames, mode=mode, on_frame=stamp, **kwargs)
    return [t / (frame_batch if mode == 'offline' else 1) for t in np.diff(stamps)[warmup:]]


def time_modes(model: nn.Module, clip_len: int, frames: int, warmup: int) -> Dict:
    """Clip mode and streaming at one T, after one untimed streaming frame (which builds
    the kernels of the backbone and of the temporal part at this T)."""
    set_test_clip_len(model.cfg, clip_len)
    video = synthetic_video(warmup + frames)
    row = dict(clip_len=clip_len)
    try:
        frame_latencies(model, video[:1], 'streaming')
        for key, mode in (('clip', 'clip'), ('stream', 'streaming')):
            row[key] = latency_stats(frame_latencies(model, video, mode, warmup))
        row['speedup'] = row['clip']['ms_median'] / row['stream']['ms_median']
    except RuntimeError as error:  # e.g. a 3D backbone that cannot take T=1
        row['error'] = str(error).splitlines()[0][:160]
    return row


def format_inference_row(row: Dict) -> str:
    head = f'{row["config"]:5s} T={row["clip_len"]:<3d}'
    if 'error' in row:
        return f'{head} n/a: {row["error"]}'
    clip, stream = row['clip'], row['stream']
    return (f'{head} clip {clip["ms_median"]:10.1f} ms/frame {clip["fps"]:7.2f} fps | '
            f'stream {stream["ms_median"]:10.1f} ms/frame {stream["fps"]:7.2f} fps | '
            f'x{row["speedup"]:.2f}')


def inference_rows(name: str, model: nn.Module, clip_lens: Sequence[int], frames: int,
                   warmup: int) -> List[Dict]:
    """:func:`time_modes` of one config at each T, printed as it goes."""
    rows = []
    for clip_len in clip_lens:
        rows.append(dict(config=name, **time_modes(model, clip_len, frames, warmup)))
        print(format_inference_row(rows[-1]), flush=True)
    return rows


def speed_variants(device: str, with_compile: bool = False) -> Dict[str, Dict]:
    """Option sets: :func:`apply_speed_options` keywords and an autocast ``dtype``."""
    variants = {'fp32 eager': {}, 'channels_last': dict(channels_last=True),
                'bf16 autocast': dict(dtype='bfloat16'),
                'channels_last + bf16': dict(channels_last=True, dtype='bfloat16')}
    if device.startswith('cuda'):
        variants['fp16 autocast'] = dict(dtype='float16')
        variants['channels_last + fp16'] = dict(channels_last=True, dtype='float16')
    if with_compile:
        variants['torch.compile'] = dict(torch_compile=True)
    return variants


def speed_option_rows(name: str, model: nn.Module, clip_len: int, frames: int, warmup: int,
                      variants: Dict[str, Dict]) -> List[Dict]:
    """Streaming latency of each option set (on a copy of the model) and its speed-up over
    the first (fp32 eager); ``first_call_s`` includes compilation."""
    set_test_clip_len(model.cfg, clip_len)
    video = synthetic_video(warmup + frames)
    rows = []
    for variant, options in variants.items():
        options = dict(options)
        dtype = options.pop('dtype', None)
        variant_model = apply_speed_options(copy.deepcopy(model), **options)
        context = functools.partial(inference_autocast, variant_model, dtype)
        start = time.perf_counter()
        frame_latencies(variant_model, video[:1], 'streaming', 0, context)  # compiles
        first_call = time.perf_counter() - start
        stats = latency_stats(frame_latencies(variant_model, video, 'streaming', warmup,
                                              context))
        row = dict(config=name, clip_len=clip_len, variant=variant, first_call_s=first_call,
                   **stats)
        row['speedup'] = rows[0]['ms_median'] / row['ms_median'] if rows else 1.0
        print(f'  {name:5s} T={clip_len:<3d} {variant:22s} {row["ms_median"]:10.1f} ms/frame '
              f'x{row["speedup"]:.2f} (first call {first_call:.1f} s)', flush=True)
        rows.append(row)
        del variant_model
    return rows


def test_loop_row(model: nn.Module, clip_frames: int, batches: int, frame_batch: int,
                  context: Callable[[], ContextManager] = nullcontext) -> Dict:
    """Per-frame cost of the test loop at the config's T, both paths on one video: clip
    mode (the whole model on each frame's clip, what mmengine's loops do) and the cached
    path of ``CachedFeatureTestLoop`` (``mode='offline'``: the backbone once per frame,
    ``frame_batch`` frames per call, then the temporal part per key frame). Both after one
    untimed streaming frame; ``ratio`` = clip / cached."""
    clip_len = model.cfg.test_dataloader.dataset.clip_len
    video = synthetic_video(max(clip_frames, batches * frame_batch))
    frame_latencies(model, video[:1], 'streaming', 0, context)
    clip = latency_stats(frame_latencies(model, video[:clip_frames], 'clip', 0, context))
    cached = latency_stats(frame_latencies(model, video[:batches * frame_batch], 'offline', 0,
                                           context, frame_batch))
    cached['batches'] = cached.pop('frames')
    row = dict(clip_len=clip_len, frame_batch=frame_batch, clip=clip, cached=cached,
               ratio=clip['ms_median'] / cached['ms_median'])
    print(f'test loop T={clip_len}: clip mode {clip["ms_median"]:.0f} ms/frame, cached '
          f'{cached["ms_median"]:.0f} ms/frame (frame_batch {frame_batch}): '
          f'x{row["ratio"]:.2f}', flush=True)
    return row


def part_profile(model: nn.Module, repeats: int = 3,
                 context: Callable[[], ContextManager] = nullcontext) -> Dict[str, float]:
    """Median ms of each part of one streaming frame: the backbone on one frame, the Point
    Head on the key frame (forward and decoding), TWA and the 3D Head (forward and
    classification) on the T cached features; random inputs at the config's input size."""
    clip_len = model.cfg.test_dataloader.dataset.clip_len
    size = int(model.cfg.get('input_size', 256))
    device = next(model.parameters()).device
    frame = torch.randn(1, 3, size, size, device=device)

    def ms(function: Callable) -> float:
        return 1e3 * median_time(function, repeats, warmup=1, device=str(device))[1]

    with torch.no_grad(), context():
        feats = model.extract_frame_feats(frame)[-1]
        clip_feats = feats[:, None].expand(1, clip_len, *feats.shape[1:]).contiguous()
        y = model.forward_temporal(clip_feats)
        head_feats = model.cls_head(y)
        rois = torch.tensor([[0.0, 40.0, 30.0, 120.0, 220.0]], device=device)
        frame_inds = torch.tensor([clip_len - 1], device=device)
        point_head = model.point_head
        return dict(
            backbone=ms(lambda: model.extract_frame_feats(frame)),
            point_head=ms(lambda: point_head.predict_by_feat(*point_head((feats, )),
                                                             (size, size))),
            twa=ms(lambda: model.forward_temporal(clip_feats)),
            head_3d=ms(lambda: model.cls_head.predict_by_feat(model.cls_head(y), rois,
                                                              frame_inds, (size, size))),
            head_3d_shape=list(head_feats.shape))


def paper_speed_variants(device: str, config: str) -> List[Tuple[str, str, Optional[Dict],
                                                                  Dict]]:
    """(name, config, cfg_options, speed options) of the paper-speed models.

    The paper's model in fp32, with channels_last and, where the hardware runs it natively
    (a GPU, or a CPU with :func:`~point3d_mm.apis.speed.cpu_has_native_bf16`), with
    channels_last + fp16 (GPU) or bf16 (CPU); the :data:`CHEAPER_3D_HEADS`; the config's
    shipped fast versions (``<config>_fast*.py`` beside it); and the 1-stack hourglass (not
    the paper's model) with the cheapest 3D Head.
    """
    cuda = device.startswith('cuda')
    half = 'float16' if cuda else 'bfloat16'
    native = cuda or cpu_has_native_bf16()
    fast = dict(channels_last=True, dtype=half) if native else dict(channels_last=True)
    label = f'channels_last + {half}' if native else 'channels_last'
    variants = [('paper, fp32', config, None, {}),
                ('paper, channels_last', config, None, dict(channels_last=True))]
    if native:
        variants.append((f'paper, {label}', config, None, fast))
    for name, cfg_options in CHEAPER_3D_HEADS.items():
        variants.append((f'paper + 3D Head {name}, fp32', config, cfg_options, {}))
        if native:
            variants.append((f'paper + 3D Head {name}, {label}', config, cfg_options, fast))
    stem = osp.splitext(config)[0]
    for path in sorted(glob.glob(glob.escape(stem) + '_fast*.py')):
        variants.append((f'{osp.basename(path)}, fp32', path, None, {}))
        if native:
            variants.append((f'{osp.basename(path)}, {label}', path, None, fast))
    cheapest_name, cheapest = list(CHEAPER_3D_HEADS.items())[-1]
    variants.append((f'NOT paper: 1-stack hourglass + 3D Head {cheapest_name}, fp32', config,
                     {**cheapest, 'model.backbone.num_stacks': 1}, {}))
    return variants


def paper_speed(device: str, frames: int, config: str, repeats: int = 3,
                clip_len: int = 16, frame_batch: int = 4,
                paper_only: bool = False) -> Dict:
    """Paper-scale (T=``clip_len``) latency of each of :func:`paper_speed_variants` (or the
    named ``variants``): streaming (median of ``frames`` frames after one warm-up frame,
    itself after one untimed streaming frame), the cached offline path (``frames`` batches
    of ``frame_batch`` frames, after one untimed batch) and where a streaming frame goes
    (:func:`part_profile`); and the peer in the same run with each speed option.
    ``paper_only``: the paper's model alone (no cheaper 3D Head, no 1-stack hourglass).
    ``vs_peer``: our streaming latency over the peer's fp32 per-key-frame latency (<= 1: at
    least as fast); ``vs_peer_same_options``: over the peer's with the same options."""
    rows = []
    for name, path, cfg_options, options in paper_speed_variants(device, config):
        if paper_only and not name.startswith('paper,'):
            continue
        dtype, channels_last = options.get('dtype'), options.get('channels_last', False)
        model = apply_speed_options(build_detector(path, device, cfg_options, clip_len),
                                    channels_last=channels_last)
        context = functools.partial(inference_autocast, model, dtype)
        video = synthetic_video(max(1 + frames, (1 + frames) * frame_batch))
        frame_latencies(model, video[:1], 'streaming', 0, context)
        latencies = frame_latencies(model, video[:1 + frames], 'streaming', 1, context)
        cached = frame_latencies(model, video[:(1 + frames) * frame_batch], 'offline', 1,
                                 context, frame_batch)
        row = dict(model=name, config=osp.relpath(path, REPO), cfg_options=cfg_options or {},
                   dtype=dtype, channels_last=channels_last, **latency_stats(latencies),
                   ms_all=[1e3 * t for t in latencies],
                   cached_ms_per_frame=1e3 * float(np.median(cached)),
                   cached_fps=1 / float(np.median(cached)), frame_batch=frame_batch,
                   parts_ms=part_profile(model, repeats, context))
        rows.append(row)
        print(f'  {name:62s} stream {row["ms_median"]:8.1f} ms/frame, cached '
              f'{row["cached_ms_per_frame"]:8.1f} ms/frame; parts ' + ', '.join(
                  f'{k} {v:.1f}' for k, v in row['parts_ms'].items()
                  if not isinstance(v, list)), flush=True)
        del model
    peer_options = sorted({(row['channels_last'], row['dtype']) for row in rows} | {(False,
                                                                                     None)},
                          key=lambda option: (option[0], option[1] or ''))
    peers = [peer_latency(device, clips=frames, channels_last=channels_last, dtype=dtype)
             for channels_last, dtype in peer_options]
    fp32_peer = peers[0]
    for row in rows:
        row['vs_peer'] = row['ms_median'] / fp32_peer['ms_per_clip']
        same = next(peer for peer in peers if (peer['channels_last'], peer['dtype']) ==
                    (row['channels_last'], row['dtype']))
        row['vs_peer_same_options'] = row['ms_median'] / same['ms_per_clip']
    return dict(clip_len=clip_len, frames=frames, rows=rows, peer=peers)


def peer_latency(device: str, clips: int, warmup: int = 1, num_proposals: int = 5,
                 channels_last: bool = False, dtype: Optional[str] = None) -> Dict:
    """mmaction2's SlowOnly-R50 AVA FastRCNN detector (its own clip length, 4 frames at
    interval 16) on a 256x256 clip with a few proposal boxes: per-clip latency, optionally
    with channels_last weights and autocast (``dtype``) of its backbone (mmcv's CPU RoIAlign
    has no bf16 kernel, so the RoI head stays fp32, as in Point3D's 3D Head)."""
    import mmaction
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    from mmengine.config import Config
    from mmengine.structures import InstanceData
    cfg = Config.fromfile(osp.join(osp.dirname(mmaction.__file__), '.mim', 'configs',
                                   PEER_CONFIG))
    cfg.model.pop('init_cfg', None)  # random init: nothing downloaded
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).eval()
    if channels_last:
        to_channels_last(model)
    if dtype:
        backbone_forward = model.backbone.forward

        def autocast_backbone(*args, **kwargs):
            with inference_autocast(model, dtype):
                feats = backbone_forward(*args, **kwargs)
            return (tuple(feat.float() for feat in feats) if isinstance(feats, tuple)
                    else feats.float())

        model.backbone.forward = autocast_backbone
    clip_len = next(step['clip_len'] for step in cfg.val_pipeline
                    if step['type'] == 'SampleAVAFrames')
    size = 256
    clip = torch.randint(0, 255, (3, clip_len, size, size), dtype=torch.uint8)
    boxes = torch.tensor([[20.0 + 40 * i, 30.0, 80.0 + 40 * i, 220.0]
                          for i in range(num_proposals)])

    def predict() -> None:
        sample = ActionDataSample(metainfo=dict(img_shape=(size, size)))
        sample.proposals = InstanceData(bboxes=boxes, scores=torch.ones(len(boxes)))
        with torch.no_grad():
            data = model.data_preprocessor(dict(inputs=[clip], data_samples=[sample]), False)
            model(**data, mode='predict')[0].pred_instances.scores.cpu()

    _, _, latencies = median_time(predict, clips, warmup, device)
    stats = latency_stats(latencies)
    row = dict(config=PEER_CONFIG, clip_len=clip_len, input=f'{size}x{size}',
               proposals=num_proposals, channels_last=channels_last, dtype=dtype,
               ms_per_clip=stats['ms_median'], key_frames_per_s=stats['fps'],
               clips=len(latencies), ms_all=[1e3 * t for t in latencies])
    print(f'  peer SlowOnly-R50 AVA, channels_last={channels_last}, dtype={dtype}: '
          f'{row["ms_per_clip"]:.1f} ms/key frame', flush=True)
    return row


# ---------------------------------------------------------------------------- data loading
def loader_throughput(config: str, data_root: str, split: str = 'train', workers: int = 2,
                      batch_size: int = 8, batches: int = 60, warmup: int = 5,
                      seed: int = 0) -> Dict:
    """Clips/s of a dataset config's ``split`` pipeline through mmengine's DataLoader with
    ``workers`` processes: ``batches`` batches timed after ``warmup`` untimed ones (worker
    start-up, first file reads), cycling over the dataset."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    loader_cfg = cfg.train_dataloader if split == 'train' else cfg.test_dataloader
    loader_cfg.dataset.data_root = data_root
    loader_cfg.update(batch_size=batch_size, num_workers=workers,
                      persistent_workers=workers > 0)
    loader = Runner.build_dataloader(loader_cfg, seed=seed)

    def cycle():
        while True:
            yield from loader

    stream = cycle()
    for _ in range(warmup):
        next(stream)
    clips, seconds = median_time(lambda: sum(len(next(stream)['inputs'])
                                             for _ in range(batches)), 1)[:2]
    return dict(clips=clips, seconds=seconds, clips_per_s=clips / seconds,
                dataset_clips=len(loader.dataset),
                clip_shape=tuple(loader.dataset[0]['inputs'].shape))


# ---------------------------------------------------------------------------- training
def _memory_result(device: str, rss_before: int) -> Dict:
    """Peak memory since the start of the process (CPU) or since the last reset (GPU)."""
    result = dict(rss_before_mb=rss_before / 2**20, peak_rss_mb=peak_rss_mb())
    if device.startswith('cuda'):
        result['peak_cuda_allocated_mb'] = peak_cuda_mb(device)
    return result


def train_run(config: str, data_root: str, work_dir: str, iters: int, with_cp: bool,
              device: str) -> Dict:
    """Train the config for ``iters`` iterations with mmengine's Runner: per-iteration
    ``iter_s`` and ``data_s`` (mmengine's ``time`` and ``data_time``), the batch size, the
    workers and the memory."""
    import psutil
    from mmengine.config import Config
    from mmengine.runner import Runner

    import point3d_mm  # noqa: F401  (registers the parts in this process)
    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.log_level = work_dir, 'WARNING'
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = None
    cfg.model.backbone.with_cp = with_cp
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg[key] = None
    runner = Runner.from_cfg(cfg)
    reset_peak_cuda(device)
    rss_before = psutil.Process().memory_info().rss
    runner.train()
    hub = runner.message_hub
    return dict(iter_s=hub.get_scalar('train/time').data[0].tolist(),
                data_s=hub.get_scalar('train/data_time').data[0].tolist(),
                batch_size=cfg.train_dataloader.batch_size,
                workers=cfg.train_dataloader.num_workers, **_memory_result(device, rss_before))


def backbone_step_run(config: str, num_frames: int, with_cp: bool, device: str) -> Dict:
    """One forward + backward of the config's backbone alone on random frames: ``step_s``
    and the memory."""
    import psutil
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import point3d_mm  # noqa: F401
    init_default_scope('mmaction')
    cfg = Config.fromfile(config)
    backbone_cfg = dict(cfg.model.backbone, with_cp=with_cp)
    backbone_cfg.pop('init_cfg', None)
    backbone = MODELS.build(backbone_cfg).to(device).train()
    frames = torch.randn(num_frames, 3, cfg.input_size, cfg.input_size, device=device)
    reset_peak_cuda(device)
    rss_before = psutil.Process().memory_info().rss
    seconds = median_time(lambda: sum(feat.mean() for feat in backbone(frames)).backward(), 1,
                          device=device)[1]
    return dict(step_s=seconds, **_memory_result(device, rss_before))


def format_train_row(row: Dict) -> str:
    memory = (f'peak CUDA {row["peak_cuda_allocated_mb"]:.0f} MB'
              if 'peak_cuda_allocated_mb' in row else
              f'peak RSS {row["peak_rss_mb"]:.0f} MB (before training '
              f'{row["rss_before_mb"]:.0f} MB)')
    data = f', data {100 * row["data_share"]:.1f}%' if 'data_share' in row else ''
    return (f'train {row["config"]:5s} {row["part"]:18s} with_cp={str(row["with_cp"]):5s} '
            f'{row["iters_per_s"]:.2f} it/s ({row["ms_per_iter"]:.0f} ms/iter{data}), {memory}')


def training_rows(iters: int, device: str, threads: Optional[int], backbone_frames: int,
                  warmup: int = 2) -> List[Dict]:
    """Tiny-config training (each in a fresh process, so that its peak memory is its own)
    and a paper-scale backbone step, without and with activation checkpointing."""
    import statistics

    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    rows = []
    with tempfile.TemporaryDirectory(prefix='point3d_bench_') as tmp:
        SyntheticActions(seed=0).generate(osp.join(tmp, 'data'))
        for with_cp in (False, True):
            result = in_fresh_process(train_run, threads, config_path('tiny'),
                                      osp.join(tmp, 'data'), osp.join(tmp, f'cp{int(with_cp)}'),
                                      warmup + iters, with_cp, device)
            iter_s = statistics.median(result.pop('iter_s')[warmup:])
            data_s = statistics.median(result.pop('data_s')[warmup:])
            rows.append(dict(config='tiny', part='detector (Runner)', with_cp=with_cp,
                             iters=iters, iters_per_s=1 / iter_s, ms_per_iter=1e3 * iter_s,
                             data_ms_per_iter=1e3 * data_s, data_share=data_s / iter_s,
                             **result))
            print(format_train_row(rows[-1]), flush=True)
    for with_cp in (False, True) if backbone_frames else ():
        result = in_fresh_process(backbone_step_run, threads, config_path('paper'),
                                  backbone_frames, with_cp, device)
        rows.append(dict(config='paper', part=f'backbone, {backbone_frames} frames',
                         with_cp=with_cp, iters=1, iters_per_s=1 / result['step_s'],
                         ms_per_iter=1e3 * result['step_s'], **result))
        print(format_train_row(rows[-1]), flush=True)
    return rows


# ---------------------------------------------------------------------------- training memory
#: option name -> (autocast dtype of the model's train step, with_cp, fp16 AMP wrapper)
OPTIONS = {
    'fp32': dict(autocast=None, with_cp=False, amp=False),
    'bf16': dict(autocast='bfloat16', with_cp=False, amp=False),
    'cp': dict(autocast=None, with_cp=True, amp=False),
    'bf16+cp': dict(autocast='bfloat16', with_cp=True, amp=False),
    'fp16': dict(autocast=None, with_cp=False, amp=True),
    'fp16+cp': dict(autocast=None, with_cp=True, amp=True),
}
CUDA_ONLY_OPTIONS = ('fp16', 'fp16+cp')
HEADROOM = 0.15
RESULT_TAG = 'TRAIN_MEMORY_RESULT '
MB = 2**20


def build_training_config(config: str, option: str, cfg_options: Sequence[str] = ()):
    """The config with the option on, random init (every ``init_cfg`` dropped, as
    :func:`point3d_mm.apis.init_detector` does) and ``key=value`` ``cfg_options`` merged.
    fp16 is mmengine's ``AmpOptimWrapper`` (autocast + a dynamic GradScaler) around both
    optimizers, what ``tools/train.py --amp`` sets on a GPU."""
    import ast

    from mmengine.config import Config

    def literal(text: str):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict({key: literal(value) for key, value in
                             (item.split('=', 1) for item in cfg_options)})
    cfg.model.pop('init_cfg', None)
    for part in ('backbone', 'cls_head'):
        if isinstance(cfg.model.get(part), dict):
            cfg.model[part].pop('init_cfg', None)
    spec = OPTIONS[option]
    cfg.model.backbone.with_cp = spec['with_cp']
    if spec['autocast']:
        cfg.model.train_cfg = {**(cfg.model.get('train_cfg') or {}),
                               'autocast_dtype': spec['autocast']}
    if spec['amp']:
        from point3d_mm.engine.runner_setup import apply_amp
        apply_amp(cfg)
    return cfg


def training_clip_shape(cfg, clip_len: Optional[int],
                        input_size: Optional[int]) -> Tuple[int, int]:
    """(T, frame size) of the training clips: the config's unless overridden."""
    clip_len = clip_len or cfg.train_dataloader.dataset.get('clip_len') or cfg.get('clip_len')
    input_size = input_size or cfg.get('input_size')
    if not clip_len or not input_size:
        raise ValueError('the config sets no clip_len / input_size: pass --clip-len and '
                         '--input-size')
    return int(clip_len), int(input_size)


def synthetic_batch(num_clips: int, clip_len: int, size: int, num_classes: int) -> dict:
    """A raw training batch (before the data preprocessor), in docs/interfaces.md's format:
    uint8 noise clips (3, T, size, size) with two actors per frame, every frame annotated."""
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData

    from point3d_mm.structures.geometry import box_knots
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for clip in range(num_clips):
        inputs.append(torch.randint(0, 255, (3, clip_len, size, size), generator=generator,
                                    dtype=torch.uint8))
        boxes = torch.tensor([[0.1 * size + 0.4 * size * actor + t, 0.2 * size,
                               0.35 * size + 0.4 * size * actor + t, 0.9 * size]
                              for t in range(clip_len) for actor in range(2)])
        sample = ActionDataSample(metainfo=dict(
            frame_ids=list(range(1, clip_len + 1)), key_frame_index=clip_len - 1,
            img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
            flip=False))
        label = 1 + clip % (num_classes - 1)  # never 0 (AVA's background column)
        sample.gt_instances = InstanceData(
            bboxes=boxes, labels=torch.full((len(boxes), ), label),
            frame_inds=torch.arange(clip_len).repeat_interleave(2),
            track_ids=torch.arange(2).repeat(clip_len), knots=box_knots(boxes))
        sample.set_gt_label(label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _tensor_mb(tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / MB


def measure_step(config: str, option: str, batch: int, device: str = 'cpu',
                 threads: Optional[int] = 1, clip_len: Optional[int] = None,
                 input_size: Optional[int] = None, cfg_options: Sequence[str] = ()) -> Dict:
    """Build the config's model and optimizers, then run one training step of ``batch``
    clips and report the memory (of this process: run it in a fresh one, :func:`run_case`).

    The optimizer state (Adam's moments, SGD's momentum) is made by one step on zero
    gradients first, as in every step after the first.

    Returns:
        dict: the case, the parameter counts, ``weights_mb``, ``optimizer_state_mb``,
        ``grads_mb`` (fp32 gradients of every trainable parameter), ``rss_before_mb``,
        ``vmhwm_mb`` (peak RSS of this process, Linux), ``step_s``, ``loss`` and on CUDA
        ``cuda_before_mb``, ``cuda_peak_mb`` (``max_memory_allocated`` in the step) and
        ``gpu``.
    """
    import gc

    from mmaction.registry import MODELS
    from mmengine.optim import OptimWrapperDict, build_optim_wrapper
    from mmengine.registry import init_default_scope

    import point3d_mm  # noqa: F401  (registers the parts)
    from point3d_mm.utils.memory import trim_heap
    if threads:
        torch.set_num_threads(threads)
    init_default_scope('mmaction')
    cfg = build_training_config(config, option, cfg_options)
    clip_len, size = training_clip_shape(cfg, clip_len, input_size)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    wrappers = (list(optim_wrapper.values()) if isinstance(optim_wrapper, OptimWrapperDict)
                else [optim_wrapper])
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.grad = torch.zeros_like(param)
        for wrapper in wrappers:
            wrapper.optimizer.step()
            wrapper.optimizer.zero_grad(set_to_none=True)
    data = synthetic_batch(batch, clip_len, size, model.cls_head.num_classes)
    params = {name: sum(p.numel() for p in part.parameters())
              for name, part in model.named_children() if name != 'data_preprocessor'}
    state = [value for wrapper in wrappers for param_state in wrapper.optimizer.state.values()
             for value in param_state.values() if torch.is_tensor(value)]
    gc.collect()
    trim_heap()
    cuda_before = reset_peak_cuda(device)
    rss_before = proc_status_mb('VmRSS')
    log_vars, step_s = median_time(lambda: model.train_step(data, optim_wrapper), 1,
                                   device=device)[:2]
    result = dict(
        config=config_name(config), option=option, batch=batch, clip_len=clip_len,
        input_size=size, device=device, threads=torch.get_num_threads(), params=params,
        params_total=sum(params.values()),
        weights_mb=_tensor_mb(list(model.parameters()) + list(model.buffers())),
        optimizer_state_mb=_tensor_mb(state),
        grads_mb=_tensor_mb(p for p in model.parameters() if p.requires_grad),
        rss_before_mb=rss_before, vmhwm_mb=proc_status_mb('VmHWM'), step_s=step_s,
        loss=float(log_vars['loss']))
    if cuda_before is not None:
        result.update(cuda_before_mb=cuda_before, cuda_peak_mb=peak_cuda_mb(device),
                      gpu=torch.cuda.get_device_name(device))
    return result


def child_main(spec_json: str) -> None:
    """Entry of :func:`run_case`'s subprocess: :func:`measure_step` of a JSON spec, printed
    after :data:`RESULT_TAG`."""
    print(RESULT_TAG + json.dumps(measure_step(**json.loads(spec_json))), flush=True)


def run_case(config: str, option: str, batch: int, device: str = 'cpu', threads: int = 1,
             clip_len: Optional[int] = None, input_size: Optional[int] = None,
             cfg_options: Sequence[str] = ()) -> Dict:
    """:func:`measure_step` in a fresh subprocess, finished by :func:`finish_case`, with its
    ``spec`` and ``wall_s``.

    Raises:
        RuntimeError: the subprocess failed (e.g. killed for memory); its output's tail.
    """
    spec = dict(config=config, option=option, batch=batch, device=device, threads=threads,
                clip_len=clip_len, input_size=input_size, cfg_options=list(cfg_options))
    code = 'import sys; from point3d_mm.apis.benchmark import child_main; child_main(sys.argv[1])'
    run = run_measured([sys.executable, '-c', code, json.dumps(spec)],
                       child_env(threads, osp.dirname(_PACKAGE)), cwd=REPO, poll=0.2)
    lines = [line for line in run['output'].splitlines() if line.startswith(RESULT_TAG)]
    if run['returncode'] != 0 or not lines:
        raise RuntimeError(f'{config_name(config)} {option} batch {batch} failed '
                           f'({run["returncode"]}):\n{run["output"][-3000:]}')
    result = finish_case(json.loads(lines[-1][len(RESULT_TAG):]), run['ru_maxrss_mb'])
    result.update(spec=spec, wall_s=run['wall_s'])
    return result


def finish_case(result: Dict, ru_maxrss_mb: float) -> Dict:
    """Add ``ru_maxrss_mb``, ``peak_rss_mb`` (the smaller of ``ru_maxrss`` and the child's
    ``VmHWM``: Linux carries the launching process's RSS into ``ru_maxrss``) and
    ``growth_mb`` (CUDA: peak allocated minus allocated before the step; CPU: peak RSS
    minus the RSS before the step) to a :func:`measure_step` result."""
    vmhwm = result.get('vmhwm_mb')
    peak = min(ru_maxrss_mb, vmhwm) if vmhwm else ru_maxrss_mb
    result.update(ru_maxrss_mb=ru_maxrss_mb, peak_rss_mb=peak)
    result['growth_mb'] = (result['cuda_peak_mb'] - result['cuda_before_mb']
                           if 'cuda_peak_mb' in result else peak - result['rss_before_mb'])
    return result


def fit_line(points: Dict[int, float]) -> Tuple[float, float]:
    """Least-squares ``fixed + per_clip * N`` through {N: growth} (two or more N)."""
    xs, ys = list(points), list(points.values())
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) /
             sum((x - mean_x)**2 for x in xs))
    return mean_y - slope * mean_x, slope


def clips_per_gpu(capacity_gb: float, base_mb: float, per_clip_mb: float,
                  headroom: float = HEADROOM) -> int:
    """Clips per training step that fit ``capacity_gb`` GiB with ``headroom`` of it free:
    ``floor((capacity * (1 - headroom) - base) / per_clip)``, at least 0 (``base_mb``:
    weights, optimizer state and the step's fixed growth)."""
    usable = capacity_gb * 1024 * (1 - headroom)
    return max(0, math.floor((usable - base_mb) / per_clip_mb))


def precision(option: str) -> str:
    """'fp32', 'bfloat16' or 'fp16': what sets an option's fixed part (gradients and
    low-precision weight copies); checkpointing changes the activations only."""
    spec = OPTIONS[option]
    return 'fp16' if spec['amp'] else spec['autocast'] or 'fp32'


def reference_option(option: str) -> str:
    """The fp32 option with the same checkpointing ('bf16+cp' -> 'cp')."""
    return 'cp' if OPTIONS[option]['with_cp'] else 'fp32'


def summarise(cases: List[Dict], gpu_sizes: Sequence[float],
              headroom: float = HEADROOM) -> List[Dict]:
    """Per config, option and clip geometry (T, size): ``fixed_mb``, ``per_clip_mb``,
    ``base_mb`` (weights + optimizer state + fixed) and the clips that fit each GPU size.

    A config and option measured at two or more batch sizes gets its own line fit
    (``split='fit'``). One measured at a single batch size N takes ``fixed`` from a fit of
    the same :func:`precision`, of the same config and geometry if there is one, else of
    another (the configs share their parameters up to the classifier's last layer):
    ``split='fixed of <config> <option> <size>'``, ``per_clip = (growth - fixed) / N``.
    With no such fit, ``fixed`` is the fp32 gradients (``split='gradients'``: a lower bound
    of the fixed part, so per_clip is an upper bound). Then :func:`scale_to_largest` adds
    the rows of options measured at a smaller geometry only.
    """
    by_key: Dict[Tuple, Dict[int, Dict]] = {}
    for case in cases:
        key = (case['config'], case['option'], case['clip_len'], case['input_size'])
        by_key.setdefault(key, {})[case['batch']] = case
    fits = {key: fit_line({n: c['growth_mb'] for n, c in batches.items()})
            for key, batches in by_key.items() if len(batches) >= 2}
    rows = []
    for (config, option, clip_len, size), batches in by_key.items():
        any_case = next(iter(batches.values()))
        if (config, option, clip_len, size) in fits:
            fixed, per_clip = fits[(config, option, clip_len, size)]
            split = 'fit'
        else:
            batch, case = min(batches.items())
            donors = sorted(((c != config, (t, z) != (clip_len, size)), c, o, t, z)
                            for c, o, t, z in fits if precision(o) == precision(option))
            if donors:
                donor = donors[0][1:]
                fixed = fits[donor][0]
                split = f'fixed of {donor[0]} {donor[1]} {donor[3]}'
            else:
                fixed, split = case['grads_mb'], 'gradients'
            per_clip = (case['growth_mb'] - fixed) / batch
        weights = (any_case['cuda_before_mb'] if 'cuda_before_mb' in any_case else
                   any_case['weights_mb'] + any_case['optimizer_state_mb'])
        rows.append(dict(
            config=config, option=option, clip_len=clip_len, input_size=size, fixed_mb=fixed,
            per_clip_mb=per_clip, split=split, estimated=False,
            weights_and_optimizer_mb=weights,
            growth_mb={n: c['growth_mb'] for n, c in sorted(batches.items())},
            step_s={n: c['step_s'] for n, c in sorted(batches.items())}))
    rows += scale_to_largest(rows)
    for row in rows:
        row['base_mb'] = row['weights_and_optimizer_mb'] + row['fixed_mb']
        row['clips_per_gpu'] = {f'{size:g}': clips_per_gpu(size, row['base_mb'],
                                                            row['per_clip_mb'], headroom)
                                for size in gpu_sizes}
    return rows


def scale_to_largest(rows: List[Dict]) -> List[Dict]:
    """Estimated rows at each config's largest measured geometry for the options measured
    only at a smaller one (``split='scaled from <size>'``, ``estimated=True``).

    The per-clip memory is that of the fp32 reference (:func:`reference_option`) at the
    large geometry times the ratio of the two at the small one (activations scale alike
    with the frame area). The fixed part is the reference's at the large geometry plus the
    option's excess over it at the small one (its low-precision weight copies). Configs
    without the small geometry take the ratio of one that has it (``'ratio of <config>'``).
    """
    index = {(r['config'], r['option'], r['clip_len'], r['input_size']): r for r in rows}
    new = []
    for config in {r['config'] for r in rows}:
        geometries = {(r['clip_len'], r['input_size']) for r in rows if r['config'] == config}
        large = max(geometries, key=lambda g: g[0] * g[1]**2)
        for row in [r for r in rows if r['config'] == config]:
            small = (row['clip_len'], row['input_size'])
            if small == large or (config, row['option'], *large) in index:
                continue
            reference = reference_option(row['option'])
            ref_small = index.get((config, reference, *small))
            ref_large = index.get((config, reference, *large))
            if ref_small is None or ref_large is None:
                continue
            ratio = row['per_clip_mb'] / ref_small['per_clip_mb']
            new.append(dict(
                row, clip_len=large[0], input_size=large[1], estimated=True,
                per_clip_mb=ref_large['per_clip_mb'] * ratio,
                fixed_mb=ref_large['fixed_mb'] + row['fixed_mb'] - ref_small['fixed_mb'],
                split=f'scaled from {small[1]}', scale_ratio=ratio,
                weights_and_optimizer_mb=ref_large['weights_and_optimizer_mb'],
                growth_mb={}, step_s={}))
            index[(config, row['option'], *large)] = new[-1]
    for row in list(new):
        for other in {r['config'] for r in rows} - {row['config']}:
            key = (other, row['option'], row['clip_len'], row['input_size'])
            ref = index.get((other, reference_option(row['option']), row['clip_len'],
                             row['input_size']))
            if key in index or ref is None or ref['estimated']:
                continue
            index[key] = dict(
                row, config=other, per_clip_mb=ref['per_clip_mb'] * row['scale_ratio'],
                split=f'ratio of {row["config"]}',
                weights_and_optimizer_mb=ref['weights_and_optimizer_mb'])
            new.append(index[key])
    return new


def plan_memory_cases(configs: Sequence[str], options: Sequence[str], batches: Sequence[int],
                      split_configs: Sequence[str], split_options: Sequence[str],
                      scaled_options: Sequence[str] = (), scaled_input_size: int = 128,
                      scaled_configs: Sequence[str] = (), input_size: Optional[int] = None,
                      config_batch: bool = False) -> List[Tuple[str, str, int, Optional[int]]]:
    """(config, option, batch, input size) of every training-memory case, in order: every
    option at ``input_size`` (None: the config's), at every batch size for the
    ``split_configs`` x ``split_options``, else at the first; the ``scaled_options`` with
    their fp32 references (:func:`reference_option`) at ``scaled_input_size`` for the
    ``scaled_configs``, split alike. With ``config_batch``, the config's own
    ``train_dataloader.batch_size`` (its default per GPU) takes the place of the first batch
    size (or joins the split ones) in the first set. Configs are names of :data:`CONFIGS` or
    files."""
    from mmengine.config import Config

    def short(config: str) -> str:
        return config_name(config_path(config))

    def own_batches(config: str, option: str) -> List[int]:
        split_here = short(config) in split and option in split_options
        if not config_batch:
            return list(batches) if split_here else list(batches[:1])
        default = Config.fromfile(config_path(config)).train_dataloader.batch_size
        return sorted({*batches, default}) if split_here else [default]

    split, scaled = {short(c) for c in split_configs}, {short(c) for c in scaled_configs}
    plan = []
    for config in configs:
        sets = [(options, input_size)]
        if scaled_options and short(config) in scaled:
            references = sorted({reference_option(o) for o in scaled_options},
                                key=list(OPTIONS).index)
            sets.append((references + list(scaled_options), scaled_input_size))
        for number, (option_set, size) in enumerate(sets):
            for option in option_set:
                sizes = (own_batches(config, option) if number == 0 else
                         batches if short(config) in split and option in split_options
                         else batches[:1])
                plan += [(config, option, batch, size) for batch in sizes]
    return plan


def measure_memory_cases(plan: Sequence[Tuple[str, str, int, Optional[int]]], device: str,
                         threads: int, clip_len: Optional[int] = None,
                         cfg_options: Sequence[str] = (), reuse: Sequence[str] = (),
                         partial_out: Optional[str] = None) -> Tuple[List[Dict], List[Dict]]:
    """:func:`run_case` of every planned case (a failed one is reported and skipped), or its
    result from the ``reuse`` reports (same config, option, batch, T, size, device and
    threads); the cases so far go to ``partial_out`` after each. Returns (cases, failed)."""
    from ..utils.fileio import dump_json

    def key(case: Dict) -> tuple:
        spec = case.get('spec', {})
        return (case['config'], case['option'], case['batch'], spec.get('clip_len'),
                spec.get('input_size'), case['device'], case['threads'])

    cases, failed, reusable = [], [], {}
    for path in reuse:
        with open(path) as f:
            reusable.update((key(case), case) for case in json.load(f)['cases'])
    for config, option, batch, size in plan:
        path, short = config_path(config), config_name(config_path(config))
        name = f'{short:8s} {option:8s} batch {batch}' + (f' {size}px' if size else '')
        known = reusable.get(key(dict(config=short, option=option, batch=batch, device=device,
                                      threads=threads,
                                      spec=dict(clip_len=clip_len, input_size=size))))
        if known:
            cases.append(dict(known, reused=True))
            print(f'{name}: reused', flush=True)
            continue
        try:
            case = run_case(path, option, batch, device, threads, clip_len, size, cfg_options)
        except RuntimeError as error:  # e.g. killed for memory: keep the others
            print(error, flush=True)
            failed.append(dict(config=short, option=option, batch=batch, input_size=size,
                               error=str(error)[-500:]))
            continue
        before = case.get('cuda_before_mb', case['rss_before_mb'])
        print(f'{name}: growth {case["growth_mb"]:.0f} MB (before {before:.0f} MB), step '
              f'{case["step_s"]:.2f} s', flush=True)
        cases.append(case)
        if partial_out:
            dump_json(dict(cases=cases, failed=failed), partial_out)
    return cases, failed


def format_memory_report(report: Dict) -> str:
    """The command, one line per case and the clips-per-GPU table."""
    memory = 'peak CUDA allocated' if report['device'].startswith('cuda') else 'peak RSS'
    lines = [f'$ {report["command"]}', '',
             f'one training step ({report["device"]}, {report["threads"]} thread(s)): '
             f'{memory} growth over the model + optimizers',
             f'{"config":8s} {"option":8s} {"batch":>5s} {"T":>3s} {"size":>4s} '
             f'{"before MB":>10s} {"peak MB":>9s} {"growth MB":>10s} {"step s":>7s}']
    for case in report['cases']:
        before = case.get('cuda_before_mb', case['rss_before_mb'])
        peak = case.get('cuda_peak_mb', case['peak_rss_mb'])
        lines.append(f'{case["config"]:8s} {case["option"]:8s} {case["batch"]:5d} '
                     f'{case["clip_len"]:3d} {case["input_size"]:4d} {before:10.0f} '
                     f'{peak:9.0f} {case["growth_mb"]:10.0f} {case["step_s"]:7.2f}')
    sizes = list(report['summary'][0]['clips_per_gpu']) if report['summary'] else []
    lines += ['', f'clips per GPU with {100 * report["headroom"]:.0f} % headroom '
              '(base = weights + optimizer state + fixed)',
              f'{"config":8s} {"option":8s} {"T":>3s} {"size":>4s} {"per clip MB":>11s} '
              f'{"fixed MB":>9s} {"base MB":>8s} {"split":>24s} ' +
              ' '.join(f'{s + " GB":>6s}' for s in sizes)]
    for row in report['summary']:
        lines.append(f'{row["config"]:8s} {row["option"]:8s} {row["clip_len"]:3d} '
                     f'{row["input_size"]:4d} {row["per_clip_mb"]:11.0f} '
                     f'{row["fixed_mb"]:9.0f} {row["base_mb"]:8.0f} {row["split"]:>24s} ' +
                     ' '.join(f'{row["clips_per_gpu"][s]:6d}' for s in sizes))
    return '\n'.join(lines)


# ---------------------------------------------------------------------------- evaluation
VIDEO_THRS = (0.1, 0.2, 0.5, 0.75)
AVERAGE_THRS = tuple(0.5 + 0.05 * i for i in range(10))


def synthetic_eval_set(num_videos: int, num_detections: int, num_classes: int = 24,
                       seed: int = 0) -> Tuple[dict, np.ndarray, Dict[str, list]]:
    """An ACT ground truth, (D, 8) frame detections and tubes shaped like UCF101-24's.

    Each video has one class, 1-2 actors whose tubes cover part of its 100-250 frames;
    detections are jittered true boxes (90 % recall) plus wrong-class and random false
    positives up to ``num_detections``; tubes are jittered, trimmed copies of the true tubes
    plus false ones.
    """
    rng = np.random.default_rng(seed)
    videos = [f'class{v % num_classes:02d}/video_{v:05d}' for v in range(num_videos)]
    gttubes, nframes, tubes, true_rows = {}, {}, {}, []
    for iv, video in enumerate(videos):
        label, n = iv % num_classes, int(rng.integers(100, 251))
        nframes[video], gttubes[video], tubes[video] = n, {label: []}, []
        for _ in range(rng.integers(1, 3)):
            first = int(rng.integers(1, n // 3))
            last = int(rng.integers(2 * n // 3, n + 1))
            frames = np.arange(first, last + 1)
            xy = rng.uniform(0, 200, 2) + np.outer(frames - first, rng.normal(0, 0.5, 2))
            tube = np.column_stack([frames, xy, xy + rng.uniform(30, 100, 2)]).astype(np.float32)
            gttubes[video][label].append(tube)
            seen = tube[rng.random(len(tube)) < 0.9]
            true_rows.append(np.column_stack([np.full(len(seen), iv), seen[:, 0],
                                              np.full(len(seen), label), rng.random(len(seen)),
                                              seen[:, 1:] + rng.normal(0, 4, (len(seen), 4))]))
            for _ in range(3):
                lo = int(rng.integers(0, len(tube) // 4))
                hi = int(rng.integers(3 * len(tube) // 4, len(tube)))
                noisy = tube[lo:hi + 1].astype(np.float64)
                noisy[:, 1:] += rng.normal(0, 5, (len(noisy), 4))
                tubes[video].append((int(rng.choice([label, rng.integers(num_classes)])),
                                     float(rng.random()), noisy))
        for _ in range(4):
            first = int(rng.integers(1, n - 20))
            frames = np.arange(first, first + 20)
            xy = rng.uniform(0, 250, 2)
            tubes[video].append((int(rng.integers(num_classes)), float(rng.random()),
                                 np.column_stack([frames, np.tile([*xy, *xy + 50], (20, 1))])))
    dets = np.concatenate(true_rows)
    extra = max(num_detections - len(dets), 0)
    # Half of the false positives: a true box with the wrong class; half: random boxes.
    source = dets[rng.integers(0, len(dets), extra // 2)].copy()
    source[:, 2] = rng.integers(0, num_classes, len(source))
    source[:, 3] = rng.random(len(source)) * 0.5
    video_of = rng.integers(0, num_videos, extra - extra // 2)
    frame_of = rng.integers(1, np.array([nframes[videos[v]] for v in video_of]) + 1)
    xy = rng.uniform(0, 250, (len(video_of), 2))
    random_rows = np.column_stack([video_of, frame_of, rng.integers(0, num_classes, len(xy)),
                                   rng.random(len(xy)) * 0.5, xy, xy + 60])
    dets = np.concatenate([dets, source, random_rows])
    gt = dict(labels=[f'class{c:02d}' for c in range(num_classes)], gttubes=gttubes,
              nframes=nframes, resolution={v: (240, 320) for v in videos},
              train_videos=[[]], test_videos=[videos])
    return gt, dets, tubes


def eval_subset(gt: dict, dets: np.ndarray, tubes: Optional[Dict[str, list]],
                num_videos: int):
    """The ground truth, detections and tubes (if given) of the first ``num_videos``."""
    videos = gt['test_videos'][0][:num_videos]
    return (dict(gt, test_videos=[videos]), dets[dets[:, 0] < num_videos],
            {v: tubes[v] for v in videos} if tubes is not None else None)


def mmaction2_reference():
    """mmaction2 1.2.0's ``multisports_utils`` with its linking defect patched and its
    progress bar silenced (it would print over the report).

    ``Dataset.get_vid_dets`` gives every detection the score of the last row of the whole
    input (``frm_det[3]`` for ``frm_dets[3]``, an upstream bug under any numpy); the patched
    copy reads each row's own score and is otherwise unchanged. (Its numpy >= 2.3 defect in
    ``iou3dt_voc`` is fixed for every user by ``utils.compat.patch_mmaction_numpy2``.)
    """
    from collections import defaultdict

    from mmaction.evaluation.functional import multisports_utils as ms

    def get_vid_dets(self):
        self.vid_frm_det = defaultdict(list)
        for frm_det in self.frm_alldets:
            self.vid_frm_det[self.video_list[int(frm_det[0])]].append(frm_det)
        self.vid_det = dict()
        for vid_name, vid_frm_dets in self.vid_frm_det.items():
            self.vid_det[vid_name] = {
                frm_idx: {label_idx: np.empty(shape=(0, 5))
                          for label_idx in range(len(self.labels))}
                for frm_idx in range(1, self.nframes[vid_name] + 1)}
            for frm_dets in vid_frm_dets:
                frm_idx, label_idx = int(frm_dets[1]), int(frm_dets[2])
                det = np.array([*frm_dets[-4:], frm_dets[3]])[None, :]
                self.vid_det[vid_name][frm_idx][label_idx] = np.concatenate(
                    [self.vid_det[vid_name][frm_idx][label_idx], det])
        return self.vid_det

    ms.Dataset.get_vid_dets = get_vid_dets
    ms.track = lambda sequence, description='': sequence
    return ms


def linkers() -> Dict[str, Callable[[], object]]:
    """{name: factory} of every tube linker with ``link_videos(detections, videos)``: each
    registered in ``TASK_UTILS`` whose name ends in 'TubeLinker' (``TubeLinker`` first)."""
    from mmaction.registry import TASK_UTILS

    import point3d_mm.evaluation  # noqa: F401  (registers the linkers)
    names = sorted((name for name in TASK_UTILS.module_dict if name.endswith('TubeLinker')),
                   key=lambda name: (name != 'TubeLinker', name))
    return {name: functools.partial(TASK_UTILS.build, dict(type=name)) for name in names}


def time_linking(gt: dict, dets: np.ndarray, num_videos: int, repeats: int, ms,
                 linker: str = 'TubeLinker') -> Dict:
    """``linker``'s ``link_videos`` and (unless ``ms`` is None) mmaction2's ``link_tubes``
    on the frame detections of the first ``num_videos`` videos (frames/s: frames of those
    videos per second)."""
    sub_gt, sub_dets, _ = eval_subset(gt, dets, None, num_videos)
    videos = sub_gt['test_videos'][0]
    frames = int(sum(gt['nframes'][v] for v in videos))
    build = linkers()[linker]
    linked, ours, ours_runs = median_time(lambda: build().link_videos(sub_dets, videos),
                                          repeats)
    row = dict(linker=linker, videos=len(videos), frames=frames, detections=len(sub_dets),
               tubes=sum(map(len, linked.values())), ours_s=ours, ours_runs=ours_runs,
               ours_fps=frames / ours)
    if ms is not None:
        peer_tubes, peer, peer_runs = median_time(lambda: ms.link_tubes(sub_gt, sub_dets),
                                                  repeats)
        row.update(peer_s=peer, peer_runs=peer_runs, peer_fps=frames / peer,
                   peer_tubes=sum(map(len, peer_tubes.values())), ratio=peer / ours)
    return row


def time_frame_ap(gt: dict, dets: np.ndarray, repeats: int, ms) -> Dict:
    """``frame_ap(protocol='voc')`` and mmaction2's ``frameAP`` at IoU 0.5."""
    from point3d_mm.evaluation.functional import frame_ap
    videos = gt['test_videos'][0]
    result, ours, ours_runs = median_time(lambda: frame_ap(gt, dets, videos, 0.5, 'voc'),
                                          repeats)
    row = dict(videos=len(videos), detections=len(dets), ours_s=ours, ours_runs=ours_runs,
               ours_map=result['mAP'])
    if ms is not None:
        peer_map, peer, peer_runs = median_time(
            lambda: ms.frameAP(gt, dets, 0.5, print_info=False) / 100, repeats)
        row.update(peer_s=peer, peer_runs=peer_runs, peer_map=float(peer_map),
                   ratio=peer / ours, agree=bool(abs(result['mAP'] - peer_map) < 1e-6))
    return row


def time_video_ap(gt: dict, tubes: Dict[str, list], repeats: int, ms) -> Dict:
    """One ``video_ap(protocol='voc')`` call and the 14 ``videoAP`` calls for the same
    numbers: mAP at 0.1, 0.2, 0.5, 0.75 and the mean over 0.5:0.95."""
    from point3d_mm.evaluation.functional import video_ap
    videos = gt['test_videos'][0]
    result, ours, ours_runs = median_time(
        lambda: video_ap(gt, tubes, videos, VIDEO_THRS, 'voc', average_thrs=AVERAGE_THRS),
        repeats)
    ours_map = {name: float(value) for name, value in result['mAP'].items()}
    row = dict(videos=len(videos), tubes=sum(len(tubes[v]) for v in videos), ours_s=ours,
               ours_runs=ours_runs, ours_map=ours_map)
    if ms is not None:
        mm_tubes = {c: [] for c in range(len(gt['labels']))}  # {label: [(video, score, tube)]}
        for video in videos:
            for label, score, tube in tubes[video]:
                mm_tubes[label].append((video, score, tube))

        def peer_video_ap():
            maps = {f'{t:g}': ms.videoAP(gt, mm_tubes, t, print_info=False) / 100
                    for t in VIDEO_THRS}
            maps['0.5:0.95'] = float(np.mean([ms.videoAP(gt, mm_tubes, t, print_info=False)
                                              for t in AVERAGE_THRS])) / 100
            return maps

        peer_map, peer, peer_runs = median_time(peer_video_ap, repeats)
        peer_map = {name: float(value) for name, value in peer_map.items()}
        row.update(peer_s=peer, peer_runs=peer_runs, peer_map=peer_map, ratio=peer / ours,
                   agree=all(abs(ours_map[k] - peer_map[k]) < 1e-6 for k in peer_map))
    return row


def time_act(gt: dict, dets: np.ndarray, tubes: Dict[str, list], repeats: int) -> Dict:
    """Our ``'act'`` protocol (no peer): frame_ap and video_ap medians."""
    from point3d_mm.evaluation.functional import frame_ap, video_ap
    videos = gt['test_videos'][0]
    _, frame_s, _ = median_time(lambda: frame_ap(gt, dets, videos, 0.5, 'act'), repeats)
    _, video_s, _ = median_time(lambda: video_ap(gt, tubes, videos, VIDEO_THRS, 'act'),
                                repeats)
    return dict(frame_ap_s=frame_s, video_ap_s=video_s)


def format_eval_report(report: Dict) -> str:
    """The side-by-side table of a ``benchmark_eval.py`` report."""
    def seconds(row: Dict, who: str, rate: bool = False) -> str:
        if f'{who}_s' not in row:
            return 'skipped'
        text = f"{row[f'{who}_s']:.3f} s"
        return text + (f" ({row[f'{who}_fps']:,.0f} frames/s)" if rate else '')

    def ratio(row: Dict) -> str:
        return f"{row['ratio']:.1f}x" if 'ratio' in row else ''

    def agreement(row: Dict) -> str:
        if 'agree' not in row:
            return ''
        ours, peer = row['ours_map'], row['peer_map']
        if isinstance(ours, dict):
            ours, peer = ours['0.5'], peer['0.5']
        return f"{'yes' if row['agree'] else 'NO'} (mAP@0.5 {ours:.4f} vs {peer:.4f})"

    lines = ['| what | input | mmaction2 1.2.0 | point3d_mm | speed-up | same numbers |',
             '| --- | --- | ---: | ---: | ---: | --- |']
    linking = [report['linking']] + report.get('more_linkers', []) if 'linking' in report else []
    for link in linking:
        lines.append(f"| tube linking ({link.get('linker', 'TubeLinker')}) | {link['videos']} "
                     f"videos, {link['frames']} frames, {link['detections']} detections | "
                     f"{seconds(link, 'peer', True)} | {seconds(link, 'ours', True)} | "
                     f"{ratio(link)} | n/a |")
    for key, name, unit in (('frame_ap', 'frame-AP@0.5 (voc)', 'detections'),
                            ('video_ap', 'video-AP 0.1/0.2/0.5/0.75 + 0.5:0.95 (voc)',
                             'tubes')):
        row = report[key]
        lines.append(f"| {name} | {row['videos']} videos, {row[unit]} {unit} | "
                     f"{seconds(row, 'peer')} | {seconds(row, 'ours')} | {ratio(row)} | "
                     f"{agreement(row)} |")
    act = report.get('act')
    if act:
        lines.append(f"\npoint3d_mm 'act' protocol (no peer): frame_ap {act['frame_ap_s']:.3f} s, "
                     f"video_ap {act['video_ap_s']:.3f} s")
    return '\n'.join(lines)


# ---------------------------------------------------------------------------- demo memory
def write_video(path: str, num_frames: int, size: int, fps: float = 25.0) -> None:
    """A ``num_frames``-frame mp4: an actor (white box) walking over a fixed texture."""
    import cv2
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (size, size))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write mp4v video to {path}')
    rng = np.random.default_rng(0)
    background = rng.integers(40, 120, (size, size, 3), dtype=np.uint8)
    w, h = max(4, size // 6), max(8, size // 2)
    for i in range(num_frames):
        frame = background.copy()
        x, y = (i * 2) % (size - w), size // 4 + int(3 * np.sin(i / 5))
        frame[y:y + h, x:x + w] = 230
        writer.write(frame)
    writer.release()


def demo_memory_config(folder: str, base: str, input_size: int,
                       max_per_frame: int) -> Tuple[str, str]:
    """(config, checkpoint) in ``folder``: ``base`` at a smaller input with a capped output
    per frame, and its model at random initialisation (seed 0) as a weights-only
    checkpoint."""
    config = osp.join(folder, 'bench_config.py')
    with open(config, 'w') as f:
        f.write(f'''_base_ = [{base!r}]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale={input_size}),
    dict(type='PackPoint3DInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_dataloader = test_dataloader
model = dict(test_cfg=dict(max_per_frame={max_per_frame}))
''')
    model = build_detector(config, 'cpu')
    classes = list(model.cfg.get('classes', None) or
                   [f'class_{i}' for i in range(model.cls_head.num_classes)])
    checkpoint = osp.join(folder, 'random_init.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), checkpoint)
    return config, checkpoint


def demo_memory(lengths: Sequence[int], config: str, size: int = 64, input_size: int = 64,
                max_per_frame: int = 10, streaming: bool = False, threads: int = 1,
                poll: float = 0.05, work_dir: Optional[str] = None) -> List[Dict]:
    """Peak memory of ``tools/demo.py`` on a video of each length (``size`` pixels square,
    written by :func:`write_video`), run in a subprocess on ``config`` read at ``input_size``
    with at most ``max_per_frame`` detections per frame (:func:`demo_memory_config`).

    Returns:
        list[dict]: per length ``peak_rss_mb`` (the kernel's, :func:`run_measured`),
        ``polled_peak_rss_mb``, ``wall_s``, ``rss_timeline_mb``, ``detections``,
        ``output_tail``, ``frames``, ``tubes`` and ``frames_per_s``.

    Raises:
        RuntimeError: the demo failed; its output's tail.
    """
    import shutil
    folder = work_dir or tempfile.mkdtemp(prefix='benchmark_memory_')
    os.makedirs(folder, exist_ok=True)
    config, checkpoint = demo_memory_config(folder, osp.abspath(config), input_size,
                                            max_per_frame)
    rows = []
    for length in lengths:
        video, annotated = (osp.join(folder, f'{name}_{length}.mp4')
                            for name in ('video', 'annotated'))
        out_json = osp.join(folder, f'tubes_{length}.json')
        started = time.perf_counter()
        write_video(video, length, size)
        print(f'{length} frames: video written in {time.perf_counter() - started:.1f} s; '
              'running the demo ...', flush=True)
        cmd = [sys.executable, osp.join(REPO, 'tools', 'demo.py'), video, config, checkpoint,
               '--out-video', annotated, '--out-json', out_json] + (
                   ['--streaming'] if streaming else [])
        run = run_measured(cmd, child_env(threads, osp.dirname(_PACKAGE)), REPO, poll)
        if run['returncode'] != 0:
            raise RuntimeError(f'{" ".join(cmd)} failed ({run["returncode"]}):\n'
                               f'{run["output"][-3000:]}')
        with open(out_json) as f:
            tubes = json.load(f)['tubes']
        rows.append(dict(peak_rss_mb=round(run['ru_maxrss_mb'], 1),
                         polled_peak_rss_mb=round(run['polled_peak_rss_mb'], 1),
                         wall_s=round(run['wall_s'], 1), rss_timeline_mb=run['rss_timeline_mb'],
                         detections=count_linked_detections(run['output']),
                         output_tail=run['output'][-300:], frames=length, tubes=len(tubes),
                         frames_per_s=round(length / run['wall_s'], 1)))
        print(f'  peak RSS {rows[-1]["peak_rss_mb"]} MB, {rows[-1]["wall_s"]} s', flush=True)
        for name in (video, annotated):
            if not work_dir and osp.exists(name):
                os.remove(name)
    if not work_dir:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def count_linked_detections(demo_output: str) -> Optional[int]:
    """The frame detections ``tools/demo.py`` reports having linked (its last such line)."""
    found = re.findall(r'(\d+) frame detections linked', demo_output)
    return int(found[-1]) if found else None
