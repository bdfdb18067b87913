"""Point3D speed benchmark: clip mode vs streaming, speed options, training, mmaction2 peer.

One run prints one report and writes it as JSON:

* inference: per-frame latency and fps of :func:`point3d_mm.apis.detect_frames` in clip mode
  (every frame runs its whole clip) and streaming mode (one backbone pass per frame, the
  last T frame features cached) for each config and T, and their ratio;
* speed options: streaming latency at the config's T with channels_last, bf16 (and, on a
  GPU, fp16) autocast and, with ``--compile``, torch.compile;
* training, without and with activation checkpointing, each in a fresh process (so that
  peak RSS is its own): the tiny config through mmengine's Runner on the synthetic set with
  2 workers (iterations/s, mmengine's ``data_time`` share, peak memory), and one forward +
  backward of the paper-scale backbone alone (the tiny hourglass is too small for
  checkpointing to show);
* peer: per-clip latency of mmaction2's SlowOnly-R50 AVA FastRCNN detector (random init)
  on the same 256x256 frames;
* test loop (paper scale, the config's T): the per-frame cost of clip mode (the whole model
  per clip, mmengine's loops) against the cached path of ``CachedFeatureTestLoop``
  (``detect_frames(mode='offline')``: the backbone once per frame, ``frame_batch`` frames at
  a time, and the temporal part per key frame), and their ratio;
* paper speed: streaming latency at paper scale (T=16) of the paper's model in fp32, with
  channels_last and, where the hardware runs bf16 natively, channels_last + bf16; of the
  cheaper 3D Head options (:data:`point3d_mm.apis.speed.CHEAPER_3D_HEADS`); where the time
  goes (backbone on one frame, Point Head on the key frame, TWA, 3D Head); and the peer in
  the same run with the same speed options, with the ratios to the peer.

All models start from random initialisation; nothing is downloaded. Example::

    nice python tools/analysis/benchmark.py --threads 1 --out work_dirs/benchmark/cpu.json
    python tools/analysis/benchmark.py --quick --device cuda --out work_dirs/benchmark/gpu.json
    # the paper-scale test-loop and streaming-vs-peer sections alone
    python tools/analysis/benchmark.py --threads 1 --only testloop paper_speed
"""
import argparse
import copy
import functools
import json
import multiprocessing
import os
import os.path as osp
import platform
import resource
import statistics
import tempfile
import time
from contextlib import nullcontext
from typing import Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

import numpy as np
import psutil
import torch
from torch import nn

from point3d_mm.utils.fileio import dump_json

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(tiny=osp.join(REPO, 'configs', 'point3d_tiny_synthetic.py'),
               paper=osp.join(REPO, 'configs', 'point3d_ucf24.py'))
PEER_CONFIG = ('detection/slowonly/'
               'slowonly_kinetics400-pretrained-r50_8xb16-4x16x1-20e_ava21-rgb.py')
