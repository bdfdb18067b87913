"""Training curves and per-class AP charts of a work dir, as PNG files.

Reads what mmengine and the point3d_mm metrics leave in a work dir, as data (no log text):
the JSON-lines ``<timestamp>/vis_data/scalars.json`` of every run (chained in timestamp
order, a later run replacing the earlier runs' rows from its own first step on), the
per-class AP tables ``FrameMAP``/``VideoMAP`` save beside the log, and metrics JSONs.
:func:`plot_work_dir` is ``tools/analysis/plot_results.py``. Figures are drawn on
:class:`matplotlib.figure.Figure` (no pyplot, no display backend) and written atomically.
"""
import glob
import json
import math
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..utils.fileio import atomic_open, dump_json

#: Keys of the scalar rows that are not curves.
BOOKKEEPING_KEYS = ('step', 'epoch', 'iter', 'time', 'data_time', 'memory', 'eta')
RUN_DIR_RE = re.compile(r'^\d{8}_\d{6}$')


# ---------------------------------------------------------------------------- reading
def find_scalar_files(path: str) -> List[str]:
    """``scalars.json`` files of a work dir (every run, in timestamp order), of one run
    folder, or the file itself."""
    if osp.isfile(path):
        return [path]
    own = osp.join(path, 'vis_data', 'scalars.json')
    if osp.isfile(own):
        return [own]
    return sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')),
                  key=lambda p: osp.basename(osp.dirname(osp.dirname(p))))


def read_scalar_rows(path: str) -> List[dict]:
    """The rows of one JSON-lines scalars file; a torn last line (a run still writing) and
    other undecodable lines are skipped."""
    rows = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and 'step' in row:
                rows.append(row)
    return rows


def is_train_row(row: dict) -> bool:
    """Training rows carry loss terms; validation rows carry metrics only."""
    return any(key.startswith('loss') for key in row)


def chain_runs(runs: Sequence[List[dict]]) -> List[dict]:
    """Concatenate the rows of successive runs; each run replaces the earlier runs' rows
    from its first step on."""
    chained: List[dict] = []
    for rows in runs:
        if not rows:
            continue
        first = min(row['step'] for row in rows)
        chained = [row for row in chained if row['step'] < first] + list(rows)
    return sorted(chained, key=lambda row: row['step'])


def load_scalars(path: str) -> Tuple[List[dict], List[dict]]:
    """Training and validation rows of a work dir, run folder or scalars file."""
    runs = [read_scalar_rows(p) for p in find_scalar_files(path)]
    train = chain_runs([[r for r in rows if is_train_row(r)] for rows in runs])
    val = chain_runs([[r for r in rows if not is_train_row(r)] for rows in runs])
    return train, val


def series(rows: Sequence[dict], key: str) -> Tuple[List[float], List[float]]:
    """(steps, values) of the rows holding a numeric ``key``."""
    xs, ys = [], []
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            xs.append(row['step'])
            ys.append(float(value))
    return xs, ys


def loss_keys(rows: Sequence[dict]) -> List[str]:
    """``loss`` first, then the loss terms in the order they first appear."""
    keys = _ordered_keys(rows, lambda key: key.startswith('loss'))
    return sorted(keys, key=lambda key: key != 'loss')


def lr_keys(rows: Sequence[dict]) -> List[str]:
    """Learning-rate keys: ``lr``, ``<optimizer>.lr`` (an OptimWrapperDict), ``*_lr``."""
    return _ordered_keys(rows, lambda key: key == 'lr' or key.endswith(('.lr', '_lr')))


def metric_keys(rows: Sequence[dict]) -> List[str]:
    """Validation metric keys (everything numeric that is not bookkeeping)."""
    return _ordered_keys(rows, lambda key: key not in BOOKKEEPING_KEYS)


def _ordered_keys(rows: Sequence[dict], keep) -> List[str]:
    keys: Dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if (keep(key) and isinstance(value, (int, float))
                    and not isinstance(value, bool)):
                keys.setdefault(key, None)
    return list(keys)


def read_table_file(path: str) -> List[dict]:
    """The per-class tables of one JSON file: a table ``FrameMAP``/``VideoMAP`` saved
    (``<prefix>_frame_ap.json``, ``<prefix>_video_ap.json``) or this tool's
    ``per_class_ap.json`` (``{"tables": [...]}``)."""
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f'{path}: not a JSON file ({error})') from None
    tables = data.get('tables', [data]) if isinstance(data, dict) else None
    if not tables or not all(isinstance(t, dict) and {'name', 'classes', 'ap'} <= set(t)
                             for t in tables):
        raise ValueError(f'{path}: not a per-class AP table (expected the JSON that FrameMAP/'
                         'VideoMAP write beside the log)')
    return [_nan_table(t) for t in tables]


