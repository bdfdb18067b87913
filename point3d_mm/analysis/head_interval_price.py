"""The accuracy price of the 3D Head interval (``test_cfg.head_interval`` = k): trained
checkpoints re-tested with several k, the table of mean ± sd over the runs and the default k
that the rule picks. Back end of ``tools/analysis/price_head_interval.py``.

A run is a config and a checkpoint (:class:`PricedRun`): given directly, or read from the work
dir of an ablation grid run (:func:`ablation_run`) or of the demo (:func:`demo_run`). Each is
tested once per (split, k) the way ``tools/test.py`` tests (:func:`checkpoint_metrics`: mmengine's
Runner with the config's test loop, the cached one for Point3D), and each test's metrics are
kept in a file (:func:`test_record_path`) that a later call reuses while the checkpoint and the
resolved config are unchanged, so an interrupted pricing resumes.

The rule (:func:`choose_interval`): the default is the largest k whose frame-mAP@0.5 and
video-mAP@0.5 are both at most one sample sd (over the runs, of k = 1) below k = 1's mean,
judged on the validation videos where the runs have them; the test videos only report.
"""
import copy
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from ..models.utils import check_head_interval
from ..utils.checkpoint import file_sha256
from ..utils.config_checks import check_cfg_types, load_config
from ..utils.fileio import atomic_write, dump_json
from . import ablation
from .demo_pipeline import DemoSteps, read_json

#: The intervals priced by default; 1 is the reference the others are compared with.
INTERVALS = (1, 2, 4, 8)
#: The columns of the table: (column, key of tools/test.py's metrics without the prefix).
METRICS = ablation.METRICS
#: The metrics that the chosen k must keep within one seed-sd of k = 1.
CHOICE_METRICS = ('frame_mAP@0.5', 'video_mAP@0.5')
#: The split that chooses, when tested; the other only reports.
CHOICE_SPLIT = 'val'


class PricedRun(NamedTuple):
    """One trained run: its name in the tables, its config (an mmengine Config whose test
    dataloader and evaluator are the test videos', whose val ones are the validation
    videos'), its checkpoint and where they came from."""
    name: str
    cfg: object
    checkpoint: str
    source: str


def parse_intervals(values: Sequence) -> List[int]:
    """The intervals to price, sorted, each an int >= 1, with 1 (the reference) added.

    Raises:
        ValueError: a value that is not an int >= 1, naming it.
    """
    intervals = set()
    for value in values:
        number = value
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                number = value
        try:
            intervals.add(check_head_interval(number))
        except ValueError:
            raise ValueError(f'head interval {value!r}: not an int >= 1 (the 3D Head runs on one '
                             'frame of every k)') from None
    if not intervals:
        raise ValueError('no head interval to price')
    return sorted(intervals | {1})


def with_head_interval(cfg, interval: int):
    """A copy of ``cfg`` whose model has ``test_cfg.head_interval = interval``."""
    cfg = copy.deepcopy(cfg)
    cfg.model.test_cfg = {**(cfg.model.get('test_cfg') or {}), 'head_interval': interval}
    return cfg