FRAME_SHAPE = (240, 320)  # UCF101-24's frames; the test pipelines resize them
SECTIONS = ['tiny', 'paper', 'speed', 'train', 'peer', 'testloop', 'paper_speed']


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join('work_dirs', 'benchmark', 'benchmark.json'))
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--threads', type=int, help='torch intra-op threads (default: '
                        "torch's); on a loaded machine 1 can beat 2")
    parser.add_argument('--clip-lens', type=int, nargs='+', default=[1, 8, 16, 32])
    parser.add_argument('--tiny-frames', type=int, default=12, help='timed frames (tiny)')
    parser.add_argument('--tiny-warmup', type=int, default=3, help='untimed first frames')
    parser.add_argument('--paper-frames', type=int, default=2,
                        help='timed frames (paper scale; a clip-mode frame at T=32 takes '
                        'minutes on a small CPU)')
    parser.add_argument('--train-iters', type=int, default=12, help='timed training iterations')
    parser.add_argument('--backbone-frames', type=int, default=8,
                        help='frames of the paper-scale backbone training step')
    parser.add_argument('--compile', action='store_true',
                        help='time torch.compile too (tiny config; compiling takes minutes)')
    parser.add_argument('--speed-frames', type=int, default=3,
                        help='timed streaming frames (after one warm-up frame) of each model '
                        'in the paper-speed section, and clips of the peer there')
    parser.add_argument('--loop-clip-frames', type=int, default=3,
                        help='timed clip-mode frames of the test-loop section')
    parser.add_argument('--loop-batches', type=int, default=3,
                        help='timed frame batches of the cached path in the test-loop section')
    parser.add_argument('--frame-batch', type=int, default=4,
                        help='frames per backbone call of the cached path')
    parser.add_argument('--skip', nargs='*', default=[], choices=SECTIONS,
                        help='sections to leave out')
    parser.add_argument('--only', nargs='*', choices=SECTIONS,
                        help='the sections to run (the others are skipped)')
    parser.add_argument('--quick', action='store_true',
                        help='paper scale at T=16 only with 1 frame, fewer tiny frames and '
                        'training iterations, speed options on the tiny config only')
    args = parser.parse_args()
    if args.only is not None:
        args.skip = [section for section in SECTIONS if section not in args.only]
    if args.quick:
        args.tiny_frames, args.paper_frames, args.train_iters = 6, 1, 6
    return args


# ---------------------------------------------------------------------------- machine
def machine_info(device: str) -> Dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    if osp.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        cpu = names[0] if names else cpu
    info = dict(cpu=cpu, logical_cores=psutil.cpu_count(), physical_cores=psutil.cpu_count(False),
                memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
                torch=torch.__version__, threads=torch.get_num_threads(), device=device,
                load_average_at_start=[round(x, 2) for x in os.getloadavg()])
    if device.startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(device)
    return info


