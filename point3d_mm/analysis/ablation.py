"""The paper's ablations (Tables 3 and 4), the TWA variants and the fast 3D Head, on synthetic
actions with seeds: the rows, their configs, their result files and the tables of mean ± sd.

The protocol is ``configs/ablation/point3d_synthetic_ablation.py`` (the full model; its
comment declares data, frame size, clip, schedule). Every row is that config with one change
(:data:`ROWS`), trained with each of :data:`SEEDS` and tested on the held-out videos; one
finished (row, seed) is one JSON file (:func:`result_path`), so a grid that spans sessions
skips what is done. ``tools/analysis/run_ablation.py`` runs the grid through
``tools/train.py`` and ``tools/test.py``; :func:`build_tables` writes the Markdown.
"""
import copy
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

#: The protocol's config, relative to the repository root.
CONFIG = osp.join('configs', 'ablation', 'point3d_synthetic_ablation.py')
#: Its synthetic data: ``SyntheticActions(**DATA)`` into the config's ``data_root``.
DATA = dict(seed=0, num_train=600, num_test=60, size=64)
#: Name of the protocol written into every result; a result of another protocol is not reused.
PROTOCOL = 'synthetic64-T8-2000it-v1'
SEEDS = (0, 1, 2)
#: The metrics of the tables: (column, key of tools/test.py's metrics without the prefix).
METRICS = (('frame-mAP@0.5', 'frame_mAP@0.5'), ('video-mAP@0.2', 'video_mAP@0.2'),
           ('video-mAP@0.5', 'video_mAP@0.5'))

# Without the 3D Head the class comes from FrameClsHead: the 3D Head's 2 convs + FC on each
# actor's own frame features (RoI-pooled as the protocol's 3D Head), without the 3D backbone.
_FRAME_CLS = dict(_delete_=True, type='FrameClsHead', num_classes=6, in_channels=32,
                  conv_channels=32, pool='roi', dropout_ratio=0.0)
_NO_KP = dict(point_head=dict(with_kp=False))
#: The 3D Head of the fast configs (configs/point3d_*_fast.py): its stem convolution strides
#: 2 in space, a quarter of the positions for the whole 3D backbone.
FAST_3D_HEAD = dict(cls_head=dict(backbone=dict(conv1_stride_s=2)))


