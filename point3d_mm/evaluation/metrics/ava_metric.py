"""AVA frame-mAP with the official cap of detections per key frame.

The official AVA evaluation (ActivityNet ``get_ava_performance.py``) reads at most 50
detections per key frame: while reading the detection CSV it keeps, per ``video,timestamp``, a
min-heap of the 50 highest-scoring rows (rows of classes outside the label map are dropped
first; a new row replaces the lowest only when its score is strictly higher, so among equal
scores the earlier rows stay). mmaction2's ``ava_eval`` keeps every detection, which rewards
a detector for flooding a frame with low-score boxes. :func:`ava_eval_capped` applies the
official cap, then scores with mmaction2's ``ava_eval`` unchanged, so every other detail (IoU
0.5, VOC AP, frames without ground truth ignored, mean over the classes scored) is mmaction2's.
One of those details differs from the official code: mmaction2 averages over the classes that
have detections in annotated key frames, while the official evaluation also counts a class
with ground truth but no detection, as AP 0.
"""
import csv
import heapq
import os.path as osp
import tempfile
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

from mmaction.evaluation.functional import ava_eval, results2csv
from mmaction.evaluation.functional.ava_utils import make_image_key, read_labelmap
from mmaction.evaluation.metrics import AVAMetric
from mmaction.registry import METRICS
from mmengine.logging import print_log

#: Detections per key frame that the official AVA evaluation keeps.
AVA_MAX_DETS_PER_FRAME = 50


def cap_detections(rows: Sequence[Sequence[str]], max_dets: Optional[int],
                   class_whitelist: Optional[set] = None) -> List[Sequence[str]]:
    """Keep the ``max_dets`` highest-scoring rows per key frame, as the official reader does.

    Args:
        rows: AVA detection CSV rows ``video, timestamp, x1, y1, x2, y2, action_id, score``
            (strings).
        max_dets: Rows kept per ``video,timestamp``; None or < 1 keeps all, in input order.
        class_whitelist: If given, rows of other action ids are dropped first.

    Returns:
        The kept rows. When capping, per key frame (in order of first appearance) in the
        order the official reader hands them on: descending score, ties in heap order.
    """
    rows = [row for row in rows if not class_whitelist or int(row[6]) in class_whitelist]
    if not max_dets or max_dets < 1:
        return rows
    heaps: Dict[str, list] = defaultdict(list)
    for row in rows:
        # The official heap entry (score, action_id, y1, x1, y2, x2): among equal scores
        # the smallest tuple is evicted first; only a strictly higher score evicts.
        x1, y1, x2, y2 = map(float, row[2:6])
        entry = (float(row[7]), int(row[6]), y1, x1, y2, x2, list(row))
        heap = heaps[make_image_key(row[0], row[1])]
        if len(heap) < max_dets:
            heapq.heappush(heap, entry)
        elif entry[0] > heap[0][0]:
            heapq.heapreplace(heap, entry)
    return [entry[-1] for heap in heaps.values()
            for entry in sorted(heap, key=lambda e: -e[0])]


def ava_eval_capped(result_file: str, label_file: str, ann_file: str,
                    exclude_file: Optional[str] = None,
                    max_dets_per_frame: Optional[int] = AVA_MAX_DETS_PER_FRAME,
                    custom_classes: Optional[List[int]] = None,
                    verbose: bool = False) -> Dict[str, float]:
    """AVA mAP of a detection CSV with at most ``max_dets_per_frame`` rows per key frame.

    Args:
        result_file: Detections, AVA CSV rows ``video, timestamp, x1, y1, x2, y2, action_id,
            score`` (boxes normalised to [0, 1]).
        label_file: The action label map (``*.pbtxt``-like ``item { name: id: }`` list).
        ann_file: Ground-truth CSV.
        exclude_file: Excluded ``video,timestamp`` CSV, or None.
        max_dets_per_frame: The cap; 50 is the official evaluation, None keeps all rows
            (mmaction2's ``ava_eval``).
        custom_classes: As mmaction2's ``ava_eval``: ``[0] + action ids`` to score.
        verbose: mmaction2's timing messages.

    Returns:
        mmaction2's ``ava_eval`` results: ``overall``, ``person_movement``,
        ``object_manipulation``, ``person_interaction`` mAP.
    """
    with open(label_file) as f:
        _, whitelist = read_labelmap(f)
    if custom_classes is not None:
        whitelist = set(custom_classes[1:])
    with open(result_file, newline='') as f:
        rows = [row for row in csv.reader(f) if row]
    bad = [row for row in rows if len(row) != 8]
    if bad:
        raise ValueError(f'{result_file}: detection rows need 8 columns (video, timestamp, '
                         f'x1, y1, x2, y2, action_id, score), got {bad[0]}')
    kept = cap_detections(rows, max_dets_per_frame, whitelist)
    with tempfile.TemporaryDirectory() as tmp:
        capped_file = osp.join(tmp, 'detections.csv')
        with open(capped_file, 'w', newline='') as f:
            csv.writer(f).writerows(kept)
        return ava_eval(capped_file, 'mAP', label_file, ann_file, exclude_file,
                        verbose=verbose, custom_classes=custom_classes)


@METRICS.register_module()
class AVAMetricCapped(AVAMetric):
    """mmaction2's ``AVAMetric`` with the official cap of detections per key frame.

    Configs use it in place of ``AVAMetric``::

        val_evaluator = dict(type='AVAMetricCapped', ann_file=..., label_file=...,
                             exclude_file=..., max_dets_per_frame=50)

    Args:
        max_dets_per_frame: Detections kept per key frame (50, the official AVA evaluation);
            None keeps all, as ``AVAMetric`` does.
        *args, **kwargs: ``AVAMetric``'s arguments (``ann_file``, ``exclude_file``,
            ``label_file``, ``action_thr``, ``num_classes``, ``custom_classes``, ...).
    """

    def __init__(self, *args, max_dets_per_frame: Optional[int] = AVA_MAX_DETS_PER_FRAME,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_dets_per_frame = max_dets_per_frame

    def compute_metrics(self, results: list) -> dict:
        """mAP of the collected detections (``AVAMetric.compute_metrics`` with the cap)."""
        cap = (f'at most {self.max_dets_per_frame} detections per key frame (official)'
               if self.max_dets_per_frame else 'all detections (mmaction2 default)')
        print_log(f'AVA frame-mAP@0.5, {cap}', logger='current')
        with tempfile.TemporaryDirectory() as tmp:
            result_file = osp.join(tmp, 'ava_detections.csv')
            results2csv(results, result_file, self.custom_classes)
            return ava_eval_capped(result_file, self.label_file, self.ann_file,
                                   self.exclude_file, self.max_dets_per_frame,
                                   self.custom_classes)
