"""Peak memory of one paper-scale training step, per clip, and the clips that fit a GPU.

For each config (UCF101-24, JHMDB-21, AVA; random init, nothing downloaded), each option

* ``fp32``: the configs as they are;
* ``bf16``: bf16 autocast in the model's own train step (``model.train_cfg.autocast_dtype``,
  what ``tools/train.py --amp`` sets on CPU; fp16 AMP on a GPU stores activations of the same
  size);
* ``cp``: activation checkpointing of the hourglass (``model.backbone.with_cp``);
* ``bf16+cp``: both;
* on CUDA also ``fp16`` and ``fp16+cp``: mmengine's ``AmpOptimWrapper``, what ``--amp`` sets
  on a GPU (a V100 has no fast bf16);

and each batch size, one training step (``model.train_step``: forward, the joint loss, one
backward, both optimizers' steps) runs in a fresh subprocess:

* CPU: the peak RSS growth of that process, ``ru_maxrss`` from ``os.wait4`` minus the RSS
  after building the model and the optimizers (their state included: it exists in every step
  after the first). Linux carries the launching process's RSS into a child's ``ru_maxrss``
  across exec, so the child also reports its own ``VmHWM`` and the smaller of the two is the
  peak (they agree when this driver, which never imports torch, launches it).
* CUDA: ``torch.cuda.max_memory_allocated`` minus the memory allocated before the step.

The growth of a step is ``fixed + N * per_clip`` for N clips: ``fixed`` is what does not
scale with the batch (the gradients, autocast's low-precision weight copies), ``per_clip``
the activations. Both come from a straight-line fit over the batch sizes measured for a
config (``--split-configs``, default: the first config, all options); a config measured at
one batch size alone takes ``fixed`` from the split config with the same option (the configs
share their parameters up to the classifier's last layer). The memory a GPU needs for N clips
is then::

    weights + optimizer state + fixed + N * per_clip

with weights and optimizer state counted exactly from the tensors (Adam: 2 fp32 tensors per
parameter of the backbone and Point Head, SGD with momentum: 1 per 3D Head parameter).
The clips that fit a GPU leave ``--headroom`` (15 %) of its memory free (allocator
fragmentation, the CUDA context, cuDNN workspaces, the data loader's pinned buffers).
CPU RSS estimates GPU memory: activations dominate and are the same tensors.

Prints the command, a table per case and the clips per GPU, and writes JSON (``--out``)::

    OMP_NUM_THREADS=1 nice python tools/analysis/benchmark_train_memory.py --threads 1 \
        --out work_dirs/benchmark/train_memory_cpu.json
    python tools/analysis/benchmark_train_memory.py --device cuda \
        --out work_dirs/benchmark/train_memory_gpu.json
"""
import argparse
import json
import math
import os
import os.path as osp
import platform
import shlex
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

