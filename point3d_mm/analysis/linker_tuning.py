"""Choosing tube-linking settings on validation detections (``tools/analysis/tune_linker.py``).

Video-mAP depends on the linker's thresholds as much as on the detector, so they are chosen
like any other setting: on validation videos, never on the test videos. A declared search
space per linker (:data:`SPACES`: the thresholds that decide tubes: motion window, link IoU,
score weighting, gaps, trimming), a seeded draw of settings from it (:func:`candidates`; each
linker's defaults always among them), each scored by the registered ``VideoMAP`` metric as a
test run scores (:func:`score_linker`), ranked by the mean of video-mAP @0.2, @0.5 and
@0.5:0.95 (:data:`RANK_KEYS`; ties keep the order of :func:`candidates`, defaults first).
"""
import itertools
import random
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

#: The settings searched, per linker: every value is one the linker accepts.
SPACES: Dict[str, Dict[str, Tuple]] = {
    'TubeLinker': dict(
        motion_window=(1, 2, 3, 5, 10),
        link_iou_thr=(0.1, 0.2, 0.3, 0.5),
        iou_weight=(0.5, 1.0, 2.0),
        max_gap=(2, 5, 10),
        trim_score=(0.0, 0.05, 0.1, 0.2),
        switch_penalty=(0.5, 1.0, 2.0),
        min_length=(1, 3, 5)),
    'ViterbiTubeLinker': dict(
        link_iou_thr=(0.1, 0.2, 0.3, 0.5),
        iou_weight=(0.5, 1.0, 2.0),
        score_product_weight=(0.0, 0.5, 1.0),
        max_gap=(2, 5, 10),
        trim_score=(0.0, 0.05, 0.1, 0.2),
        switch_penalty=(0.5, 1.0, 2.0),
        min_length=(1, 3, 5)),
}
#: The metrics whose mean ranks the settings (keys of ``VideoMAP`` without the protocol).
RANK_KEYS = ('video_mAP@0.2', 'video_mAP@0.5', 'video_mAP@0.5:0.95')


def candidates(spaces: Mapping[str, Mapping[str, Sequence]], trials: int,
               seed: int = 0) -> List[Dict]:
    """The settings tried: per linker its defaults, then ``trials`` distinct draws from its
    space (all of it when smaller), with ``random.Random(seed)``; linkers in ``spaces``'s
    order.

    Returns:
        Linker configs (``dict(type=..., **settings)``), each once.
    """
    if trials < 0:
        raise ValueError(f'trials must be >= 0, got {trials}')
    rng = random.Random(seed)
    out = []
    for linker, space in spaces.items():
        names = sorted(space)
        grid = list(itertools.product(*(space[name] for name in names)))
        drawn = grid if len(grid) <= trials else rng.sample(grid, trials)
        out.append(dict(type=linker))
        out += [dict(type=linker, **dict(zip(names, values))) for values in drawn]
    return out


def score_linker(gt_file: str, split: int, samples: List[Dict], linker: Dict,
                 protocol: str = 'act') -> Dict[str, float]:
    """Video-mAP of ``samples`` (``rows_to_samples`` of the detections) linked by ``linker``,
    through the registered ``VideoMAP`` metric; keys without the protocol prefix, plus
    ``mean``, the mean of :data:`RANK_KEYS`."""
    from mmengine.evaluator import Evaluator
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    evaluator = Evaluator([dict(type='VideoMAP', ann_file=gt_file, split=split,
                                iou_thrs=(0.2, 0.5), protocol=protocol, linker=linker)])
    metrics = evaluator.offline_evaluate(samples, chunk_size=max(1, len(samples)))
    metrics = {key.split('/')[-1]: float(value) for key, value in metrics.items()}
    metrics['mean'] = sum(metrics[key] for key in RANK_KEYS) / len(RANK_KEYS)
    return metrics


def score_on_sets(gt_file: str, split: int, sample_sets: Sequence[List[Dict]], linker: Dict,
                  protocol: str = 'act') -> Dict:
    """:func:`score_linker` on each detection set (several models' detections of the same
    videos: seeds, checkpoints), each key averaged over the sets; with more than one set also
    ``per_set_mean``, each set's ``mean``. One set gives :func:`score_linker`'s metrics."""
    per_set = [score_linker(gt_file, split, samples, linker, protocol)
               for samples in sample_sets]
    if len(per_set) == 1:
        return per_set[0]
    metrics = {key: sum(m[key] for m in per_set) / len(per_set) for key in per_set[0]}
    metrics['per_set_mean'] = [m['mean'] for m in per_set]
    return metrics


def tune(gt_file: str, split: int, sample_sets: Sequence[List[Dict]], settings: Sequence[Dict],
         protocol: str = 'act', progress=None) -> List[Tuple[Dict, Dict]]:
    """Score every setting on every detection set (:func:`score_on_sets`); return
    ``(linker, metrics)`` best first by the mean over the sets (stable: ties keep the order of
    ``settings``). Several sets choose one setting for all of them, which a single set of a
    few validation videos can over-fit."""
    scored = []
    for index, linker in enumerate(settings):
        scored.append((linker, score_on_sets(gt_file, split, sample_sets, linker, protocol)))
        if progress is not None:
            progress(index + 1, len(settings), linker, scored[-1][1])
    return sorted(scored, key=lambda pair: -pair[1]['mean'])


def linker_snippet(linker: Dict, comment: str) -> str:
    """A config file holding ``linker = dict(...)``, for a ``VideoMAP`` evaluator's
    ``linker`` (``Config.fromfile(path).linker``)."""
    arguments = ', '.join(f'{key}={value!r}' for key, value in linker.items())
    lines = [f'# {line}' for line in comment.splitlines()]
    return '\n'.join(lines + [f'linker = dict({arguments})', ''])


def format_table(ranked: Sequence[Tuple[Dict, Dict[str, float]]], top: int,
                 baseline: Optional[Tuple[Dict, Dict[str, float]]] = None) -> str:
    """The ``top`` settings (and ``baseline``) as a Markdown table of their scores in %."""
    head = ['rank', 'linker', *RANK_KEYS, 'mean']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' ---: |' + ' --- |' + ' ---: |' * 4]
    rows = [(str(i + 1), pair) for i, pair in enumerate(ranked[:top])]
    if baseline is not None:
        rows.append(('given', baseline))
    for rank, (linker, metrics) in rows:
        settings = ', '.join(f'{k}={v}' for k, v in linker.items() if k != 'type')
        cells = [f'{100 * metrics[key]:.2f}' for key in (*RANK_KEYS, 'mean')]
        lines.append(f'| {rank} | {linker["type"]}({settings}) | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
