"""frame-mAP and video-mAP metrics for mmengine evaluators (ACT ground-truth datasets), and
the tube linker a config links with."""
import json
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from mmaction.registry import METRICS, TASK_UTILS
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmengine.structures import BaseDataElement

from ...structures.act_format import load_act
from ...utils.fileio import dump_json
from ..functional import (
    FRAME_PROTOCOLS,
    FRAME_SETS,
    PROTOCOLS,
    VIDEO_AVERAGE_THRS,
    VIDEO_THRS,
    TubeLinker,
    TubeLinkerBase,
    ViterbiTubeLinker,
    check_iou_thresholds,
    class_agnostic,
    clip_rows,
    frame_ap,
    load_tubes,
    rows_from_clips,
    save_frame_detections,
    save_tubes,
    split_videos,
    video_ap,
)

# The linker is pure numpy (evaluation.functional); registering it here lets configs name it.
TASK_UTILS.register_module(module=TubeLinker)
TASK_UTILS.register_module(module=ViterbiTubeLinker)


def linker_types() -> Dict[str, type]:
    """{name: class} of every tube linker registered in ``TASK_UTILS``."""
    return {name: cls for name, cls in TASK_UTILS.module_dict.items()
            if isinstance(cls, type) and issubclass(cls, TubeLinkerBase)}


def build_linker(config: Union[Mapping, TubeLinkerBase]) -> TubeLinkerBase:
    """The tube linker of a config (``dict(type='TubeLinker', max_gap=3)``), built by the
    registry; a built linker (anything with ``link_videos``) is returned as it is.

    Raises:
        ValueError: one line: an unknown type (listing the registered linkers), or every
            unknown setting (listing the valid names) and every setting of the wrong type
            or out of range (:meth:`TubeLinkerBase.check_settings`).
    """
    if isinstance(config, TubeLinkerBase) or hasattr(config, 'link_videos'):
        return config
    if not isinstance(config, Mapping):
        raise ValueError('a linker config is a dict with a type, e.g. '
                         f"dict(type='TubeLinker'); got {type(config).__name__}")
    settings = dict(config)
    kind = settings.pop('type', None)
    linkers = linker_types()
    cls = kind if isinstance(kind, type) and issubclass(kind, TubeLinkerBase) else \
        linkers.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f'unknown linker type {kind!r}; registered linkers: '
                         f'{", ".join(sorted(linkers))}')
    cls.check_settings(settings)
    return TASK_UTILS.build(dict(settings, type=cls))


def linker_config(cfg: Mapping) -> dict:
    """The linker config a model's config links tubes with: the ``linker`` of its
    ``VideoMAP`` test evaluator (else its val evaluator), or TubeLinker's defaults.

    The evaluator is the one place a config states how tubes are linked, so the test loop,
    inference on videos, the demo, the visualisation hook and the evaluation tools link
    alike.
    """
    for key in ('test_evaluator', 'val_evaluator'):
        evaluators = cfg.get(key) or []
        for metric in [evaluators] if isinstance(evaluators, Mapping) else evaluators:
            if metric.get('type') == 'VideoMAP':
                return dict(metric.get('linker') or dict(type='TubeLinker'))
    return dict(type='TubeLinker')


def linker_from_options(config_file: Optional[str] = None,
                        overrides: Optional[str] = None) -> Tuple[dict, TubeLinkerBase]:
    """The linker of the tools' ``--config`` and ``--linker`` options: ``config_file``'s
    linker (:func:`linker_config`; TubeLinker's defaults without one) with the settings of
    the JSON object ``overrides`` over it.

    Returns:
        The merged config and the linker built from it (:func:`build_linker`).

    Raises:
        ValueError: ``overrides`` is not a JSON object, or the config is wrong (one line).
    """
    config = linker_config(Config.fromfile(config_file)) if config_file else dict(
        type='TubeLinker')
    if overrides:
        try:
            given = json.loads(overrides)
        except ValueError as error:
            raise ValueError(f'--linker {overrides!r} is not JSON: {error}') from None
        if not isinstance(given, dict):
            raise ValueError(f'--linker {overrides!r} is not a JSON object of settings, e.g. '
                             '\'{"type": "ViterbiTubeLinker", "max_gap": 3}\'')
        config.update(given)
    return config, build_linker(config)