# No torch here at module level: the driver must stay lean (see the docstring).

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(ucf24='configs/point3d_ucf24.py', jhmdb='configs/point3d_jhmdb.py',
               ava='configs/point3d_ava.py', tiny='configs/point3d_tiny_synthetic.py')
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
GPU_SIZES_GB = (16, 24, 32, 40, 80)
HEADROOM = 0.15
RESULT_TAG = 'TRAIN_MEMORY_RESULT '
MB = 2**20


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--configs', nargs='+', default=['ucf24', 'jhmdb', 'ava'],
                        help=f'names ({", ".join(CONFIGS)}) or config files')
    parser.add_argument('--options', nargs='+', choices=list(OPTIONS),
                        help='default: fp32 bf16 cp bf16+cp (CPU); fp32 fp16 cp fp16+cp '
                        '(CUDA)')
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 2],
                        help='clips per step, measured for the --split-configs')
    parser.add_argument('--split-configs', nargs='*',
                        help='configs measured at every --batches (default: the first config);'
                        ' the others at the first batch size only')
    parser.add_argument('--split-options', nargs='*',
                        help='options measured at every --batches for the --split-configs '
                        '(default: all); the others take their fixed part from a split '
                        'option of the same precision (see summarise)')
    parser.add_argument('--scaled-options', nargs='*', default=[], choices=list(OPTIONS),
                        help='options measured at --scaled-input-size only (with their fp32 '
                        'references) and scaled to the full size (see scale_to_largest): '
                        'bf16 on a CPU that emulates it takes 10x the fp32 time')
    parser.add_argument('--scaled-input-size', type=int, default=128)
    parser.add_argument('--scaled-configs', nargs='*',
                        help='configs of the --scaled-options (default: the --split-configs);'
                        ' the others take the per-clip ratio of one of them')
    parser.add_argument('--reuse', nargs='*', default=[],
                        help='JSON reports (or .partial files) of earlier runs whose cases '
                        '(same config, option, batch, T, size, device, threads) are taken '
                        'over instead of measured again')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--threads', type=int, default=1, help='torch threads of each step')
    parser.add_argument('--clip-len', type=int, help="T (default: the config's)")
    parser.add_argument('--input-size', type=int, help="frame size (default: the config's)")
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='key=value overrides of every config (Python literals)')
    parser.add_argument('--headroom', type=float, default=HEADROOM,
                        help='share of GPU memory left free')
    parser.add_argument('--gpu-sizes', type=float, nargs='+', default=list(GPU_SIZES_GB),
                        help='GPU memory sizes, GiB')
    parser.add_argument('--out', default=osp.join('work_dirs', 'benchmark',
                                                  'train_memory.json'))
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.options is None:
        args.options = (['fp32', 'fp16', 'cp', 'fp16+cp'] if args.device.startswith('cuda')
                        else ['fp32', 'bf16', 'cp', 'bf16+cp'])
    if not args.device.startswith('cuda'):
        refused = [o for o in args.options if o in CUDA_ONLY_OPTIONS]
        if refused:
            parser.error(f'{refused} need CUDA (mmengine\'s AmpOptimWrapper); use bf16 on CPU')
    if args.split_configs is None:
        args.split_configs = args.configs[:1]
    if args.split_options is None:
        args.split_options = list(args.options) + list(args.scaled_options)
    if args.scaled_configs is None:
        args.scaled_configs = list(args.split_configs)
    return args


def config_path(name: str) -> str:
    return osp.join(ROOT, CONFIGS[name]) if name in CONFIGS else osp.abspath(name)


def config_name(name: str) -> str:
    """The short name of a config (``ucf24`` ...), else its file name without extension."""
    for short, path in CONFIGS.items():
        if name in (short, osp.join(ROOT, path)):
            return short
    return osp.splitext(osp.basename(name))[0]


# ---------------------------------------------------------------------------- the child
def _parse_value(text: str):
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def build_training_config(config: str, option: str, cfg_options: Sequence[str] = ()):
    """The config with the option on, random init (every ``init_cfg`` dropped, as
    :func:`point3d_mm.apis.init_detector` does) and ``cfg_options`` merged."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict({key: _parse_value(value) for key, value in
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
        apply_amp(cfg)  # AmpOptimWrapper on CUDA
    return cfg


def clip_geometry(cfg, clip_len: Optional[int], input_size: Optional[int]) -> Tuple[int, int]:
    """(T, frame size) of the training clips: the config's unless overridden."""
    dataset = cfg.train_dataloader.dataset
    clip_len = clip_len or dataset.get('clip_len') or cfg.get('clip_len')
    input_size = input_size or cfg.get('input_size')
    if not clip_len or not input_size:
        raise ValueError('the config sets no clip_len / input_size: pass --clip-len and '
                         '--input-size')
    return int(clip_len), int(input_size)


