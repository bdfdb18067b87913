"""The paper's ablations (Tables 3 and 4), the TWA variants and the fast 3D Head, on synthetic
actions with seeds: the rows, their order, their result files and the tables of mean ± sd.

A row is a config file in :data:`CONFIG_DIR` (``<slug>.py``, each the protocol's full model
``configs/ablation/point3d_synthetic_ablation.py`` with one change), so a row is something a
user can ``mim train``. Each is trained with each of :data:`SEEDS`, then tested on the
validation videos (which choose the defaults) and on the test videos (which only report); one
finished (row, seed) is one JSON file (:func:`result_path`), so a grid that spans sessions
skips what is done. ``tools/analysis/run_ablation.py`` runs the grid through
``tools/train.py`` and ``tools/test.py``; :func:`build_tables` writes the Markdown.
"""
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

#: The folder of the rows' configs, relative to the repository root.
CONFIG_DIR = osp.join('configs', 'ablation', 'synthetic64')
#: The protocol's synthetic data: ``SyntheticActions(**DATA)`` into the configs' ``data_root``.
DATA = dict(seed=0, num_train=600, num_test=60, num_val=60, size=64)
#: Name of the protocol written into every result; a result of another protocol is not reused.
PROTOCOL = 'synthetic64-T8-2000it-v2'
SEEDS = (0, 1, 2)
#: The evaluated splits: the validation videos choose, the test videos report.
SPLITS = ('val', 'test')
#: The metrics of the tables: (column, key of tools/test.py's metrics without the prefix).
METRICS = (('frame-mAP@0.5', 'frame_mAP@0.5'), ('video-mAP@0.2', 'video_mAP@0.2'),
           ('video-mAP@0.5', 'video_mAP@0.5'))

#: The tables: (title, [(row label, slug)], paper's numbers by label or None).
TABLES: Tuple[Tuple[str, Tuple[Tuple[str, str], ...], Optional[Dict[str, Tuple]]], ...] = (
    ('TWA logits', (('raw Gram (the paper)', 'full'), ('sqrt_d', 'twa_sqrt_d'),
                    ('l2_temperature', 'twa_l2_temperature'), ('no TWA', 'cp_kp_3d')), None),
    ('Table 3: each part', (('CP', 'cp'), ('CP+KP', 'cp_kp'), ('CP+KP+TWA', 'cp_kp_twa'),
                            ('CP+3D', 'cp_3d'), ('CP+KP+3D', 'cp_kp_3d'),
                            ('CP+KP+3D+TWA', 'full')),
     {'CP': (70.1, 76.5, 77.2), 'CP+KP': (70.5, 77.8, 78.3), 'CP+KP+TWA': (72.5, 79.3, 80.1),
      'CP+3D': (76.8, 85.6, 82.7), 'CP+KP+3D': (78.1, 88.2, 85.6),
      'CP+KP+3D+TWA': (79.2, 89.1, 86.1)}),
    ('Fast 3D Head', (('full model', 'full'), ('fast (3D Head stem stride 2)', 'fast')), None),
    ('Table 4: clip length T', tuple((f'T={t}', 'full' if t == 8 else f't{t}')
                                     for t in (1, 3, 5, 7, 8, 9, 13, 16, 32)),
     {'T=1': (69.8, 78.5, 77.4), 'T=3': (72.1, 81.4, 80.8), 'T=5': (76.3, 85.2, 83.6),
      'T=7': (78.6, 88.5, 85.4), 'T=9': (78.8, 88.7, 85.8), 'T=13': (78.9, 88.9, 85.9),
      'T=16': (79.2, 89.1, 86.1), 'T=32': (79.8, 89.6, 86.5)}),
)

#: The order of the rows: decisions first (the TWA formula, then whether each part helps
#: once the 3D Head is there), then the fast 3D Head's price, the clips shorter than T = 8
#: from the longest down (the candidates for a cheaper T, the demo's included; the longest
#: are the likeliest to stay within the spread), Table 3's rows without the 3D Head, and the
#: rest of Table 4 with T = 32 (the dearest) last. Rows of :data:`CONFIG_DIR` not named here
#: come after, by name.
ORDER = ('full', 'twa_sqrt_d', 'twa_l2_temperature', 'cp_kp_3d', 'cp_3d', 'fast', 't7', 't5',
         't3', 't1', 'cp', 'cp_kp', 'cp_kp_twa', 't9', 't13', 't16', 't32')