class _ActionDetectionMetric(BaseMetric):
    """Collect per-frame detections of the test clips of an ACT-format dataset.

    ``process`` keeps one entry per clip (its video name and (M, 7) rows ``frame, label,
    score, x1, y1, x2, y2``), so mmengine's gathering and its removal of the distributed
    sampler's padding work unchanged. When several clips report the same frame, the first
    clip's detections of that frame are kept.

    Args:
        ann_file: ACT ground-truth pickle (``labels``, ``gttubes``, ``test_videos``, ...).
        split: 1-based index into ``test_videos``.
        protocol: ``'act'`` or ``'voc'`` (and ``'yowov3'`` for :class:`FrameMAP`).
        dump_detections: If set, the frame detections are written there (``.npz``,
            ``.pkl`` or ``.csv``) for ``tools/analysis/eval_detections.py``.
        results_file: Where the per-class APs go as JSON (the table the log shows, with the
            protocol, split and thresholds); by default ``<prefix>_<metric>.json`` beside the
            run's log file, none when there is no log file.
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering across processes.
        prefix: Prefix of the metric names; defaults to the protocol.
    """

    protocols = PROTOCOLS

    def __init__(self, ann_file: str, split: int = 1, protocol: str = 'act',
                 dump_detections: Optional[str] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, results_file: Optional[str] = None) -> None:
        if protocol not in self.protocols:
            raise ValueError(f'{type(self).__name__}: protocol must be one of '
                             f'{self.protocols}, got {protocol!r}')
        super().__init__(collect_device=collect_device, prefix=prefix or protocol)
        self.ann_file = ann_file
        self.protocol = protocol
        self.split = split
        self.dump_detections = dump_detections
        self.results_file = results_file
        self.gt = load_act(ann_file, required=('labels', 'gttubes', 'test_videos'))
        self.videos = split_videos(self.gt, split, source=ann_file)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep the detections of each clip as ``{'video': str, 'rows': (M, 7) array}``."""
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            pred = sample['pred_instances']
            if isinstance(pred, BaseDataElement):
                pred = pred.to_dict()
            rows = clip_rows(pred, sample['frame_ids'], sample['key_frame_index'])
            self.results.append(dict(video=str(sample['video']), rows=rows))

    def _detections(self, results: List[dict]) -> np.ndarray:
        """(D, 8) detections of the test videos, one clip's worth per frame."""
        index = {video: i for i, video in enumerate(self.videos)}
        unknown = sorted({r['video'] for r in results} - set(index))
        if unknown:
            print_log(f'{len(unknown)} predicted videos are not in split {self.split} of '
                      f'{self.ann_file} and are ignored, e.g. {unknown[:3]}',
                      logger='current', level=30)
        predicted = {r['video'] for r in results} & set(index)
        if len(predicted) < len(self.videos):
            print_log(f'only {len(predicted)} of the {len(self.videos)} test videos of split '
                      f'{self.split} of {self.ann_file} were predicted (a dataset limited '
                      f'with indices?); the other {len(self.videos) - len(predicted)} are '
                      'scored as missed (their ground truth counts, without detections), '
                      'which lowers the mAP', logger='current', level=30)
        return rows_from_clips(results, self.videos)

    def _report(self, name: str, setting: str, result: dict,
                columns: Dict[str, np.ndarray]) -> None:
        """Log the per-class table and save it as JSON (see ``results_file``)."""
        table = ap_table(name, setting, result['labels'], columns, result['num_gt'],
                         result['num_det'])
        table.update(protocol=self.protocol, split=self.split, ann_file=self.ann_file)
        print_log(format_ap_table(f'{name} ({setting})', result['labels'], columns,
                                  result['num_gt'], result['num_det']), logger='current')
        path = self.results_file
        log_file = MMLogger.get_current_instance().log_file
        if path is None and log_file:
            kind = name.split('@')[0].lower().replace('-', '_')
            path = osp.join(osp.dirname(log_file), f'{self.prefix}_{kind}.json')
        if path:
            dump_json(table, path)

    def _dump(self, detections: np.ndarray) -> None:
        if self.dump_detections:
            save_frame_detections(self.dump_detections, detections, self.videos)
            print_log(f'frame detections written to {self.dump_detections}', logger='current')