def synthetic_batch(num_clips: int, clip_len: int, size: int, num_classes: int) -> dict:
    """A raw training batch (before the data preprocessor), in docs/interfaces.md's format:
    uint8 noise clips with two actors per frame, every frame annotated."""
    import torch
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData

    from point3d_mm.structures.geometry import box_knots
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for clip in range(num_clips):
        frames = torch.randint(0, 255, (3, clip_len, size, size), generator=generator,
                               dtype=torch.uint8)
        boxes, frame_inds, track_ids = [], [], []
        for t in range(clip_len):
            for actor in range(2):
                x1 = 0.1 * size + 0.4 * size * actor + t
                boxes.append([x1, 0.2 * size, x1 + 0.25 * size, 0.9 * size])
                frame_inds.append(t)
                track_ids.append(actor)
        boxes = torch.tensor(boxes)
        sample = ActionDataSample(metainfo=dict(
            frame_ids=list(range(1, clip_len + 1)), key_frame_index=clip_len - 1,
            img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
            flip=False))
        label = 1 + clip % (num_classes - 1)  # never 0 (AVA's background column)
        sample.gt_instances = InstanceData(
            bboxes=boxes, labels=torch.full((len(boxes), ), label),
            frame_inds=torch.tensor(frame_inds), track_ids=torch.tensor(track_ids),
            knots=box_knots(boxes))
        sample.set_gt_label(label)
        inputs.append(frames)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _proc_status_mb(key: str) -> Optional[float]:
    """A line of /proc/self/status (``VmRSS``, ``VmHWM``) in MB; None off Linux."""
    if not osp.exists('/proc/self/status'):
        return None
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024
    return None


