"""One set of detections scored under every protocol, side by side (pure numpy).

Published frame-mAPs and video-mAPs come from different evaluators (``act``, ``voc``,
``yowov3``: :mod:`.action_ap`), on all frames or annotated ones, with tubes linked by
different linkers. :func:`compare_protocols` scores one detections file under each, so the
spread between them is visible at a glance; :func:`markdown_table` lays the rows out.
"""
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .action_ap import FRAME_PROTOCOLS, FRAME_SETS, VIDEO_THRS, frame_ap, video_ap
from .overlaps import PROTOCOLS, Tube

VIDEO_COLUMNS = tuple(f'{t:g}' for t in VIDEO_THRS) + ('0.5:0.95',)


def compare_protocols(gt: Mapping, detections: np.ndarray, videos: Sequence[str],
                      link: Optional[Callable[[np.ndarray, Sequence[str]], Dict]] = None,
                      tubes: Optional[Mapping[str, Sequence[Tube]]] = None,
                      iou_thr: float = 0.5, name: str = '') -> List[Dict]:
    """Frame-mAP and video-mAP of one detections set under every protocol.

    Args:
        gt: ACT ground truth.
        detections: (D, 8) rows indexing ``videos``.
        videos: The test split.
        link: ``link(detections, videos) -> {video: [Tube]}`` (e.g. a ``TubeLinker``'s
            ``link_videos``); ``None`` for no video-mAP of linked tubes.
        tubes: The file's own tubes, scored in rows of their own.
        iou_thr: Frame-mAP IoU threshold.
        name: The file, repeated in every row.

    Returns:
        One dict per (protocol, tubes) row: ``file``, ``protocol``, ``tubes`` (``'linked'``,
        ``'file'``, or ``None`` on a row without video-mAP), ``frame_mAP`` {``'all'``,
        ``'annotated'``: mAP} (``None`` on rows of the file's tubes) and ``video_mAP``
        {threshold name: mAP} (``None`` where the protocol has none), mAPs as fractions,
        ``None`` where no class is scored.
    """
    linked = link(detections, videos) if link is not None else None
    rows = []
    for protocol in FRAME_PROTOCOLS:
        frame = {frames: _plain(frame_ap(gt, detections, videos, iou_thr, protocol,
                                         frames)['mAP'])
                 for frames in FRAME_SETS}
        video = None
        if linked is not None and protocol in PROTOCOLS:
            video = _video_maps(gt, linked, videos, protocol)
        rows.append(dict(file=name, protocol=protocol, tubes=None if video is None else 'linked',
                         frame_mAP=frame, video_mAP=video))
    for protocol in PROTOCOLS if tubes is not None else ():
        rows.append(dict(file=name, protocol=protocol, tubes='file', frame_mAP=None,
                         video_mAP=_video_maps(gt, tubes, videos, protocol)))
    return rows


def _video_maps(gt: Mapping, tubes: Mapping, videos: Sequence[str], protocol: str) -> Dict:
    result = video_ap(gt, tubes, videos, VIDEO_THRS, protocol)['mAP']
    return {name: _plain(value) for name, value in result.items()}


def _plain(value: float) -> Optional[float]:
    return None if np.isnan(value) else float(value)


def markdown_table(rows: Sequence[Dict], iou_thr: float = 0.5) -> str:
    """The rows of :func:`compare_protocols` as a Markdown table, mAPs in %."""
    head = (['file', 'protocol', 'tubes', f'frame-mAP@{iou_thr:g} all frames', 'annotated']
            + [f'video-mAP@{c}' for c in VIDEO_COLUMNS])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    for row in rows:
        frame = row['frame_mAP'] or {}
        video = row['video_mAP'] or {}
        cells = [row['file'], row['protocol'], row['tubes'] or '–']
        cells += [_percent(frame.get(f)) for f in FRAME_SETS]
        cells += [_percent(video.get(c)) for c in VIDEO_COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _percent(value: Optional[float]) -> str:
    return '–' if value is None else f'{100 * value:.2f}'