@METRICS.register_module()
class FrameMAP(_ActionDetectionMetric):
    protocols = FRAME_PROTOCOLS

    """frame-mAP: per-class AP of per-frame detections at one IoU threshold.

    Reports ``<protocol>/frame_mAP@<iou_thr>`` when every frame of the test videos is scored
    (``frames='all'``, ACT and MultiSports) and ``<protocol>/annotated_frame_mAP@<iou_thr>``
    when only frames with a ground-truth box are (``frames='annotated'``, YOWO), and logs
    the per-class table. Other arguments: see ``_ActionDetectionMetric``.

    Args:
        iou_thr: IoU threshold of a match.
        protocol: ``'act'``, ``'voc'`` or ``'yowov3'``
            (:mod:`~point3d_mm.evaluation.functional.action_ap`).
        frames: ``'all'`` or ``'annotated'``.
        class_agnostic: Score detection alone (:func:`class_agnostic`): every class merged
            into ``'actor'``; the metric is named ``agnostic_frame_mAP@<iou_thr>``.
    """

    def __init__(self, ann_file: str, split: int = 1, iou_thr: float = 0.5,
                 protocol: str = 'act', frames: str = 'all', class_agnostic: bool = False,
                 dump_detections: Optional[str] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, results_file: Optional[str] = None) -> None:
        if frames not in FRAME_SETS:
            raise ValueError(f'frames must be one of {FRAME_SETS}, got {frames!r}')
        super().__init__(ann_file, split, protocol, dump_detections, collect_device, prefix,
                         results_file)
        check_iou_thresholds('iou_thr', [iou_thr])
        self.iou_thr = iou_thr
        self.frames = frames
        self.class_agnostic = class_agnostic

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        detections = self._detections(results)
        self._dump(detections)
        gt = self.gt
        setting = (f'protocol={self.protocol}, frames={self.frames}, split={self.split}, '
                   f'{len(self.videos)} videos, {len(detections)} detections')
        if self.class_agnostic:
            gt, detections = class_agnostic(gt, detections)
            setting += ', class-agnostic'
        result = frame_ap(gt, detections, self.videos, self.iou_thr, self.protocol,
                          self.frames)
        name = f'frame_mAP@{self.iou_thr:g}'
        self._report(f'frame-AP@{self.iou_thr:g}', setting, result, {'AP': result['ap']})
        prefix = ('annotated_' if self.frames == 'annotated' else '') + (
            'agnostic_' if self.class_agnostic else '')
        return {prefix + name: result['mAP']}