def rows(config_dir: str = CONFIG_DIR) -> List[str]:
    """The rows: the configs of ``config_dir`` by slug, in :data:`ORDER`."""
    found = sorted(osp.splitext(osp.basename(p))[0]
                   for p in glob.glob(osp.join(config_dir, '*.py')))
    if not found:
        raise ValueError(f'{config_dir}: no row config (*.py) in it')
    return [s for s in ORDER if s in found] + [s for s in found if s not in ORDER]


def row_file(slug: str, config_dir: str = CONFIG_DIR) -> str:
    """The config file of a row."""
    path = osp.join(config_dir, f'{slug}.py')
    if not osp.isfile(path):
        raise ValueError(f'unknown ablation row {slug!r}: no {path}; known: '
                         f'{rows(config_dir)}')
    return path


def run_order(selected: Optional[Sequence[str]] = None, seeds: Sequence[int] = SEEDS,
              config_dir: str = CONFIG_DIR) -> List[Tuple[str, int]]:
    """The (row, seed) runs in the order they are run: row by row (:func:`rows`), every seed
    of a row before the next row, so that each decision has its spread as early as possible.
    """
    known = rows(config_dir)
    selected = known if selected is None else list(selected)
    unknown = sorted(set(selected) - set(known))
    if unknown:
        raise ValueError(f'unknown ablation rows {unknown}; known: {known}')
    return [(slug, seed) for slug in known if slug in selected for seed in seeds]


def row_config(slug: str, work_dir: str, config_dir: str = CONFIG_DIR,
               iters: Optional[int] = None, data_root: Optional[str] = None):
    """The mmengine Config of one row.

    Args:
        slug: a row (:func:`rows`).
        work_dir: the run's work directory.
        config_dir: the folder of the rows' configs.
        iters: a shorter schedule (tests): the learning-rate drops and the checkpoint
            interval follow it.
        data_root: another copy of the protocol's data (tests).
    """
    from mmengine.config import Config
    cfg = Config.fromfile(row_file(slug, config_dir))
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


def split_config(cfg, split: str):
    """``cfg`` whose test dataloader and evaluator are those of ``split`` (``val`` or
    ``test``), for ``tools/test.py``."""
    if split not in SPLITS:
        raise ValueError(f'unknown split {split!r}; known: {SPLITS}')
    if split == 'val':
        cfg = cfg.copy()
        cfg.test_dataloader = cfg.val_dataloader
        cfg.test_evaluator = cfg.val_evaluator
    return cfg


def result_path(results_dir: str, slug: str, seed: int) -> str:
    """The result file of one (row, seed)."""
    return osp.join(results_dir, f'{slug}_seed{seed}.json')


#: What a result records besides its metrics: where, with what, from which code it ran.
PROVENANCE = ('commit', 'config', 'config_sha256', 'overrides', 'versions', 'cpu', 'threads')


def read_result(path: str, protocol: Optional[str] = None) -> Optional[Dict]:
    """One result file, checked: a dict with ``row``, ``seed``, ``protocol``, the
    :data:`PROVENANCE` and ``metrics`` holding every key of :data:`METRICS` for each of
    :data:`SPLITS`. With ``protocol``, a result of another protocol is None, unchecked."""
    try:
        with open(path) as f:
            result = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f'{path}: not a readable JSON result file ({error})') from error
    if not isinstance(result, dict):
        raise ValueError(f'{path}: not a result (a JSON object)')
    if protocol is not None and result.get('protocol') != protocol:
        return None
    missing = [k for k in ('row', 'seed', 'protocol', 'metrics', *PROVENANCE)
               if k not in result]
    if not missing:
        missing = [f'{split}/{key}' for split in SPLITS for _, key in METRICS
                   if key not in result['metrics'].get(split, {})]
    if missing:
        raise ValueError(f'{path}: missing {missing}')
    return result