def _clip_len(t: int) -> Dict:
    return {loader: dict(dataset=dict(clip_len=t))
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')}


#: Every row: slug -> config overrides on top of the protocol (the full model, T = 8).
ROWS: Dict[str, Dict] = {
    'full': {},
    'cp': dict(model=dict(**_NO_KP, neck=None, cls_head=_FRAME_CLS)),
    'cp_kp': dict(model=dict(neck=None, cls_head=_FRAME_CLS)),
    'cp_kp_twa': dict(model=dict(cls_head=_FRAME_CLS)),
    'cp_3d': dict(model=dict(**_NO_KP, neck=None)),
    'cp_kp_3d': dict(model=dict(neck=None)),
    'twa_sqrt_d': dict(model=dict(neck=dict(scale='sqrt_d'))),
    'twa_l2_temperature': dict(model=dict(neck=dict(scale='l2_temperature',
                                                    init_temperature=1.0))),
    'fast': dict(model=FAST_3D_HEAD),
    # Table 4: the full model with clips of T frames (T = 8 is 'full'). T = 1 keeps the 3D
    # Head (its 3x3x3 kernels see one frame through zero padding) and TWA (M = [1], Y = 2F).
    **{f't{t}': _clip_len(t) for t in (1, 3, 5, 7, 9, 13, 16, 32)},
}

#: The tables: (title, [(row label, slug)], paper's numbers by label or None).
TABLES: Tuple[Tuple[str, Tuple[Tuple[str, str], ...], Optional[Dict[str, Tuple]]], ...] = (
    ('Table 3: each part', (('CP', 'cp'), ('CP+KP', 'cp_kp'), ('CP+KP+TWA', 'cp_kp_twa'),
                            ('CP+3D', 'cp_3d'), ('CP+KP+3D', 'cp_kp_3d'),
                            ('CP+KP+3D+TWA', 'full')),
     {'CP': (70.1, 76.5, 77.2), 'CP+KP': (70.5, 77.8, 78.3), 'CP+KP+TWA': (72.5, 79.3, 80.1),
      'CP+3D': (76.8, 85.6, 82.7), 'CP+KP+3D': (78.1, 88.2, 85.6),
      'CP+KP+3D+TWA': (79.2, 89.1, 86.1)}),
    ('Table 4: clip length T', tuple((f'T={t}', 'full' if t == 8 else f't{t}')
                                     for t in (1, 3, 5, 7, 8, 9, 13, 16, 32)),
     {'T=1': (69.8, 78.5, 77.4), 'T=3': (72.1, 81.4, 80.8), 'T=5': (76.3, 85.2, 83.6),
      'T=7': (78.6, 88.5, 85.4), 'T=9': (78.8, 88.7, 85.8), 'T=13': (78.9, 88.9, 85.9),
      'T=16': (79.2, 89.1, 86.1), 'T=32': (79.8, 89.6, 86.5)}),
    ('TWA logits', (('raw Gram (the paper)', 'full'), ('sqrt_d', 'twa_sqrt_d'),
                    ('l2_temperature', 'twa_l2_temperature'), ('no TWA', 'cp_kp_3d')), None),
    ('Fast 3D Head', (('full model', 'full'), ('fast (3D Head stem stride 2)', 'fast')), None),
)

#: The order of the runs: the full model's seeds first (its spread decides whether the
#: protocol is usable), then every other row's first seed (Table 3, TWA, fast, Table 4),
#: then the other seeds in the same order.
ORDER = ('full', 'cp', 'cp_kp', 'cp_kp_twa', 'cp_3d', 'cp_kp_3d', 'twa_sqrt_d',
         'twa_l2_temperature', 'fast', 't1', 't3', 't5', 't7', 't9', 't13', 't16', 't32')
assert sorted(ORDER) == sorted(ROWS)


def run_order(rows: Sequence[str] = ORDER, seeds: Sequence[int] = SEEDS) -> List[Tuple[str, int]]:
    """The (row, seed) runs in the order they are run (see :data:`ORDER`)."""
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise ValueError(f'unknown ablation rows {unknown}; known: {list(ORDER)}')
    rows = [r for r in ORDER if r in rows]
    runs = [('full', s) for s in seeds] if 'full' in rows else []
    return runs + [(row, seed) for seed in seeds for row in rows if row != 'full']


def row_config(slug: str, work_dir: str, config: str = CONFIG, iters: Optional[int] = None,
               data_root: Optional[str] = None):
    """The mmengine Config of one row.

    Args:
        slug: a key of :data:`ROWS`.
        work_dir: the run's work directory.
        config: the protocol's config file.
        iters: a shorter schedule (tests): the learning-rate drops and the checkpoint
            interval follow it.
        data_root: another copy of the protocol's data (tests).
    """
    from mmengine.config import Config
    if slug not in ROWS:
        raise ValueError(f'unknown ablation row {slug!r}; known: {list(ORDER)}')
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(copy.deepcopy(ROWS[slug]))
    cfg.work_dir = work_dir
    if iters is not None:
        full = cfg.train_cfg.max_iters
        cfg.train_cfg.max_iters = iters
        cfg.train_cfg.val_interval = iters + 1
        for scheduler in cfg.param_scheduler:
            scheduler.end = iters
            scheduler.milestones = [max(1, m * iters // full) for m in scheduler.milestones]
        cfg.default_hooks.checkpoint.interval = min(cfg.default_hooks.checkpoint.interval,
                                                    iters)
    if data_root is not None:
        old_root = cfg.train_dataloader.dataset.data_root
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[loader].dataset.data_root = data_root
        for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
            for metric in evaluator:
                metric.ann_file = osp.join(data_root, osp.relpath(metric.ann_file, old_root))
    return cfg


def result_path(results_dir: str, slug: str, seed: int) -> str:
    """The result file of one (row, seed)."""
    return osp.join(results_dir, f'{slug}_seed{seed}.json')


def read_result(path: str) -> Dict:
    """One result file, checked: a dict with ``row``, ``seed``, ``protocol`` and ``metrics``
    holding every key of :data:`METRICS`."""
    try:
        with open(path) as f:
            result = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f'{path}: not a readable JSON result file ({error})') from error
    missing = [k for k in ('row', 'seed', 'protocol', 'metrics') if k not in result]
    if not missing:
        missing = [key for _, key in METRICS if key not in result['metrics']]
    if missing:
        raise ValueError(f'{path}: missing {missing}')
    return result


def load_results(results_dir: str, protocol: str = PROTOCOL) -> Dict[str, Dict[int, Dict]]:
    """``{row: {seed: result}}`` of the result files of ``protocol`` in ``results_dir``."""
    results: Dict[str, Dict[int, Dict]] = {}
    for path in sorted(glob.glob(osp.join(results_dir, '*_seed*.json'))):
        result = read_result(path)
        if result['protocol'] == protocol:
            results.setdefault(result['row'], {})[int(result['seed'])] = result
    return results


def mean_sd(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """Mean and sample standard deviation (n - 1; None for one value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _cell(values: Sequence[float]) -> str:
    if not values:
        return '–'
    mean, sd = mean_sd([100 * v for v in values])
    return f'{mean:.1f}' if sd is None else f'{mean:.1f} ± {sd:.1f}'


def build_tables(results: Mapping[str, Mapping[int, Dict]]) -> str:
    """Markdown of :data:`TABLES` from ``{row: {seed: result}}``: mean ± sd (in %) over the
    seeds measured, their number, the mean CPU minutes of a run (training and test, one
    thread; runs resumed from a checkpoint left out) and the paper's numbers."""
    out = []
    for title, rows, paper in TABLES:
        head = ['row', *[c for c, _ in METRICS], 'seeds', 'CPU min/run']
        if paper:
            head += [f'paper {c}' for c, _ in METRICS]
        lines = [f'### {title}', '', '| ' + ' | '.join(head) + ' |',
                 '|' + ' --- |' + ' ---: |' * (len(head) - 1)]
        for label, slug in rows:
            done = results.get(slug, {})
            runs = [done[s] for s in sorted(done)]
            cells = [_cell([r['metrics'][key] for r in runs]) for _, key in METRICS]
            # a run resumed from a checkpoint timed only its last part
            minutes = [r['cpu_s'] / 60 for r in runs if 'cpu_s' in r and not r.get('resumed')]
            cells += [str(len(runs)), f'{sum(minutes) / len(minutes):.0f}' if minutes else '–']
            if paper:
                cells += [f'{v:.1f}' for v in paper[label]] if label in paper else ['–'] * 3
            lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
        out.append('\n'.join(lines))
    lines = ['### Every run: frame-mAP@0.5 by seed', '',
             '| row | ' + ' | '.join(f'seed {s}' for s in SEEDS) + ' | range |',
             '| --- |' + ' ---: |' * (len(SEEDS) + 1)]
    for slug in ORDER:
        done = results.get(slug, {})
        values = [100 * done[s]['metrics']['frame_mAP@0.5'] for s in SEEDS if s in done]
        cells = [f"{100 * done[s]['metrics']['frame_mAP@0.5']:.2f}" if s in done else '–'
                 for s in SEEDS]
        spread = f'{max(values) - min(values):.2f}' if len(values) > 1 else '–'
        lines.append(f'| {slug} | ' + ' | '.join(cells) + f' | {spread} |')
    out.append('\n'.join(lines))
    return '\n\n'.join(out) + '\n'
