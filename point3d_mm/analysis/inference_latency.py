"""Inference latency (``tools/analysis/benchmark.py``): per-frame latency of clip mode,
streaming and the cached offline path of :func:`~point3d_mm.apis.detect_frames`
(:func:`inference_rows`, :func:`test_loop_row`), with the speed options of
:mod:`point3d_mm.apis.speed` (:func:`speed_option_rows`), at paper scale with where a frame's
time goes (:func:`paper_speed`) beside the peers of :mod:`.peer_pipeline` (mmaction2's
person detector + SlowOnly pipeline, and SlowOnly alone as a lower bound).

Every model starts from random initialisation; nothing is downloaded.
"""
import copy
import functools
import glob
import math
import os.path as osp
import time
from contextlib import nullcontext
from typing import Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..apis import apply_speed_options, detect_frames, inference_autocast, init_detector
from ..apis.speed import cpu_has_native_bf16
from ..utils.benchmark import latency_stats, median_time
from .benchmark_configs import REPO
from .peer_pipeline import (
    SETTINGS,
    SLOWONLY_ALONE,
    peer_latency,
    pipeline_latency,
    pipeline_name,
)

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
                 context: Callable[[], ContextManager] = nullcontext) -> Dict:
    """Where a streaming frame's time goes, per frame at the model's head interval k
    (``test_cfg.head_interval``), in median ms of each part on random inputs at the config's
    input size: ``backbone`` (one frame) and ``point_head`` (forward and decoding on the key
    frame) run on every frame; ``twa`` and ``head_3d`` on the T cached features are shares:
    TWA and the 3D Head's forward run on one frame of every k, and every frame pools its boxes
    on the head's map (RoIAlign and the classifier), so ``twa`` = TWA / k and ``head_3d`` =
    forward / k + pooling (k = 1: the whole 3D Head on every frame). ``per_head_frame``: TWA
    and the 3D Head on a frame that runs them; ``head_3d_forward``, ``head_3d_pooling``: the
    3D Head's two steps; ``head_interval``: k."""
    clip_len = model.cfg.test_dataloader.dataset.clip_len
    interval = getattr(model, 'head_interval', 1)
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
        twa = ms(lambda: model.forward_temporal(clip_feats))
        forward = ms(lambda: model.cls_head(y))
        pooling = ms(lambda: model.cls_head.predict_by_feat(head_feats, rois, frame_inds,
                                                            (size, size)))
        return dict(
            backbone=ms(lambda: model.extract_frame_feats(frame)),
            point_head=ms(lambda: point_head.predict_by_feat(*point_head((feats, )),
                                                             (size, size))),
            twa=twa / interval, head_3d=forward / interval + pooling,
            head_3d_shape=list(head_feats.shape), head_interval=interval,
            head_3d_forward=forward, head_3d_pooling=pooling,
            per_head_frame=dict(twa=twa, head_3d=forward + pooling))