def _checkpoint_of(work_dir: str, cfg) -> str:
    """The final checkpoint of a work dir: ``iter_<train_cfg.max_iters>.pth``.

    Raises:
        ValueError: the config trains by epochs (no ``max_iters``).
        FileNotFoundError: it is not there (training unfinished), naming the last checkpoint.
    """
    if 'max_iters' not in (cfg.get('train_cfg') or {}):
        raise ValueError(f'{work_dir}: its config trains by epochs, not iterations, so its '
                         'final checkpoint is not known; pass --run CONFIG CHECKPOINT')
    path = osp.join(work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    if not osp.isfile(path):
        pointer = osp.join(work_dir, 'last_checkpoint')
        last = open(pointer).read().strip() if osp.isfile(pointer) else None
        raise FileNotFoundError(
            f'{path}: no such checkpoint, the end of the config\'s {cfg.train_cfg.max_iters} '
            'iterations (' + (f'training stopped at {osp.basename(last)}: resume it first'
                              if last else 'nothing was trained there') + ')')
    return path


def ablation_run(work_dir: str) -> PricedRun:
    """The run of an ablation grid's work dir ``<row>/seed<k>/``: its config ``<row>_test.py``
    with the validation videos of ``<row>_val.py`` (both written by
    ``tools/analysis/run_ablation.py``) and ``iter_<max_iters>.pth``.

    The validation loop comes from ``<row>_val.py``'s test loop, since mmengine's Runner
    re-dumps ``<row>_test.py`` into the work dir as it ran: training with ``--no-validate``
    leaves no validation loop in it. Without ``<row>_val.py`` the test config's own validation
    loop is used, if it has one.

    Raises:
        ValueError: not such a work dir.
        FileNotFoundError: its final checkpoint is missing.
    """
    configs = sorted(p for p in os.listdir(work_dir) if p.endswith('_test.py'))
    if len(configs) != 1:
        raise ValueError(f'{work_dir}: not the work dir of an ablation run (it needs one '
                         f'<row>_test.py, found {configs or "none"})')
    row = configs[0][:-len('_test.py')]
    cfg = load_config(osp.join(work_dir, configs[0]))
    val_file = osp.join(work_dir, f'{row}_val.py')
    if osp.isfile(val_file):
        val_cfg = load_config(val_file)
        cfg.val_dataloader = val_cfg.test_dataloader
        cfg.val_evaluator = val_cfg.test_evaluator
    return PricedRun(f'{row}/{osp.basename(osp.normpath(work_dir))}', cfg,
                     _checkpoint_of(work_dir, cfg), work_dir)


def demo_run(work_dir: str, config: str, data_root: str) -> PricedRun:
    """The run of a demo work dir (``tools/run_demo.py``: ``work_dirs/demo``,
    ``work_dirs/demo_seed<k>``): ``config`` pointed at ``data_root`` the way the demo points
    it (:meth:`DemoSteps.data_options`: validation loop on the validation videos, test loop on
    the test videos) and ``iter_<max_iters>.pth``.

    Raises:
        ValueError: ``data_root`` holds data of another recipe than the run trained on.
        FileNotFoundError: the data root's recipe or the final checkpoint is missing.
    """
    trained_on = read_json(osp.join(work_dir, 'demo_recipe.json'))
    recipe_file = osp.join(data_root, 'demo_recipe.json')
    data = read_json(recipe_file)
    if data is None:
        raise FileNotFoundError(f'{recipe_file}: missing; {data_root} is not the demo\'s data '
                                '(tools/run_demo.py --data-only writes it)')
    trained = {k: v for k, v in (trained_on or {}).items() if k != 'train_seed'}
    if trained != data:
        raise ValueError(f'{work_dir} was trained on the data recipe {trained} but {data_root} '
                         f'holds {data}; pass the demo\'s --data-root')
    options = dict(option.split('=', 1)
                   for option in DemoSteps('.', config, work_dir, data_root).data_options())
    cfg = load_config(config, options)
    return PricedRun(osp.basename(osp.normpath(work_dir)), cfg, _checkpoint_of(work_dir, cfg),
                     work_dir)


def work_dir_run(work_dir: str, demo_config: str, demo_data_root: str) -> PricedRun:
    """The run of a work dir: a demo's (it holds ``demo_recipe.json``) or an ablation run's.

    Raises:
        FileNotFoundError: no such folder.
    """
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'{work_dir}: no such work dir')
    if osp.isfile(osp.join(work_dir, 'demo_recipe.json')):
        return demo_run(work_dir, demo_config, demo_data_root)
    return ablation_run(work_dir)