def load_results(results_dir: str, protocol: str = PROTOCOL) -> Dict[str, Dict[int, Dict]]:
    """``{row: {seed: result}}`` of the result files of ``protocol`` in ``results_dir``
    (files of another protocol are left out unchecked)."""
    results: Dict[str, Dict[int, Dict]] = {}
    for path in sorted(glob.glob(osp.join(results_dir, '*_seed*.json'))):
        result = read_result(path, protocol)
        if result is not None:
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


def _vector_isa(cpu) -> Optional[str]:
    """``AVX-512`` or ``AVX2``: the widest vector instructions in a result's ``cpu`` record, a
    label for the kind of host (the hosts differ by up to 2.3x in speed, and not only in
    vectorised work); None when the record does not say."""
    flags = cpu.get('flags', ()) if isinstance(cpu, Mapping) else ()
    if 'avx512f' in flags:
        return 'AVX-512'
    return 'AVX2' if 'avx2' in flags else None


def _cpu_minutes(runs: Sequence[Mapping]) -> str:
    """Mean CPU minutes of a run, per kind of host when the hosts' vector instructions are
    known (runs on AVX-512 and AVX2-only hosts are not averaged together); runs resumed from
    a checkpoint timed only their last part and are left out."""
    by_isa: Dict[Optional[str], list] = {}
    for run in runs:
        if 'cpu_s' in run and not run.get('resumed'):
            by_isa.setdefault(_vector_isa(run.get('cpu')), []).append(run['cpu_s'] / 60)
    cells = [f'{sum(m) / len(m):.0f}' + (f' ({isa})' if isa else '')
             for isa, m in sorted(by_isa.items(), key=lambda item: str(item[0]))]
    return ' · '.join(cells) if cells else '–'


def build_tables(results: Mapping[str, Mapping[int, Dict]]) -> str:
    """Markdown of :data:`TABLES` from ``{row: {seed: result}}``: mean ± sd (in %) over the
    seeds measured, on the validation videos (which choose) and the test videos (which
    report), their number, the mean CPU minutes of a run (training and both tests, one
    thread; per kind of host; runs resumed from a checkpoint left out) and the paper's
    numbers."""
    out = []
    for title, table_rows, paper in TABLES:
        head = ['row', *[f'val {c}' for c, _ in METRICS], *[f'test {c}' for c, _ in METRICS],
                'seeds', 'CPU min/run']
        if paper:
            head += [f'paper {c}' for c, _ in METRICS]
        lines = [f'#### {title}', '', '| ' + ' | '.join(head) + ' |',
                 '|' + ' --- |' + ' ---: |' * (len(head) - 1)]
        for label, slug in table_rows:
            done = results.get(slug, {})
            runs = [done[s] for s in sorted(done)]
            cells = [_cell([r['metrics'][split][key] for r in runs])
                     for split in SPLITS for _, key in METRICS]
            cells += [str(len(runs)), _cpu_minutes(runs)]
            if paper:
                cells += [f'{v:.1f}' for v in paper[label]] if label in paper else ['–'] * 3
            lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
        out.append('\n'.join(lines))
    lines = ['#### Every run: frame-mAP@0.5 by seed (val / test)', '',
             '| row | ' + ' | '.join(f'seed {s}' for s in SEEDS) + ' | test range |',
             '| --- |' + ' ---: |' * (len(SEEDS) + 1)]
    for slug in [*ORDER, *sorted(set(results) - set(ORDER))]:
        done = results.get(slug, {})
        frame = {s: {split: 100 * done[s]['metrics'][split]['frame_mAP@0.5'] for split in SPLITS}
                 for s in SEEDS if s in done}
        cells = [f"{frame[s]['val']:.2f} / {frame[s]['test']:.2f}" if s in frame else '–'
                 for s in SEEDS]
        tests = [v['test'] for v in frame.values()]
        spread = f'{max(tests) - min(tests):.2f}' if len(tests) > 1 else '–'
        lines.append(f'| {slug} | ' + ' | '.join(cells) + f' | {spread} |')
    out.append('\n'.join(lines))
    return '\n\n'.join(out) + '\n'