def find_table_files(work_dir: str) -> List[str]:
    """The per-class AP tables the metrics saved in the newest run folder that has any (after
    ``mim test``, the test run), or in the folder itself."""
    if osp.isfile(work_dir):
        return []
    runs = sorted((d for d in glob.glob(osp.join(work_dir, '*'))
                   if osp.isdir(d) and RUN_DIR_RE.match(osp.basename(d))), reverse=True)
    for folder in runs + [work_dir]:
        files = sorted(glob.glob(osp.join(folder, '*_frame_ap.json'))) + sorted(
            glob.glob(osp.join(folder, '*_video_ap.json')))
        if files:
            return files
    return []


def load_tables(work_dir: str, files: Optional[Sequence[str]] = None
                ) -> Tuple[List[dict], Optional[str]]:
    """The per-class tables of ``files``, or of :func:`find_table_files`; also where they
    came from."""
    files = list(files or find_table_files(work_dir))
    tables = [table for path in files for table in read_table_file(path)]
    return tables, (', '.join(files) if files else None)


def load_metrics_json(path: str) -> Tuple[Dict[str, float], List[dict]]:
    """Mean metrics and per-class tables of a metrics JSON.

    Accepts ``tools/test.py --out-metrics`` (``{name: value}``), ``eval_detections.py
    --out`` (the same plus ``protocol``, ``frames`` and ``split``, ignored) and this
    tool's ``per_class_ap.json`` (``{"tables": [...]}``, whose means become the metrics).
    """
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object of metrics')
    tables = [_nan_table(t) for t in data.get('tables', [])] + (
        [_nan_table(data)] if {'name', 'classes', 'ap'} <= set(data) else [])
    metrics = {key: float(value) for key, value in data.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)
               and key not in BOOKKEEPING_KEYS + ('split', )}
    for table in tables:
        for column, value in table['mean'].items():
            metrics.setdefault(f'{table["name"]} {column}', value)
    return metrics, tables


def _nan_table(table: dict) -> dict:
    """JSON null → nan in a table read back from ``per_class_ap.json``."""
    def fix(values):
        return [math.nan if v is None else float(v) for v in values]
    return dict(table, ap={c: fix(v) for c, v in table['ap'].items()},
                mean={c: math.nan if v is None else float(v)
                      for c, v in table['mean'].items()})


# ---------------------------------------------------------------------------- writing
def save_figure(fig, path: str, dpi: int) -> str:
    """Write a figure as PNG atomically."""
    with atomic_open(path, 'wb') as f:
        fig.savefig(f, format='png', dpi=dpi)
    return path


def save_json(data, path: str) -> str:
    """Write JSON atomically; nan becomes null."""
    dump_json(data, path, indent=2)
    return path


def slug(name: str) -> str:
    """A file-name part for a table name: ``frame-AP@0.5`` → ``frame_ap_0.5``."""
    return re.sub(r'[^0-9a-z.]+', '_', name.lower()).strip('_')


# ---------------------------------------------------------------------------- plotting
def _new_figure(fig_size: Tuple[float, float]):
    fig = Figure(figsize=fig_size, layout='constrained')
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


def _positive(values: Iterable[float]) -> bool:
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0


def _epoch_starts(rows: Sequence[dict]) -> List[float]:
    """Steps where a new epoch's rows begin (training rows with ``epoch``)."""
    starts, last = [], None
    for row in rows:
        epoch = row.get('epoch')
        if last is not None and epoch is not None and epoch != last:
            starts.append(row['step'])
        last = epoch if epoch is not None else last
    return starts


def plot_curves(rows: Sequence[dict], keys: Sequence[str], title: str, xlabel: str,
                ylabel: str, path: str, fig_size: Tuple[float, float], dpi: int,
                log_y: bool = False, epoch_lines: bool = False) -> Optional[str]:
    """One line per key against ``step``; None when no key has data."""
    curves = [(key, *series(rows, key)) for key in keys]
    curves = [(key, xs, ys) for key, xs, ys in curves if xs]
    if not curves:
        return None
    fig, ax = _new_figure(fig_size)
    for key, xs, ys in curves:
        ax.plot(xs, ys, label=key, linewidth=1.5 if key == 'loss' else 1.0,
                marker='o' if len(xs) <= 30 else None, markersize=3)
    if epoch_lines:
        starts = _epoch_starts(rows)
        if len(starts) <= 60:
            for step in starts:
                ax.axvline(step, color='grey', alpha=0.25, linewidth=0.8)
    if log_y and _positive(y for _, _, ys in curves for y in ys):
        ax.set_yscale('log')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize='small', ncol=2 if len(curves) > 6 else 1)
    return save_figure(fig, path, dpi)