# ---------------------------------------------------------------------------- inference
def synthetic_video(num_frames: int, seed: int = 0) -> List[np.ndarray]:
    """BGR noise frames of UCF101-24's size with a bright box moving right."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 255, (num_frames, *FRAME_SHAPE, 3), dtype=np.uint8)
    for t in range(num_frames):
        video[t, 60:200, 40 + 4 * t:100 + 4 * t] = 220
    return list(video)


def frame_latencies(model: nn.Module, frames: List[np.ndarray], streaming: bool, warmup: int,
                    context: Callable[[], ContextManager] = nullcontext) -> List[float]:
    """Seconds between consecutive frames' detections in :func:`detect_frames`, without
    the first ``warmup`` frames. The detections are on the host when ``on_frame`` runs, so
    GPU work is included."""
    from point3d_mm.apis import detect_frames
    stamps = [time.perf_counter()]
    with context():
        detect_frames(model, frames, mode='streaming' if streaming else 'clip',
                      on_frame=lambda *_: stamps.append(time.perf_counter()))
    return list(np.diff(stamps)[warmup:])


def latency_stats(latencies: Sequence[float]) -> Dict:
    """Median / mean / min per-frame latency (ms) and fps from the median."""
    median = statistics.median(latencies)
    return dict(ms_median=1e3 * median, ms_mean=1e3 * statistics.fmean(latencies),
                ms_min=1e3 * min(latencies), fps=1 / median, frames=len(latencies))


def set_test_clip_len(cfg, clip_len: int) -> None:
    """Run inference at T = ``clip_len``: the test dataset's clip_len is what
    ``detect_frames`` reads, and a top-level clip_len must agree with it."""
    cfg.test_dataloader.dataset.clip_len = clip_len
    if 'clip_len' in cfg:
        cfg.clip_len = clip_len


def time_modes(model: nn.Module, clip_len: int, frames: int, warmup: int) -> Dict:
    """Clip mode and streaming at one T, after one untimed streaming frame (which builds
    the kernels of the backbone and of the temporal part at this T)."""
    set_test_clip_len(model.cfg, clip_len)
    video = synthetic_video(warmup + frames)
    row = dict(clip_len=clip_len)
    try:
        frame_latencies(model, video[:1], streaming=True, warmup=0)
        for mode, streaming in (('clip', False), ('stream', True)):
            row[mode] = latency_stats(frame_latencies(model, video, streaming, warmup))
        row['speedup'] = row['clip']['ms_median'] / row['stream']['ms_median']
    except RuntimeError as error:  # e.g. a 3D backbone that cannot take T=1
        row['error'] = str(error).splitlines()[0][:160]
    return row


def build_detector(config: str, device: str, cfg_options: Optional[Dict] = None) -> nn.Module:
    """Random-init detector with a fixed seed."""
    from point3d_mm.apis import init_detector
    torch.manual_seed(0)
    return init_detector(config, device=device, cfg_options=cfg_options)


def inference_section(name: str, model: nn.Module, clip_lens: Sequence[int], frames: int,
                      warmup: int) -> List[Dict]:
    """Clip mode vs streaming of one config at each T (one row per T)."""
    rows = []
    for clip_len in clip_lens:
        row = dict(config=name, **time_modes(model, clip_len, frames, warmup))
        print(format_inference_row(row), flush=True)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------- speed options
def speed_variants(device: str, with_compile: bool) -> Dict[str, Dict]:
    """Option sets to time: apply_speed_options keywords and an autocast dtype."""
    variants = {'fp32 eager': {}, 'channels_last': dict(channels_last=True),
                'bf16 autocast': dict(dtype='bfloat16'),
                'channels_last + bf16': dict(channels_last=True, dtype='bfloat16')}
    if device.startswith('cuda'):
        variants['fp16 autocast'] = dict(dtype='float16')
    if with_compile:
        variants['torch.compile'] = dict(torch_compile=True)
    return variants


def speed_section(name: str, model: nn.Module, clip_len: int, frames: int, warmup: int,
                  variants: Dict[str, Dict]) -> List[Dict]:
    """Streaming latency of each option set (on a copy of the model) and its speed-up
    over the first set (fp32 eager); ``first_call_s`` includes compilation."""
    from point3d_mm.apis.speed import apply_speed_options, inference_autocast
    set_test_clip_len(model.cfg, clip_len)
    video = synthetic_video(warmup + frames)
    rows = []
    for variant, options in variants.items():
        options = dict(options)
        dtype = options.pop('dtype', None)
        variant_model = apply_speed_options(copy.deepcopy(model), **options)
        context = functools.partial(inference_autocast, variant_model, dtype)
        start = time.perf_counter()
        frame_latencies(variant_model, video[:1], True, 0, context)  # compiles, if compiled
        first_call = time.perf_counter() - start
        stats = latency_stats(frame_latencies(variant_model, video, True, warmup, context))
        row = dict(config=name, clip_len=clip_len, variant=variant, first_call_s=first_call,
                   **stats)
        row['speedup'] = rows[0]['ms_median'] / row['ms_median'] if rows else 1.0
        print(f'  {name:5s} T={clip_len:<3d} {variant:22s} {row["ms_median"]:10.1f} ms/frame '
              f'x{row["speedup"]:.2f}', flush=True)
        rows.append(row)
        del variant_model
    return rows


# ---------------------------------------------------------------------------- training
def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB).

    Linux's VmHWM belongs to the current address space; ``ru_maxrss`` would also carry the
    parent's peak over into a process started by fork + exec (multiprocessing's spawn).
    """
    if osp.exists('/proc/self/status'):
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 2**10
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def _report_to(queue: multiprocessing.Queue, function: Callable, threads: Optional[int],
               *args) -> None:
    """Child-process entry: set the threads, run ``function(*args)``, send its result."""
    if threads:
        torch.set_num_threads(threads)
    queue.put(function(*args))


def in_fresh_process(function: Callable, threads: Optional[int], *args) -> Dict:
    """``function(*args)`` in a new process, so that its peak memory is its own."""
    context = multiprocessing.get_context('spawn')
    queue = context.Queue()
    process = context.Process(target=_report_to, args=(queue, function, threads, *args))
    process.start()
    result = queue.get()
    process.join()
    return result