def _tensor_mb(tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / MB


def _materialise_optimizer_state(model, wrappers) -> None:
    """One optimizer step on zero gradients, so that the optimizer state (Adam's two
    moments, SGD's momentum) exists before the measured step, as in every step after the
    first; then the gradients are freed and the heap trimmed."""
    import torch

    from point3d_mm.utils.memory import trim_heap
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.grad = torch.zeros_like(param)
        for wrapper in wrappers:
            wrapper.optimizer.step()
            wrapper.optimizer.zero_grad(set_to_none=True)
    trim_heap()


def measure_step(config: str, option: str, batch: int, device: str = 'cpu',
                 threads: Optional[int] = 1, clip_len: Optional[int] = None,
                 input_size: Optional[int] = None, cfg_options: Sequence[str] = ()) -> Dict:
    """Build the config's model and optimizers, then run one training step of ``batch``
    clips and report the memory (in this process: run it in a fresh one).

    Returns:
        dict: the case, the parameter counts, ``weights_mb``, ``optimizer_state_mb``,
        ``grads_mb`` (fp32 gradients of every trainable parameter), ``rss_before_mb``,
        ``vmhwm_mb`` (peak RSS of this process, Linux), ``step_s`` and on CUDA
        ``cuda_before_mb`` and ``cuda_peak_mb``.
    """
    import gc

    import torch
    from mmengine.optim import OptimWrapperDict, build_optim_wrapper
    from mmengine.registry import init_default_scope

    import point3d_mm  # noqa: F401  (registers the parts)
    from point3d_mm.utils.memory import trim_heap
    if threads:
        torch.set_num_threads(threads)
    init_default_scope('mmaction')
    from mmaction.registry import MODELS
    cfg = build_training_config(config, option, cfg_options)
    clip_len, size = clip_geometry(cfg, clip_len, input_size)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    wrappers = (list(optim_wrapper.values()) if isinstance(optim_wrapper, OptimWrapperDict)
                else [optim_wrapper])
    _materialise_optimizer_state(model, wrappers)
    data = synthetic_batch(batch, clip_len, size, model.cls_head.num_classes)
    params = {name: sum(p.numel() for p in part.parameters())
              for name, part in model.named_children() if name != 'data_preprocessor'}
    trainable = [p for p in model.parameters() if p.requires_grad]
    state = [value for wrapper in wrappers for param_state in wrapper.optimizer.state.values()
             for value in param_state.values() if torch.is_tensor(value)]
    gc.collect()
    trim_heap()
    cuda = device.startswith('cuda')
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        cuda_before = torch.cuda.memory_allocated()
    rss_before = _proc_status_mb('VmRSS')
    start = time.perf_counter()
    log_vars = model.train_step(data, optim_wrapper)
    if cuda:
        torch.cuda.synchronize()
    step_s = time.perf_counter() - start
    result = dict(
        config=config_name(config), option=option, batch=batch, clip_len=clip_len,
        input_size=size, device=device, threads=torch.get_num_threads(), params=params,
        params_total=sum(params.values()),
        weights_mb=_tensor_mb(list(model.parameters()) + list(model.buffers())),
        optimizer_state_mb=_tensor_mb(state), grads_mb=_tensor_mb(trainable),
        rss_before_mb=rss_before, vmhwm_mb=_proc_status_mb('VmHWM'), step_s=step_s,
        loss=float(log_vars['loss']))
    if cuda:
        result.update(cuda_before_mb=cuda_before / MB,
                      cuda_peak_mb=torch.cuda.max_memory_allocated() / MB,
                      gpu=torch.cuda.get_device_name(device))
    return result


def _child_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    result = measure_step(**spec)
    print(RESULT_TAG + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------- the driver
def run_case(config: str, option: str, batch: int, device: str = 'cpu', threads: int = 1,
             clip_len: Optional[int] = None, input_size: Optional[int] = None,
             cfg_options: Sequence[str] = ()) -> Dict:
    """:func:`measure_step` in a fresh subprocess, with its peak RSS from ``os.wait4``.

    Returns:
        dict: :func:`measure_step`'s result plus ``ru_maxrss_mb``, ``peak_rss_mb`` (the
        smaller of ``ru_maxrss`` and the child's ``VmHWM``, see the module docstring),
        ``growth_mb`` (the step's peak memory growth: RSS on CPU, allocated CUDA memory on
        CUDA) and ``wall_s``.
    """
    spec = dict(config=config, option=option, batch=batch, device=device, threads=threads,
                clip_len=clip_len, input_size=input_size, cfg_options=list(cfg_options))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, osp.abspath(__file__), '--child', json.dumps(spec)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode(errors='replace')
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in output.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f'{config_name(config)} {option} batch {batch} failed '
                           f'({proc.returncode}):\n{output[-3000:]}')
    result = finish_case(json.loads(lines[-1][len(RESULT_TAG):]),
                         ru_maxrss_mb=usage.ru_maxrss / 1024)  # kB on Linux
    result.update(spec=spec, wall_s=time.perf_counter() - start)
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
    """Clips per training step that fit ``capacity_gb`` GiB with ``headroom`` of it free.

    Args:
        capacity_gb: GPU memory, GiB (1024 MB).
        base_mb: memory that does not scale with the batch: weights, optimizer state and the
            step's fixed growth.
        per_clip_mb: memory per clip.
        headroom: share of the memory left free.

    Returns:
        int: ``floor((capacity * (1 - headroom) - base) / per_clip)``, at least 0.
    """
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
    the same precision (:func:`precision`): of the same config and geometry if there is
    one, else of another (the fixed part is gradients and weight copies: the configs share
    their parameters up to the classifier's last layer, and the geometry does not change
    them): ``split='fixed of <config> <option> <size>'``, and
    ``per_clip = (growth - fixed) / N``. With no such fit, ``fixed`` is the fp32 gradients
    (``split='gradients'``: a lower bound of the fixed part, so per_clip is an upper bound).

    Then :func:`scale_to_largest` adds the rows of options measured at a smaller geometry
    only (bf16 on a CPU that emulates it).
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
    only at a smaller one.

    The per-clip memory of an option is that of its fp32 reference
    (:func:`reference_option`) at the large geometry times the ratio of the two at the
    small one (activations scale alike with the frame area). The fixed part is the
    reference's at the large geometry plus the option's excess over the reference at the
    small one (its low-precision weight copies): the fixed part proper does not depend on
    the clip, but the line fit also takes in how the peak's moment in the step shifts with
    the activations' size, which the reference at the large geometry carries.
    ``split='scaled from <size>'``, ``estimated=True``.
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
    # configs without the small geometry: the ratio of a config that has it
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


def format_report(report: Dict) -> str:
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
                     f'{peak:9.0f} {case["growth_mb"]:10.0f} {case["step_s"]:7.1f}')
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


def machine_info() -> Dict:
    """CPU model, cores, memory (the driver does not import torch)."""
    info = dict(python=platform.python_version(), platform=platform.platform(),
                logical_cores=os.cpu_count(), load_average=list(os.getloadavg()))
    if osp.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        info['cpu'] = names[0] if names else None
    if osp.exists('/proc/meminfo'):
        with open('/proc/meminfo') as f:
            info['memory_gb'] = round(int(f.readline().split()[1]) / 2**20, 1)
    return info


