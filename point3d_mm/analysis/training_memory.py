"""Training memory per clip (``tools/analysis/benchmark_train_memory.py``): one paper-scale
``train_step`` per fresh process (:func:`measure_step` through :func:`run_case`), for each
config, option (:data:`OPTIONS`: precision and activation checkpointing) and batch size of a
plan (:func:`plan_memory_cases`, :func:`measure_memory_cases`). What the cases add up to, and
the clips that fit a GPU: :mod:`point3d_mm.analysis.training_memory_summary`.
"""
import json
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ..utils.benchmark import (
    child_env,
    median_time,
    peak_cuda_mb,
    proc_status_mb,
    reset_peak_cuda,
    run_measured,
)
from .benchmark_configs import IMPORT_ROOT, REPO, config_name, config_path

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


def synthetic_batch(num_clips: int, clip_len: int, size: int, num_classes: int,
                    num_knots: int = 4) -> dict:
    """A raw training batch (before the data preprocessor), in docs/interfaces.md's format:
    uint8 noise clips (3, T, size, size) with two actors per frame, every frame annotated;
    the knots are the box edges' midpoints for 4 (the box-knot configs), otherwise
    ``num_knots`` points along each box's diagonal (a joint-knot config's count, e.g. JHMDB's
    15: memory depends on how many, not where)."""
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData

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
            track_ids=torch.arange(2).repeat(clip_len), knots=_knots(boxes, num_knots))
        sample.set_gt_label(label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _knots(boxes: torch.Tensor, num_knots: int) -> torch.Tensor:
    """(N, K, 2) knots of (N, 4) boxes: :func:`box_knots` for K = 4, else K points along
    the diagonal from 5 % to 95 %."""
    from point3d_mm.structures.geometry import box_knots
    if num_knots == 4:
        return box_knots(boxes)
    along = torch.linspace(0.05, 0.95, num_knots)[None, :, None]
    return boxes[:, None, :2] + (boxes[:, None, 2:] - boxes[:, None, :2]) * along


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
    data = synthetic_batch(batch, clip_len, size, model.cls_head.num_classes,
                           model.point_head.num_knots)
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
    code = ('import sys; from point3d_mm.analysis.training_memory import child_main; '
            'child_main(sys.argv[1])')
    run = run_measured([sys.executable, '-c', code, json.dumps(spec)],
                       child_env(threads, IMPORT_ROOT), cwd=REPO, poll=0.2)
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


def precision(option: str) -> str:
    """'fp32', 'bfloat16' or 'fp16': what sets an option's fixed part (gradients and
    low-precision weight copies); checkpointing changes the activations only."""
    spec = OPTIONS[option]
    return 'fp16' if spec['amp'] else spec['autocast'] or 'fp32'


def reference_option(option: str) -> str:
    """The fp32 option with the same checkpointing ('bf16+cp' -> 'cp')."""
    return 'cp' if OPTIONS[option]['with_cp'] else 'fp32'


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