def _memory_result(device: str, rss_before: int) -> Dict:
    """Peak memory since the start of the process (CPU) or since the last reset (GPU)."""
    result = dict(rss_before_mb=rss_before / 2**20, peak_rss_mb=peak_rss_mb())
    if device.startswith('cuda'):
        result['peak_cuda_allocated_mb'] = torch.cuda.max_memory_allocated() / 2**20
    return result


def train_run(config: str, data_root: str, work_dir: str, iters: int, with_cp: bool,
              device: str) -> Dict:
    """Train the config for ``iters`` iterations with mmengine's Runner.

    Returns:
        dict: per-iteration ``iter_s`` and ``data_s`` (mmengine's ``time`` and
        ``data_time``), the batch size, the workers and the memory.
    """
    from mmengine.config import Config
    from mmengine.runner import Runner

    import point3d_mm  # noqa: F401  (registers the parts in this process)
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = None
    cfg.model.backbone.with_cp = with_cp
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg[key] = None
    runner = Runner.from_cfg(cfg)
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    rss_before = psutil.Process().memory_info().rss
    runner.train()
    hub = runner.message_hub
    return dict(iter_s=hub.get_scalar('train/time').data[0].tolist(),
                data_s=hub.get_scalar('train/data_time').data[0].tolist(),
                batch_size=cfg.train_dataloader.batch_size,
                workers=cfg.train_dataloader.num_workers, **_memory_result(device, rss_before))


def backbone_step_run(config: str, num_frames: int, with_cp: bool, device: str) -> Dict:
    """One forward + backward of the config's backbone alone on random frames.

    Returns:
        dict: ``step_s`` and the memory.
    """
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
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    rss_before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    sum(feat.mean() for feat in backbone(frames)).backward()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return dict(step_s=time.perf_counter() - start, **_memory_result(device, rss_before))


def train_section(iters: int, device: str, threads: Optional[int], backbone_frames: int,
                  warmup: int = 2) -> List[Dict]:
    """Tiny-config training, and a paper-scale backbone step, without and with activation
    checkpointing."""
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    rows = []
    with tempfile.TemporaryDirectory(prefix='point3d_bench_') as tmp:
        SyntheticActions(seed=0).generate(osp.join(tmp, 'data'))
        for with_cp in (False, True):
            result = in_fresh_process(train_run, threads, CONFIGS['tiny'],
                                      osp.join(tmp, 'data'), osp.join(tmp, f'cp{int(with_cp)}'),
                                      warmup + iters, with_cp, device)
            iter_s, data_s = result.pop('iter_s')[warmup:], result.pop('data_s')[warmup:]
            rows.append(dict(config='tiny', part='detector (Runner)', with_cp=with_cp,
                             iters=len(iter_s), iters_per_s=1 / statistics.median(iter_s),
                             ms_per_iter=1e3 * statistics.median(iter_s),
                             data_ms_per_iter=1e3 * statistics.median(data_s),
                             data_share=statistics.median(data_s) / statistics.median(iter_s),
                             **result))
            print(format_train_row(rows[-1]), flush=True)
    for with_cp in (False, True) if backbone_frames else ():
        result = in_fresh_process(backbone_step_run, threads, CONFIGS['paper'], backbone_frames,
                                  with_cp, device)
        rows.append(dict(config='paper', part=f'backbone, {backbone_frames} frames',
                         with_cp=with_cp, iters=1, iters_per_s=1 / result['step_s'],
                         ms_per_iter=1e3 * result['step_s'], **result))
        print(format_train_row(rows[-1]), flush=True)
    return rows