def _case_key(case: Dict) -> tuple:
    """What makes two cases the same measurement (T and size None: the config's)."""
    spec = case.get('spec', {})  # a measured case; without: the config's T and size
    return (case['config'], case['option'], case['batch'], spec.get('clip_len'),
            spec.get('input_size'), case['device'], case['threads'])


def _write_progress(data: Dict, path: str) -> None:
    """The cases so far, after each one (a scratch file that ``--reuse`` reads after a crash).
    Plain ``json``: importing point3d_mm's atomic writer would import torch into this
    driver, which must stay lean while it measures (see the module docstring)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f, indent=1)


def plan_cases(args: argparse.Namespace) -> List[Tuple[str, str, int, Optional[int]]]:
    """(config, option, batch, input size) of every case to measure, in order.

    Each config gets every ``--options`` at its own size (None: the config's), at every
    ``--batches`` for the ``--split-configs`` x ``--split-options``, else at the first
    batch size. The ``--scaled-options`` run at ``--scaled-input-size`` for the
    ``--scaled-configs``, with their fp32 references (:func:`reference_option`), split
    alike.
    """
    split = {config_name(c) for c in args.split_configs}
    scaled_configs = {config_name(c) for c in args.scaled_configs}
    plan = []
    for config in args.configs:
        sets = [(args.options, args.input_size)]
        if args.scaled_options and config_name(config) in scaled_configs:
            references = sorted({reference_option(o) for o in args.scaled_options},
                                key=list(OPTIONS).index)
            sets.append((references + list(args.scaled_options), args.scaled_input_size))
        for options, size in sets:
            for option in options:
                batches = (args.batches if config_name(config) in split
                           and option in args.split_options else args.batches[:1])
                plan += [(config, option, batch, size) for batch in batches]
    return plan


def benchmark(args: argparse.Namespace, partial_out: Optional[str] = None) -> Dict:
    """Every case of :func:`plan_cases` in its own subprocess (a failed one is reported and
    skipped), then the summary; the cases so far are written to ``partial_out`` after
    each."""
    cases, failed = [], []
    reusable = {}
    for path in args.reuse:
        with open(path) as f:
            for case in json.load(f)['cases']:
                reusable[_case_key(case)] = case
    for config, option, batch, size in plan_cases(args):
        name = f'{config_name(config):8s} {option:8s} batch {batch}' + (f' {size}px' if size
                                                                        else '')
        key = _case_key(dict(config=config_name(config), option=option, batch=batch,
                             device=args.device, threads=args.threads,
                             spec=dict(clip_len=args.clip_len, input_size=size)))
        if key in reusable:
            cases.append(dict(reusable[key], reused=True))
            print(f'{name}: reused', flush=True)
            continue
        try:
            case = run_case(config_path(config), option, batch, args.device, args.threads,
                            args.clip_len, size, args.cfg_options)
        except RuntimeError as error:  # e.g. killed for memory: keep the others
            print(error, flush=True)
            failed.append(dict(config=config_name(config), option=option, batch=batch,
                               input_size=size, error=str(error)[-500:]))
            continue
        print(f'{name}: growth {case["growth_mb"]:.0f} MB (before '
              f'{case["rss_before_mb"]:.0f} MB), step {case["step_s"]:.1f} s', flush=True)
        cases.append(case)
        if partial_out:
            _write_progress(dict(cases=cases, failed=failed), partial_out)
    return dict(command=' '.join(shlex.quote(a) for a in [sys.executable] + sys.argv),
                device=args.device, threads=args.threads, headroom=args.headroom,
                gpu_sizes_gb=args.gpu_sizes, machine=machine_info(), cases=cases,
                failed=failed, summary=summarise(cases, args.gpu_sizes, args.headroom))


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.child:
        _child_main(args.child)
        return
    report = benchmark(args, partial_out=args.out + '.partial')
    print(format_report(report))
    # Every case has run: the driver may import the package's atomic writer now.
    from point3d_mm.utils.fileio import dump_json
    dump_json(report, args.out)
    os.remove(args.out + '.partial')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
