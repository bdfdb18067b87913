"""What the training-memory cases of :mod:`point3d_mm.analysis.training_memory` add up to:
per config, option and clip geometry the fixed and per-clip memory of a training step (a line
fit over batch sizes, :func:`summarise`), and the clips that fit a GPU
(:func:`clips_per_gpu`); the report's table (:func:`format_memory_report`).
"""
import math
from typing import Dict, List, Sequence, Tuple

from .training_memory import precision, reference_option

#: The share of a GPU's memory left free when counting the clips that fit.
HEADROOM = 0.15


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