# ---------------------------------------------------------------------------- peer
def peer_section(device: str, clips: int, warmup: int = 1, num_proposals: int = 5,
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

    from point3d_mm.apis.speed import inference_autocast, to_channels_last
    config = osp.join(osp.dirname(mmaction.__file__), '.mim', 'configs', PEER_CONFIG)
    cfg = Config.fromfile(config)
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

    def sample() -> ActionDataSample:
        data_sample = ActionDataSample(metainfo=dict(img_shape=(size, size)))
        data_sample.proposals = InstanceData(bboxes=boxes, scores=torch.ones(len(boxes)))
        return data_sample

    latencies = []
    for i in range(warmup + clips):
        start = time.perf_counter()
        with torch.no_grad():
            data = model.data_preprocessor(dict(inputs=[clip], data_samples=[sample()]), False)
            model(**data, mode='predict')[0].pred_instances.scores.cpu()
        if i >= warmup:
            latencies.append(time.perf_counter() - start)
    stats = latency_stats(latencies)
    return dict(config=PEER_CONFIG, clip_len=clip_len, input=f'{size}x{size}',
                proposals=num_proposals, channels_last=channels_last, dtype=dtype,
                ms_per_clip=stats['ms_median'], key_frames_per_s=stats['fps'],
                clips=len(latencies), ms_all=[1e3 * t for t in latencies])


# ---------------------------------------------------------------------------- test loop
def test_loop_section(model: nn.Module, clip_frames: int, batches: int,
                      frame_batch: int) -> Dict:
    """Per-frame cost of the test loop at the config's T, both paths on one video.

    * clip mode: ``detect_frames(mode='clip')``, the whole model on each frame's clip (what
      mmengine's loops do): the latency of each of ``clip_frames`` frames;
    * cached: ``detect_frames(mode='offline', frame_batch=...)``, the path of
      ``CachedFeatureTestLoop``: the backbone once per frame, ``frame_batch`` frames per
      call, then the temporal part per key frame; the time of each batch of frames (from
      the last frame of one batch to the last of the next, the first batch included)
      divided by ``frame_batch``.

    Both after one untimed streaming frame (kernels of the backbone and of the temporal
    part at this T). Returns the two medians (ms per frame) and ``ratio`` = clip / cached.
    """
    from point3d_mm.apis import detect_frames
    clip_len = model.cfg.test_dataloader.dataset.clip_len
    video = synthetic_video(max(clip_frames, batches * frame_batch))
    frame_latencies(model, video[:1], streaming=True, warmup=0)
    clip = latency_stats(frame_latencies(model, video[:clip_frames], False, 0))
    stamps = [time.perf_counter()]

    def batch_done(number: int, *_) -> None:
        if number % frame_batch == 0:
            stamps.append(time.perf_counter())

    with torch.no_grad():
        detect_frames(model, video[:batches * frame_batch], mode='offline',
                      frame_batch=frame_batch, on_frame=batch_done)
    cached = latency_stats([t / frame_batch for t in np.diff(stamps)])
    cached['batches'] = cached.pop('frames')
    row = dict(clip_len=clip_len, frame_batch=frame_batch, clip=clip, cached=cached,
               ratio=clip['ms_median'] / cached['ms_median'])
    print(f'test loop T={clip_len}: clip mode {clip["ms_median"]:.0f} ms/frame, cached '
          f'{cached["ms_median"]:.0f} ms/frame (frame_batch {frame_batch}): '
          f'x{row["ratio"]:.2f}', flush=True)
    return row


# ---------------------------------------------------------------------------- paper speed
def _median_ms(function: Callable[[], object], repeats: int) -> float:
    """Median wall time (ms) of ``function()`` over ``repeats`` calls after one untimed."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def part_profile(model: nn.Module, repeats: int = 3,
                 context: Callable[[], ContextManager] = nullcontext) -> Dict[str, float]:
    """Median ms of each part of one streaming frame: the backbone on one frame, the Point
    Head on the key frame (forward and decoding), TWA and the 3D Head (forward and
    classification) on the T cached features; random inputs at the config's input size."""
    clip_len = model.cfg.test_dataloader.dataset.clip_len
    size = int(model.cfg.get('input_size', 256))
    device = next(model.parameters()).device
    frame = torch.randn(1, 3, size, size, device=device)
    with torch.no_grad(), context():
        feats = model.extract_frame_feats(frame)[-1]
        clip_feats = feats[:, None].expand(1, clip_len, *feats.shape[1:]).contiguous()
        y = model.forward_temporal(clip_feats)
        head_feats = model.cls_head(y)
        rois = torch.tensor([[0.0, 40.0, 30.0, 120.0, 220.0]], device=device)
        frame_inds = torch.tensor([clip_len - 1], device=device)
        point_head = model.point_head
        return dict(
            backbone=_median_ms(lambda: model.extract_frame_feats(frame), repeats),
            point_head=_median_ms(lambda: point_head.predict_by_feat(
                *point_head((feats, )), (size, size)), repeats),
            twa=_median_ms(lambda: model.forward_temporal(clip_feats), repeats),
            head_3d=_median_ms(lambda: model.cls_head.predict_by_feat(
                model.cls_head(y), rois, frame_inds, (size, size)), repeats),
            head_3d_shape=list(head_feats.shape))


def paper_speed_variants(device: str) -> List[Tuple[str, Optional[Dict], Dict]]:
    """(name, cfg_options, speed options) of the paper-speed section's models.

    The paper's model in fp32, with channels_last and, where the hardware runs it natively
    (a GPU, or a CPU with :func:`~point3d_mm.apis.speed.cpu_has_native_bf16`), with
    channels_last + bf16 (fp16 on a GPU); the cheaper 3D Heads of
    :data:`~point3d_mm.apis.speed.CHEAPER_3D_HEADS` in fp32 and with the recommended options;
    and, to show what a smaller backbone would give, the 1-stack hourglass (not the paper's
    model) with the cheapest 3D Head.
    """
    from point3d_mm.apis.speed import CHEAPER_3D_HEADS, cpu_has_native_bf16
    cuda = device.startswith('cuda')
    half = 'float16' if cuda else 'bfloat16'
    variants = [('paper, fp32', None, {}),
                ('paper, channels_last', None, dict(channels_last=True))]
    if cuda or cpu_has_native_bf16():
        variants.append((f'paper, channels_last + {half}', None,
                         dict(channels_last=True, dtype=half)))
    for name, cfg_options in CHEAPER_3D_HEADS.items():
        variants.append((f'paper + 3D Head {name}, fp32', cfg_options, {}))
        if cuda or cpu_has_native_bf16():
            variants.append((f'paper + 3D Head {name}, channels_last + {half}', cfg_options,
                             dict(channels_last=True, dtype=half)))
    cheapest_name, cheapest = list(CHEAPER_3D_HEADS.items())[-1]
    variants.append((f'NOT paper: 1-stack hourglass + 3D Head {cheapest_name}, fp32',
                     {**cheapest, 'model.backbone.num_stacks': 1}, {}))
    return variants


def paper_speed_section(device: str, frames: int, repeats: int = 3,
                        config: str = CONFIGS['paper']) -> Dict:
    """Paper-scale streaming latency (median of ``frames`` frames after one warm-up frame,
    itself after one untimed streaming frame) and where it goes (:func:`part_profile`) for
    each of :func:`paper_speed_variants`, and the peer in the same run: fp32, channels_last
    and, where native, channels_last + bf16 (fp16 on a GPU). ``vs_peer``: our latency over
    the peer's fp32 per-key-frame latency (<= 1: at least as fast); ``vs_peer_same_options``
    over the peer's with the same speed options."""
    from point3d_mm.apis.speed import apply_speed_options, inference_autocast
    rows = []
    for name, cfg_options, speed_options in paper_speed_variants(device):
        model = build_detector(config, device, cfg_options)
        clip_len = model.cfg.test_dataloader.dataset.clip_len
        dtype = speed_options.get('dtype')
        channels_last = speed_options.get('channels_last', False)
        model = apply_speed_options(model, channels_last=channels_last)
        context = functools.partial(inference_autocast, model, dtype)
        video = synthetic_video(1 + frames)
        frame_latencies(model, video[:1], True, 0, context)
        latencies = frame_latencies(model, video, True, 1, context)
        row = dict(model=name, cfg_options=cfg_options or {}, dtype=dtype,
                   channels_last=channels_last, **latency_stats(latencies),
                   ms_all=[1e3 * t for t in latencies],
                   parts_ms=part_profile(model, repeats, context))
        rows.append(row)
        print(f'  {name:62s} {row["ms_median"]:8.0f} ms/frame (stream); parts '
              + ', '.join(f'{k} {v:.0f}' for k, v in row['parts_ms'].items()
                          if not isinstance(v, list)), flush=True)
        del model
    peer_options = sorted({(row['channels_last'], row['dtype']) for row in rows},
                          key=lambda option: (option[0], option[1] or ''))
    peers = [peer_section(device, clips=frames, channels_last=channels_last, dtype=dtype)
             for channels_last, dtype in peer_options]
    for peer in peers:
        print(f'  peer SlowOnly-R50 AVA, channels_last={peer["channels_last"]}, '
              f'dtype={peer["dtype"]}: {peer["ms_per_clip"]:.0f} ms/key frame', flush=True)
    fp32_peer = next(peer for peer in peers if not peer['channels_last'] and not peer['dtype'])
    for row in rows:
        row['vs_peer'] = row['ms_median'] / fp32_peer['ms_per_clip']
        same = next(peer for peer in peers if (peer['channels_last'], peer['dtype']) ==
                    (row['channels_last'], row['dtype']))
        row['vs_peer_same_options'] = row['ms_median'] / same['ms_per_clip']
    return dict(clip_len=clip_len, frames=frames, rows=rows, peer=peers)


# ---------------------------------------------------------------------------- report
def format_inference_row(row: Dict) -> str:
    """One progress line of :func:`inference_section`."""
    head = f'{row["config"]:5s} T={row["clip_len"]:<3d}'
    if 'error' in row:
        return f'{head} n/a: {row["error"]}'
    clip, stream = row['clip'], row['stream']
    return (f'{head} clip {clip["ms_median"]:10.1f} ms/frame {clip["fps"]:7.2f} fps | '
            f'stream {stream["ms_median"]:10.1f} ms/frame {stream["fps"]:7.2f} fps | '
            f'x{row["speedup"]:.2f}')


def format_train_row(row: Dict) -> str:
    """One training result line."""
    memory = (f'peak CUDA {row["peak_cuda_allocated_mb"]:.0f} MB'
              if 'peak_cuda_allocated_mb' in row else
              f'peak RSS {row["peak_rss_mb"]:.0f} MB (before training '
              f'{row["rss_before_mb"]:.0f} MB)')
    data = f', data {100 * row["data_share"]:.1f}%' if 'data_share' in row else ''
    return (f'train {row["config"]:5s} {row["part"]:18s} with_cp={str(row["with_cp"]):5s} '
            f'{row["iters_per_s"]:.2f} it/s ({row["ms_per_iter"]:.0f} ms/iter{data}), {memory}')


def print_report(report: Dict) -> None:
    """The whole run as one table plus the peer, speed-option and training lines."""
    print('\n=== Point3D benchmark ===')
    print(json.dumps(report['machine']))
    print(f'{"config":6s} {"T":>3s} | {"clip ms/frame":>13s} {"clip fps":>8s} | '
          f'{"stream ms/frame":>15s} {"stream fps":>10s} | {"stream speed-up":>15s}')
    for row in report['inference']:
        if 'error' in row:
            print(f'{row["config"]:6s} {row["clip_len"]:3d} | n/a ({row["error"]})')
            continue
        clip, stream = row['clip'], row['stream']
        print(f'{row["config"]:6s} {row["clip_len"]:3d} | {clip["ms_median"]:13.1f} '
              f'{clip["fps"]:8.2f} | {stream["ms_median"]:15.1f} {stream["fps"]:10.2f} | '
              f'{row["speedup"]:14.2f}x')
    if report.get('peer'):
        peer = report['peer']
        print(f'peer: mmaction2 SlowOnly-R50 AVA FastRCNN, {peer["clip_len"]} frames '
              f'{peer["input"]}, {peer["proposals"]} proposals: {peer["ms_per_clip"]:.1f} '
              f'ms/clip, {peer["key_frames_per_s"]:.2f} key frames/s')
    for row in report.get('speed_options', []):
        print(f'speed option {row["config"]:5s} T={row["clip_len"]:<3d} {row["variant"]:22s} '
              f'{row["ms_median"]:10.1f} ms/frame (stream) x{row["speedup"]:.2f} '
              f'(first call {row["first_call_s"]:.1f} s)')
    for row in report.get('training', []):
        print(format_train_row(row))
    loop = report.get('test_loop')
    if loop:
        print(f'test loop (paper, T={loop["clip_len"]}, per frame): clip mode '
              f'{loop["clip"]["ms_median"]:.0f} ms, cached (frame_batch {loop["frame_batch"]}) '
              f'{loop["cached"]["ms_median"]:.0f} ms: cached x{loop["ratio"]:.2f} cheaper')
    speed = report.get('paper_speed')
    if speed:
        print(f'paper-scale streaming, T={speed["clip_len"]}, median of {speed["frames"]} '
              'frames (ms/frame; parts in ms)')
        for row in speed['rows']:
            parts = ', '.join(f'{k} {v:.0f}' for k, v in row['parts_ms'].items()
                              if not isinstance(v, list))
            print(f'  {row["model"]:62s} {row["ms_median"]:8.0f} ({parts}): '
                  f'x{row["vs_peer"]:.2f} of the fp32 peer, x{row["vs_peer_same_options"]:.2f} '
                  'of the peer with the same options')
        for peer in speed['peer']:
            print(f'  peer SlowOnly-R50 AVA FastRCNN, channels_last={peer["channels_last"]}, '
                  f'dtype={peer["dtype"]} (backbone): {peer["ms_per_clip"]:.0f} ms/key frame')


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from mmengine.registry import init_default_scope

    import point3d_mm  # noqa: F401
    init_default_scope('mmaction')
    report = dict(machine=machine_info(args.device), args=vars(args), inference=[],
                  speed_options=[])
    print(json.dumps(report['machine']), flush=True)
    variants = speed_variants(args.device, args.compile)
    sections = [('tiny', args.clip_lens, args.tiny_frames, args.tiny_warmup),
                ('paper', [16] if args.quick else args.clip_lens, args.paper_frames, 0)]
    for name, clip_lens, frames, warmup in sections:
        if name in args.skip:
            continue
        model = build_detector(CONFIGS[name], args.device)
        config_clip_len = model.cfg.test_dataloader.dataset.clip_len
        report['inference'] += inference_section(name, model, clip_lens, frames, warmup)
        if 'speed' not in args.skip and not (args.quick and name == 'paper'):
            # compiling the paper-scale model would take far longer than timing it
            model_variants = {key: value for key, value in variants.items()
                              if name == 'tiny' or key != 'torch.compile'}
            report['speed_options'] += speed_section(name, model, config_clip_len, frames,
                                                     warmup, model_variants)
        del model
    if 'peer' not in args.skip:
        report['peer'] = peer_section(args.device, clips=max(2, args.paper_frames))
    if 'testloop' not in args.skip:
        model = build_detector(CONFIGS['paper'], args.device)
        report['test_loop'] = test_loop_section(model, args.loop_clip_frames,
                                                args.loop_batches, args.frame_batch)
        del model
    if 'paper_speed' not in args.skip:
        report['paper_speed'] = paper_speed_section(args.device, args.speed_frames)
    if 'train' not in args.skip:
        report['training'] = train_section(
            args.train_iters, args.device, args.threads,
            0 if 'paper' in args.skip else args.backbone_frames)
    report['machine']['load_average_at_end'] = [round(x, 2) for x in os.getloadavg()]
    print_report(report)
    dump_json(report, args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