def paper_speed_variants(device: str, config: str, head_intervals: Sequence[int] = (),
                         paper_only: bool = False) -> List[Tuple[str, str, Optional[Dict],
                                                                 Dict]]:
    """(name, config, cfg_options, speed options) of the paper-speed models.

    The paper's model in fp32, with channels_last and, where the hardware runs it natively
    (a GPU, or a CPU with :func:`~point3d_mm.apis.speed.cpu_has_native_bf16`), with
    channels_last + fp16 (GPU) or bf16 (CPU), at the config's head interval; at each of
    ``head_intervals`` in fp32 and with the fastest options; unless ``paper_only``: the
    :data:`CHEAPER_3D_HEADS`, the config's shipped fast versions (``<config>_fast*.py`` beside
    it), and the 1-stack hourglass (not the paper's model) alone and with the cheapest 3D
    Head.
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
    for interval in head_intervals:
        cfg_options = {'model.test_cfg.head_interval': interval}
        variants.append((f'paper (head_interval={interval}), fp32', config, cfg_options, {}))
        variants.append((f'paper (head_interval={interval}), {label}', config, cfg_options,
                         fast))
    if paper_only:
        return variants
    for name, cfg_options in CHEAPER_3D_HEADS.items():
        variants.append((f'paper + 3D Head {name}, fp32', config, cfg_options, {}))
        if native:
            variants.append((f'paper + 3D Head {name}, {label}', config, cfg_options, fast))
    stem = osp.splitext(config)[0]
    for path in sorted(glob.glob(glob.escape(stem) + '_fast*.py')):
        variants.append((f'{osp.basename(path)}, fp32', path, None, {}))
        if native:
            variants.append((f'{osp.basename(path)}, {label}', path, None, fast))
    one_stack = {'model.backbone.num_stacks': 1}
    variants.append(('NOT paper: 1-stack hourglass, fp32', config, one_stack, {}))
    cheapest_name, cheapest = list(CHEAPER_3D_HEADS.items())[-1]
    variants.append((f'NOT paper: 1-stack hourglass + 3D Head {cheapest_name}, fp32', config,
                     {**cheapest, **one_stack}, {}))
    return variants


def whole_periods(count: int, interval: int, unit: int = 1) -> int:
    """The fewest units (frames, or batches of ``unit`` frames) >= ``count`` that hold a whole
    number of head periods of ``interval`` frames: any k consecutive frames hold one head
    frame, so their mean is the per-frame cost."""
    per_period = math.lcm(interval, unit) // unit
    return -(-max(count, 1) // per_period) * per_period


def per_frame_ms(latencies: Sequence[float], interval: int) -> float:
    """A row's per-frame figure from per-frame seconds: the median with the head on every
    frame, the mean over whole head periods (:func:`whole_periods`) otherwise."""
    return 1e3 * float(np.median(latencies) if interval == 1 else np.mean(latencies))


def ratio_keys(input_size: int) -> Dict[str, str]:
    """Each ``vs_*`` key of a paper-speed row and the peer it divides by."""
    peers = {'vs_peer': f'{SLOWONLY_ALONE}, {input_size}x{input_size} clips',
             **{f'vs_pipeline_{setting}': pipeline_name(setting, input_size)
                for setting in SETTINGS}}
    keys = {}
    for key, peer in peers.items():
        keys[key] = f'ours / {peer}, fp32'
        keys[f'{key}_same_options'] = f'ours / {peer}, with the row\'s speed options'
    return keys


def paper_speed(device: str, frames: int, config: str, repeats: int = 3,
                clip_len: int = 16, frame_batch: int = 4, paper_only: bool = False,
                head_intervals: Sequence[int] = (), peers: Sequence[str] = SETTINGS,
                demo: Optional[Dict] = None) -> Dict:
    """Paper-scale (T=``clip_len``) latency of each of :func:`paper_speed_variants`:
    streaming (``frames`` frames after one warm-up frame, itself after one untimed streaming
    frame), the cached offline path (``frames`` batches of ``frame_batch`` frames, after one
    untimed batch) and where a streaming frame goes (:func:`part_profile`); with a head
    interval k > 1, whole head periods are timed and averaged (:func:`whole_periods`). Then
    the peers in the same run with each speed option of the rows (and fp32): SlowOnly alone,
    the lower bound (``peer``), and the person detector + SlowOnly pipeline at each of
    ``peers`` settings (``peer_pipeline``, :func:`.peer_pipeline.pipeline_latency`; ``demo``
    for tests). ``paper_only``: the paper's model alone (no cheaper 3D Head, no 1-stack
    hourglass).

    Each row's ``vs_*`` ratios divide its ``ms_per_frame`` (streaming) by a peer's per key
    frame, named in ``ratio_keys`` (<= 1: at least as fast): ``vs_peer`` by SlowOnly alone,
    ``vs_pipeline_<setting>`` by the pipeline, in fp32 and (``_same_options``) with the row's
    options."""
    rows = []
    for name, path, cfg_options, options in paper_speed_variants(device, config,
                                                                 head_intervals, paper_only):
        dtype, channels_last = options.get('dtype'), options.get('channels_last', False)
        model = apply_speed_options(build_detector(path, device, cfg_options, clip_len),
                                    channels_last=channels_last)
        interval = getattr(model, 'head_interval', 1)
        context = functools.partial(inference_autocast, model, dtype)
        streamed = whole_periods(frames, interval)
        batches = whole_periods(frames, interval, frame_batch)
        video = synthetic_video(max(1 + streamed, (1 + batches) * frame_batch))
        frame_latencies(model, video[:1], 'streaming', 0, context)
        latencies = frame_latencies(model, video[:1 + streamed], 'streaming', 1, context)
        cached = frame_latencies(model, video[:(1 + batches) * frame_batch], 'offline', 1,
                                 context, frame_batch)
        cached_ms = per_frame_ms(cached, interval)
        row = dict(model=name, config=osp.relpath(path, REPO), cfg_options=cfg_options or {},
                   dtype=dtype, channels_last=channels_last, head_interval=interval,
                   **latency_stats(latencies), ms_per_frame=per_frame_ms(latencies, interval),
                   ms_all=[1e3 * t for t in latencies],
                   cached_ms_per_frame=cached_ms, cached_fps=1e3 / cached_ms,
                   frame_batch=frame_batch, parts_ms=part_profile(model, repeats, context))
        input_size = int(model.cfg.get('input_size', 256))
        rows.append(row)
        print(f'  {name:62s} stream {row["ms_per_frame"]:8.1f} ms/frame, cached '
              f'{row["cached_ms_per_frame"]:8.1f} ms/frame; parts per frame ' + ', '.join(
                  f'{part} {row["parts_ms"][part]:.1f}'
                  for part in ('backbone', 'point_head', 'twa', 'head_3d')), flush=True)
        del model
    options = sorted({(row['channels_last'], row['dtype']) for row in rows} | {(False, None)},
                     key=lambda option: (option[0], option[1] or ''))
    slowonly = [peer_latency(device, clips=frames, channels_last=channels_last, dtype=dtype,
                             input_size=input_size)
                for channels_last, dtype in options]
    pipelines = [pipeline_latency(device, setting, key_frames=frames,
                                  channels_last=channels_last, dtype=dtype,
                                  input_size=input_size, demo=demo)
                 for setting in peers for channels_last, dtype in options]

    def per_key_frame(peer_rows: List[Dict], key: str, row: Optional[Dict]) -> float:
        option = (row['channels_last'], row['dtype']) if row else (False, None)
        return next(peer[key] for peer in peer_rows
                    if (peer['channels_last'], peer['dtype']) == option)

    for row in rows:
        for prefix, peer_rows, key in [
                ('vs_peer', slowonly, 'ms_per_clip'),
                *[(f'vs_pipeline_{setting}',
                   [peer for peer in pipelines if peer['setting'] == setting],
                   'ms_per_key_frame') for setting in peers]]:
            row[prefix] = row['ms_per_frame'] / per_key_frame(peer_rows, key, None)
            row[f'{prefix}_same_options'] = (row['ms_per_frame'] /
                                             per_key_frame(peer_rows, key, row))
        print(f'  {row["model"]:62s} ' + ', '.join(
            f'{key} {row[key]:.2f}' for key in row if key.startswith('vs_')), flush=True)
    keys = {key: text for key, text in ratio_keys(input_size).items()
            if key in rows[0]}
    return dict(clip_len=clip_len, frames=frames, rows=rows, peer=slowonly,
                peer_pipeline=pipelines, ratio_keys=keys)