@METRICS.register_module()
class VideoMAP(_ActionDetectionMetric):
    """video-mAP: link the frame detections into tubes and score them at several IoUs.

    Reports ``<protocol>/video_mAP@<thr>`` for each of ``iou_thrs`` and
    ``<protocol>/video_mAP@0.5:0.95`` (the mean over 0.5, 0.55, ..., 0.95), and logs the
    per-class table. Other arguments: see ``_ActionDetectionMetric``.

    Args:
        iou_thrs: Spatio-temporal IoU thresholds.
        linker: A tube linker or its config (:func:`build_linker`).
        dump_tubes: If set, the linked tubes are written there (``.pkl``).
        tubes_file: Score the tubes of this file (``.pkl``, as ``dump_tubes`` writes) instead
            of linking the frame detections.
    """

    def __init__(self, ann_file: str, split: int = 1,
                 iou_thrs: Sequence[float] = VIDEO_THRS, protocol: str = 'act',
                 linker: Union[dict, TubeLinkerBase] = dict(type='TubeLinker'),
                 dump_detections: Optional[str] = None, dump_tubes: Optional[str] = None,
                 tubes_file: Optional[str] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, results_file: Optional[str] = None) -> None:
        super().__init__(ann_file, split, protocol, dump_detections, collect_device, prefix,
                         results_file)
        check_iou_thresholds('iou_thrs', iou_thrs)
        self.iou_thrs = tuple(iou_thrs)
        self.linker = build_linker(linker)
        self.dump_tubes = dump_tubes
        self.tubes_file = tubes_file

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        detections = self._detections(results)
        self._dump(detections)
        if self.tubes_file:
            tubes, source = load_tubes(self.tubes_file), self.tubes_file
        else:
            tubes = self.linker.link_videos(detections, self.videos)
            source = 'tubes linked from all frames'
        if self.dump_tubes:
            save_tubes(self.dump_tubes, tubes)
            print_log(f'tubes written to {self.dump_tubes}', logger='current')
        result = video_ap(self.gt, tubes, self.videos, self.iou_thrs, self.protocol,
                          VIDEO_AVERAGE_THRS)
        setting = (f'protocol={self.protocol}, {source}, '
                   f'split={self.split}, {len(self.videos)} videos, '
                   f'{sum(map(len, tubes.values()))} tubes')
        self._report('video-AP', setting, result,
                     {f'AP@{k}': v for k, v in result['ap'].items()})
        return {f'video_mAP@{k}': v for k, v in result['mAP'].items()}


def ap_table(name: str, setting: str, labels: Sequence[str], columns: Dict[str, np.ndarray],
             num_gt: np.ndarray, num_det: np.ndarray) -> dict:
    """The per-class APs as data: what :func:`format_ap_table` prints, and what
    ``tools/analysis/plot_results.py`` reads.

    Returns:
        dict: ``name``, ``setting``, ``columns``, ``classes``, ``ap`` ({column: [AP or nan per
        class]}), ``num_gt``, ``num_det`` and ``mean`` ({column: mean over scored classes}).
    """
    return dict(name=name, setting=setting, columns=list(columns),
                classes=[str(label) for label in labels],
                ap={c: np.asarray(v, np.float64).tolist() for c, v in columns.items()},
                num_gt=np.asarray(num_gt).astype(int).tolist(),
                num_det=np.asarray(num_det).astype(int).tolist(),
                mean={c: _mean_ap(v) for c, v in columns.items()})


def _mean_ap(values: np.ndarray) -> float:
    values = np.asarray(values, np.float64)
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else float('nan')


def format_ap_table(title: str, labels: Sequence[str], columns: Dict[str, np.ndarray],
                    num_gt: np.ndarray, num_det: np.ndarray) -> str:
    """A text table of per-class APs (in %) with a mean row; ``-`` marks unscored classes.

    Args:
        title: First line, naming the protocol and the frames scored.
        labels: C class names.
        columns: {column name: (C,) APs in [0, 1], nan for unscored classes}.
        num_gt: (C,) ground-truth counts.
        num_det: (C,) detection counts.

    Returns:
        The table.
    """
    width = max([len('mean')] + [len(str(label)) for label in labels])
    names = list(columns)
    lines = [title, f'{"class":<{width}} ' + ' '.join(f'{n:>9}' for n in names)
             + f' {"#gt":>7} {"#det":>8}']
    for c, label in enumerate(labels):
        cells = ' '.join(_percent(columns[n][c]) for n in names)
        lines.append(f'{label:<{width}} {cells} {num_gt[c]:>7d} {num_det[c]:>8d}')
    means = ' '.join(_percent(_mean_ap(columns[n])) for n in names)
    lines.append(f'{"mean":<{width}} {means}')
    return '\n'.join(lines)


def _percent(value: float) -> str:
    return f'{"-":>9}' if np.isnan(value) else f'{100 * value:9.2f}'