def plot_per_class(table: dict, path: str, fig_size: Tuple[float, float], dpi: int,
                   source: str = '') -> str:
    """Horizontal bars of one table's per-class APs (in %), one bar per column and class;
    dashed lines mark the column means."""
    classes, columns = table['classes'], table['columns']
    width, height = fig_size
    height = max(height, 0.22 * len(classes) * max(1, min(len(columns), 3)) + 1.5)
    fig, ax = _new_figure((width, height))
    ax.grid(True, axis='x', alpha=0.3)
    ax.grid(False, axis='y')
    bar = 0.8 / len(columns)
    colors = matplotlib.rcParams['axes.prop_cycle'].by_key()['color']
    for j, column in enumerate(columns):
        color = colors[j % len(colors)]
        ys = [i - 0.4 + bar * (j + 0.5) for i in range(len(classes))]
        values = [100 * v if math.isfinite(v) else 0.0 for v in table['ap'][column]]
        ax.barh(ys, values, height=bar, color=color, label=column)
        mean = table['mean'].get(column, math.nan)
        if math.isfinite(mean):
            ax.axvline(100 * mean, color=color, linestyle='--', linewidth=1,
                       label=f'mean {column}: {100 * mean:.1f}')
    ax.set_yticks(range(len(classes)))
    ax.set_yticklabels([c + ('' if any(math.isfinite(table['ap'][col][i]) for col in columns)
                             else ' (-)') for i, c in enumerate(classes)])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel('AP (%)')
    title = f'{table["name"]} ({table["setting"]})'
    if source:
        title += f'\n{source}'
    ax.set_title(title, fontsize='small')
    ax.legend(fontsize='small', loc='upper left', bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path, dpi)


def plot_metric_summary(metrics: Dict[str, float], path: str, fig_size: Tuple[float, float],
                        dpi: int, source: str = '') -> Optional[str]:
    """Horizontal bars of the mean metrics of a metrics JSON."""
    items = [(k, v) for k, v in metrics.items() if math.isfinite(v)]
    if not items:
        return None
    width, height = fig_size
    fig, ax = _new_figure((width, max(height, 0.3 * len(items) + 1.5)))
    names, values = zip(*items)
    percent = all(0 <= v <= 1 for v in values)
    shown = [100 * v if percent else v for v in values]
    ax.barh(range(len(items)), shown)
    for i, v in enumerate(shown):
        ax.text(v, i, f' {v:.2f}', va='center', fontsize='small')
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel('%' if percent else 'value')
    if percent:
        ax.set_xlim(0, 105)
    ax.set_title('metrics' + (f'\n{source}' if source else ''), fontsize='small')
    return save_figure(fig, path, dpi)


def plot_work_dir(work_dir: str, out_dir: Optional[str] = None,
                  table_files: Optional[Sequence[str]] = None, metrics_file: Optional[str] = None,
                  fig_size: Tuple[float, float] = (8.0, 5.0), dpi: int = 100,
                  log_loss: bool = True) -> Tuple[Dict[str, str], Dict]:
    """Write every chart of a work dir (or run folder, or scalars file) into ``out_dir``
    (default ``<work dir>/plots``): ``train_loss``, ``train_lr``, ``val_metrics``,
    ``per_class_<table>`` (of ``table_files``, else the newest run folder's),
    ``metrics_summary`` (of ``metrics_file``) and ``per_class_json``.

    Returns:
        ({what: written file}, {'train_rows', 'val_rows', 'source'}: what was read).

    Raises:
        ValueError: a table or metrics file that is not one.
    """
    base = work_dir if osp.isdir(work_dir) else osp.dirname(work_dir)
    out_dir = out_dir or osp.join(base, 'plots')
    written: Dict[str, str] = {}
    train, val = load_scalars(work_dir)
    by_epoch = bool(train) and all('epoch' in row for row in train)
    outputs = [
        ('train_loss', train, loss_keys(train), 'training losses', 'iteration', 'loss',
         log_loss),
        ('train_lr', train, lr_keys(train), 'learning rates', 'iteration', 'lr', True),
        ('val_metrics', val, metric_keys(val), 'validation metrics',
         'epoch' if by_epoch or not train else 'iteration', 'metric', False),
    ]
    for name, rows, keys, title, xlabel, ylabel, log_y in outputs:
        path = plot_curves(rows, keys, title, xlabel, ylabel, osp.join(out_dir, name + '.png'),
                           fig_size, dpi, log_y=log_y, epoch_lines=name.startswith('train'))
        if path:
            written[name] = path
    tables, source = load_tables(work_dir, table_files)
    if metrics_file:
        metrics, json_tables = load_metrics_json(metrics_file)
        if json_tables and not tables:
            tables, source = json_tables, metrics_file
        path = plot_metric_summary(metrics, osp.join(out_dir, 'metrics_summary.png'),
                                   fig_size, dpi, source=metrics_file)
        if path:
            written['metrics_summary'] = path
    for table in tables:
        name = 'per_class_' + slug(table['name'])
        written[name] = plot_per_class(table, osp.join(out_dir, name + '.png'), fig_size,
                                       dpi, source=source or '')
    if tables:
        written['per_class_json'] = save_json(dict(source=source, tables=tables),
                                              osp.join(out_dir, 'per_class_ap.json'))
    return written, dict(train_rows=len(train), val_rows=len(val), source=source)