def config_run(config: str, checkpoint: str) -> PricedRun:
    """A run given as a config file and a checkpoint (named ``<checkpoint's folder>/<stem>``).

    Raises:
        FileNotFoundError: either file is missing.
    """
    for path, what in ((config, 'config'), (checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no such {what} file')
    name = (f'{osp.basename(osp.dirname(osp.abspath(checkpoint)))}/'
            f'{osp.splitext(osp.basename(checkpoint))[0]}')
    return PricedRun(name, load_config(config), checkpoint, config)


def test_record_path(out_dir: str, run: PricedRun, split: str, interval: int) -> str:
    """The file keeping one test's metrics."""
    return osp.join(out_dir, 'tests', run.name, f'{split}_k{interval}.json')


def checkpoint_metrics(cfg, checkpoint: str, work_dir: str, name: str) -> Dict[str, float]:
    """The metrics of ``checkpoint`` on ``cfg``'s test loop, as ``tools/test.py`` computes
    them (its config checks, mmengine's Runner), keys without their prefix (``act/``).
    ``name`` names the test's logger (several tests run in one process)."""
    from mmengine.runner import Runner

    from ..engine.runner_setup import add_run_checks
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    cfg.launcher = 'none'
    # a test needs no validation loop, and mmengine wants its three parts all or none
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.experiment_name = name  # mmengine adds the time: the logger is this test's own
    check_cfg_types(cfg)
    add_run_checks(cfg)
    metrics = Runner.from_cfg(cfg).test()
    return {key.split('/')[-1]: float(value) for key, value in metrics.items()}


def config_sha256(cfg) -> str:
    """The SHA-256 of a resolved config's settings (what a kept test must match)."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def price_run(run: PricedRun, splits: Sequence[str], intervals: Sequence[int], out_dir: str,
              log=print) -> Dict[str, Dict[int, Dict[str, float]]]:
    """``{split: {k: metrics}}`` of one run, each test reused from its record when the
    checkpoint and the resolved config are the same.

    Raises:
        ValueError: a test's metrics lack a column of :data:`METRICS`, naming the config.
    """
    checkpoint_sha256 = file_sha256(run.checkpoint)
    out: Dict[str, Dict[int, Dict[str, float]]] = {}
    for split in splits:
        if split == 'val' and not run.cfg.get('val_dataloader'):
            raise ValueError(f'{run.source}: its config has no validation loop to test the '
                             'validation videos with; pass --split test')
        for interval in intervals:
            cfg = with_head_interval(ablation.split_config(run.cfg, split), interval)
            stamp = dict(run=run.name, split=split, head_interval=interval,
                         checkpoint=osp.abspath(run.checkpoint),
                         checkpoint_sha256=checkpoint_sha256,
                         config_sha256=config_sha256(cfg))
            record = test_record_path(out_dir, run, split, interval)
            kept = read_json(record)
            if isinstance(kept, dict) and {k: kept.get(k) for k in stamp} == stamp:
                log(f'{run.name} {split} k={interval}: reusing {record}')
                metrics = kept['metrics']
            else:
                log(f'{run.name} {split} k={interval}: testing {run.checkpoint}')
                name = f'{run.name.replace("/", "_")}_{split}_k{interval}'
                metrics = checkpoint_metrics(cfg, run.checkpoint, osp.splitext(record)[0], name)
                missing = [key for _, key in METRICS if key not in metrics]
                if missing:
                    raise ValueError(f'{run.source}: the {split} metrics have no {missing} '
                                     f'(got {sorted(metrics)}); its evaluator needs FrameMAP '
                                     '@0.5 and VideoMAP @0.2 and @0.5')
                dump_json(dict(stamp, metrics=metrics), record)
            out.setdefault(split, {})[interval] = metrics
    return out


def summarize(per_run: Mapping[str, Mapping[int, Mapping[str, float]]],
              intervals: Sequence[int]) -> Dict[int, Dict[str, Dict]]:
    """``{k: {metric: {values, mean, sd, delta_sd}}}`` over the runs of ``per_run``
    (``{run: {k: metrics}}``, one split): the values by run, their mean and sample sd, and
    ``delta_sd`` = (mean - mean at k = 1) / sd at k = 1 (None without a spread)."""
    summary: Dict[int, Dict[str, Dict]] = {}
    for interval in intervals:
        summary[interval] = {}
        for _, key in METRICS:
            values = [per_run[run][interval][key] for run in per_run]
            mean, sd = ablation.mean_sd(values)
            summary[interval][key] = dict(values=values, mean=mean, sd=sd)
    for interval in intervals:
        for _, key in METRICS:
            reference = summary[1][key]
            spread = reference['sd']
            summary[interval][key]['delta_sd'] = (
                (summary[interval][key]['mean'] - reference['mean']) / spread
                if spread else None)
    return summary


def costs_over_one_sd(means: Mapping[int, Mapping[str, float]],
                      reference_sd: Mapping[str, Optional[float]],
                      metrics: Sequence[str] = CHOICE_METRICS) -> Dict[int, List[str]]:
    """For each k, the metrics of ``metrics`` whose mean falls more than one seed-sd below
    k = 1's (an empty list: k is within one sd; doing better than k = 1 costs nothing).

    Args:
        means: ``{k: {metric: mean over the runs}}``, with k = 1.
        reference_sd: ``{metric: sample sd of k = 1 over the runs}``, each known.
    """
    if 1 not in means:
        raise ValueError('the rule compares with k = 1, which was not tested')
    return {k: [m for m in metrics if means[1][m] - means[k][m] > reference_sd[m]]
            for k in sorted(means)}


def choose_interval(means: Mapping[int, Mapping[str, float]],
                    reference_sd: Mapping[str, Optional[float]],
                    metrics: Sequence[str] = CHOICE_METRICS) -> Tuple[Optional[int], str]:
    """The largest k whose mean of every metric of ``metrics`` is at most one seed-sd of k = 1
    (``reference_sd``) below k = 1's mean (:func:`costs_over_one_sd`); k = 1 always qualifies.

    Returns:
        The chosen k (None when an sd is unknown: one run) and a sentence saying why.
    """
    unknown = [m for m in metrics if reference_sd.get(m) is None]
    if unknown:
        return None, (f'no seed-sd of k = 1 for {", ".join(unknown)} (one run): give two runs '
                      'or more')
    over = costs_over_one_sd(means, reference_sd, metrics)
    chosen = max(k for k, failed in over.items() if not failed)
    why = (f'k = {chosen} is the largest k whose {" and ".join(metrics)} are at most one '
           'seed-sd of k = 1 below k = 1')
    failing = [f'k = {k} costs more on {", ".join(failed)}' for k, failed in over.items()
               if failed]
    return chosen, '; '.join([why, *failing])


def _cell(stats: Mapping) -> str:
    mean, sd = 100 * stats['mean'], stats['sd']
    return f'{mean:.1f}' if sd is None else f'{mean:.1f} ± {100 * sd:.1f}'


def _delta(value: Optional[float]) -> str:
    return '–' if value is None else f'{value:+.2f}'


def build_report(results: Mapping[str, Mapping[str, Mapping[int, Mapping[str, float]]]],
                 intervals: Sequence[int], runs: Sequence[PricedRun],
                 provenance: Mapping) -> Tuple[Dict, str]:
    """The JSON and the Markdown of a pricing.

    Args:
        results: ``{run name: {split: {k: metrics}}}`` (:func:`price_run`).
        intervals: the k tested, with 1.
        runs: the runs, in their order.
        provenance: ``command``, ``date``, ``machine`` (``cpu``, ``threads``), ``commit``.

    Returns:
        ``(report, markdown)``: the report has per split the summary (:func:`summarize`) and
        the k the rule picks there, and the chosen default (on :data:`CHOICE_SPLIT` when it
        was tested, else on the first split).
    """
    splits = list(next(iter(results.values())))
    report = dict(provenance, intervals=list(intervals), splits=splits,
                  choice_metrics=list(CHOICE_METRICS),
                  runs=[dict(name=r.name, source=r.source, checkpoint=r.checkpoint)
                        for r in runs],
                  per_split={})
    names = [r.name for r in runs]
    machine = provenance.get('machine', {})
    threads = machine.get('threads')
    lines = [f'Runs ({len(runs)}): {", ".join(names)}. Mean ± sample sd over the runs in %; '
             "Δ: the difference to k = 1 in units of k = 1's sd over the runs.", '',
             f"Command: `{provenance.get('command', '')}`; {provenance.get('date', '')}, "
             f"{machine.get('cpu', '')}, {threads} thread{'' if threads == 1 else 's'}, "
             f"commit {str(provenance.get('commit', ''))[:10]}.", '']
    for split in splits:
        summary = summarize({n: results[n][split] for n in names}, intervals)
        means = {k: {m: summary[k][m]['mean'] for m in CHOICE_METRICS} for k in intervals}
        sds = {m: summary[1][m]['sd'] for m in CHOICE_METRICS}
        chosen, why = choose_interval(means, sds)
        over = None if chosen is None else costs_over_one_sd(means, sds)
        report['per_split'][split] = dict(summary=summary, chosen=chosen, why=why)
        title = 'validation' if split == 'val' else 'test'
        head = ['k'] + [f'{label} | Δ' for label, _ in METRICS] + ['within 1 sd']
        lines += [f'#### {title} videos', '', '| ' + ' | '.join(head) + ' |',
                  '| ---: |' + ' ---: | ---: |' * len(METRICS) + ' --- |']
        for k in intervals:
            cells = [f'{_cell(summary[k][key])} | {_delta(summary[k][key]["delta_sd"])}'
                     for _, key in METRICS]
            within = '–' if over is None else 'no' if over[k] else 'yes'
            lines.append(f'| {k} | ' + ' | '.join(cells) + f' | {within} |')
        lines += ['', f'On the {title} videos: {why}.' if chosen else
                  f'On the {title} videos: no choice ({why}).', '']
    choice_split = CHOICE_SPLIT if CHOICE_SPLIT in splits else splits[0]
    picked = report['per_split'][choice_split]
    report.update(chosen=picked['chosen'], chosen_on=choice_split)
    if picked['chosen']:
        lines.append(f"**Chosen default: k = {picked['chosen']}** (the rule on the "
                     f"{'validation' if choice_split == 'val' else 'test'} videos"
                     + (', which choose; the test videos only report).' if choice_split == 'val'
                        else '; these runs have no validation videos tested).'))
    else:
        lines.append('**No default chosen**: ' + picked['why'] + '.')
    per_run = ['', '#### Every run: frame-mAP@0.5 by k (%)', '',
               '| run | split | ' + ' | '.join(f'k = {k}' for k in intervals) + ' |',
               '| --- | --- |' + ' ---: |' * len(intervals)]
    for name in names:
        for split in splits:
            per_run.append(f'| {name} | {split} | ' + ' | '.join(
                f"{100 * results[name][split][k]['frame_mAP@0.5']:.2f}" for k in intervals)
                + ' |')
    return report, '\n'.join(lines + per_run) + '\n'


def write_report(report: Mapping, markdown: str, out_dir: str) -> Tuple[str, str]:
    """``<out_dir>/head_interval_price.json`` and ``.md``, each written atomically."""
    json_path = osp.join(out_dir, 'head_interval_price.json')
    md_path = osp.join(out_dir, 'head_interval_price.md')
    dump_json(report, json_path)
    atomic_write(markdown.encode('utf-8'), md_path)
    return json_path, md_path
