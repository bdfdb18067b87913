"""Evaluation speed against mmaction2 (``tools/analysis/benchmark_eval.py``): tube linking
(:func:`time_linking`, for each of :func:`linkers`), frame-AP (:func:`time_frame_ap`) and
video-AP (:func:`time_video_ap`) of ``point3d_mm.evaluation`` beside mmaction2's
``multisports_utils`` (:func:`mmaction2_reference`), on a synthetic UCF101-24-sized set
(:func:`synthetic_eval_set`).
"""
import functools
import types
from collections import defaultdict
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from ..evaluation.functional import VIDEO_AVERAGE_THRS, VIDEO_THRS, frame_ap, video_ap
from ..utils.benchmark import median_time


def synthetic_eval_set(num_videos: int, num_detections: int, num_classes: int = 24,
                       seed: int = 0) -> Tuple[dict, np.ndarray, Dict[str, list]]:
    """An ACT ground truth, (D, 8) frame detections and tubes shaped like UCF101-24's.

    Each video has one class, 1-2 actors whose tubes cover part of its 100-250 frames;
    detections are jittered true boxes (90 % recall) plus wrong-class and random false
    positives up to ``num_detections``; tubes are jittered, trimmed copies of the true tubes
    plus false ones.
    """
    rng = np.random.default_rng(seed)
    videos = [f'class{v % num_classes:02d}/video_{v:05d}' for v in range(num_videos)]
    gttubes, nframes, tubes, true_rows = {}, {}, {}, []
    for iv, video in enumerate(videos):
        label, n = iv % num_classes, int(rng.integers(100, 251))
        nframes[video], gttubes[video], tubes[video] = n, {label: []}, []
        for _ in range(rng.integers(1, 3)):
            first = int(rng.integers(1, n // 3))
            last = int(rng.integers(2 * n // 3, n + 1))
            frames = np.arange(first, last + 1)
            xy = rng.uniform(0, 200, 2) + np.outer(frames - first, rng.normal(0, 0.5, 2))
            tube = np.column_stack([frames, xy, xy + rng.uniform(30, 100, 2)]).astype(np.float32)
            gttubes[video][label].append(tube)
            seen = tube[rng.random(len(tube)) < 0.9]
            true_rows.append(np.column_stack([np.full(len(seen), iv), seen[:, 0],
                                              np.full(len(seen), label), rng.random(len(seen)),
                                              seen[:, 1:] + rng.normal(0, 4, (len(seen), 4))]))
            for _ in range(3):
                lo = int(rng.integers(0, len(tube) // 4))
                hi = int(rng.integers(3 * len(tube) // 4, len(tube)))
                noisy = tube[lo:hi + 1].astype(np.float64)
                noisy[:, 1:] += rng.normal(0, 5, (len(noisy), 4))
                tubes[video].append((int(rng.choice([label, rng.integers(num_classes)])),
                                     float(rng.random()), noisy))
        for _ in range(4):
            first = int(rng.integers(1, n - 20))
            frames = np.arange(first, first + 20)
            xy = rng.uniform(0, 250, 2)
            tubes[video].append((int(rng.integers(num_classes)), float(rng.random()),
                                 np.column_stack([frames, np.tile([*xy, *xy + 50], (20, 1))])))
    dets = np.concatenate(true_rows)
    extra = max(num_detections - len(dets), 0)
    # Half of the false positives: a true box with the wrong class; half: random boxes.
    source = dets[rng.integers(0, len(dets), extra // 2)].copy()
    source[:, 2] = rng.integers(0, num_classes, len(source))
    source[:, 3] = rng.random(len(source)) * 0.5
    video_of = rng.integers(0, num_videos, extra - extra // 2)
    frame_of = rng.integers(1, np.array([nframes[videos[v]] for v in video_of]) + 1)
    xy = rng.uniform(0, 250, (len(video_of), 2))
    random_rows = np.column_stack([video_of, frame_of, rng.integers(0, num_classes, len(xy)),
                                   rng.random(len(xy)) * 0.5, xy, xy + 60])
    dets = np.concatenate([dets, source, random_rows])
    gt = dict(labels=[f'class{c:02d}' for c in range(num_classes)], gttubes=gttubes,
              nframes=nframes, resolution={v: (240, 320) for v in videos},
              train_videos=[[]], test_videos=[videos])
    return gt, dets, tubes


def eval_subset(gt: dict, dets: np.ndarray, tubes: Optional[Dict[str, list]],
                num_videos: int):
    """The ground truth, detections and tubes (if given) of the first ``num_videos``."""
    videos = gt['test_videos'][0][:num_videos]
    return (dict(gt, test_videos=[videos]), dets[dets[:, 0] < num_videos],
            {v: tubes[v] for v in videos} if tubes is not None else None)


def mmaction2_reference() -> types.SimpleNamespace:
    """mmaction2 1.2.0's ``multisports_utils`` as the peer: its ``frameAP`` and ``videoAP``,
    and a ``link_tubes`` with its linking defect fixed and its progress bar silenced (it
    would print over the report). mmaction2 itself is left as it is.

    Its ``Dataset.get_vid_dets`` gives every detection the score of the last row of the
    whole input (``frm_det[3]`` for ``frm_dets[3]``, an upstream bug under any numpy);
    :class:`ScoredDataset` reads each row's own score and is otherwise unchanged. (Its numpy
    >= 2.3 defect in ``iou3dt_voc`` is fixed for every user by
    ``utils.compat.patch_mmaction_numpy2``.)
    """
    from mmaction.evaluation.functional import multisports_utils as ms

    class ScoredDataset(ms.Dataset):
        def get_vid_dets(self):
            self.vid_frm_det = defaultdict(list)
            for frm_det in self.frm_alldets:
                self.vid_frm_det[self.video_list[int(frm_det[0])]].append(frm_det)
            self.vid_det = dict()
            for vid_name, vid_frm_dets in self.vid_frm_det.items():
                self.vid_det[vid_name] = {
                    frm_idx: {label_idx: np.empty(shape=(0, 5))
                              for label_idx in range(len(self.labels))}
                    for frm_idx in range(1, self.nframes[vid_name] + 1)}
                for frm_dets in vid_frm_dets:
                    frm_idx, label_idx = int(frm_dets[1]), int(frm_dets[2])
                    det = np.array([*frm_dets[-4:], frm_dets[3]])[None, :]
                    self.vid_det[vid_name][frm_idx][label_idx] = np.concatenate(
                        [self.vid_det[vid_name][frm_idx][label_idx], det])
            return self.vid_det

    # link_tubes looks Dataset and track up in its module's globals: this copy of the
    # function looks them up in globals of its own, so nothing of mmaction2 is replaced.
    own_globals = dict(vars(ms), Dataset=ScoredDataset,
                       track=lambda sequence, description='': sequence)
    link_tubes = types.FunctionType(ms.link_tubes.__code__, own_globals, 'link_tubes',
                                    ms.link_tubes.__defaults__)
    return types.SimpleNamespace(link_tubes=link_tubes, frameAP=ms.frameAP,
                                 videoAP=ms.videoAP)


def linkers() -> Dict[str, Callable[[], object]]:
    """{name: factory} of every tube linker with ``link_videos(detections, videos)``: each
    registered in ``TASK_UTILS`` whose name ends in 'TubeLinker' (``TubeLinker`` first)."""
    from mmaction.registry import TASK_UTILS

    import point3d_mm.evaluation  # noqa: F401  (registers the linkers)
    names = sorted((name for name in TASK_UTILS.module_dict if name.endswith('TubeLinker')),
                   key=lambda name: (name != 'TubeLinker', name))
    return {name: functools.partial(TASK_UTILS.build, dict(type=name)) for name in names}


def time_linking(gt: dict, dets: np.ndarray, num_videos: int, repeats: int, ms,
                 linker: str = 'TubeLinker') -> Dict:
    """``linker``'s ``link_videos`` and (unless ``ms`` is None) mmaction2's ``link_tubes``
    on the frame detections of the first ``num_videos`` videos (frames/s: frames of those
    videos per second)."""
    sub_gt, sub_dets, _ = eval_subset(gt, dets, None, num_videos)
    videos = sub_gt['test_videos'][0]
    frames = int(sum(gt['nframes'][v] for v in videos))
    build = linkers()[linker]
    linked, ours, ours_runs = median_time(lambda: build().link_videos(sub_dets, videos),
                                          repeats)
    row = dict(linker=linker, videos=len(videos), frames=frames, detections=len(sub_dets),
               tubes=sum(map(len, linked.values())), ours_s=ours, ours_runs=ours_runs,
               ours_fps=frames / ours)
    if ms is not None:
        peer_tubes, peer, peer_runs = median_time(lambda: ms.link_tubes(sub_gt, sub_dets),
                                                  repeats)
        row.update(peer_s=peer, peer_runs=peer_runs, peer_fps=frames / peer,
                   peer_tubes=sum(map(len, peer_tubes.values())), ratio=peer / ours)
    return row


def time_frame_ap(gt: dict, dets: np.ndarray, repeats: int, ms) -> Dict:
    """``frame_ap(protocol='voc')`` and mmaction2's ``frameAP`` at IoU 0.5."""
    videos = gt['test_videos'][0]
    result, ours, ours_runs = median_time(lambda: frame_ap(gt, dets, videos, 0.5, 'voc'),
                                          repeats)
    row = dict(videos=len(videos), detections=len(dets), ours_s=ours, ours_runs=ours_runs,
               ours_map=result['mAP'])
    if ms is not None:
        peer_map, peer, peer_runs = median_time(
            lambda: ms.frameAP(gt, dets, 0.5, print_info=False) / 100, repeats)
        row.update(peer_s=peer, peer_runs=peer_runs, peer_map=float(peer_map),
                   ratio=peer / ours, agree=bool(abs(result['mAP'] - peer_map) < 1e-6))
    return row


def time_video_ap(gt: dict, tubes: Dict[str, list], repeats: int, ms) -> Dict:
    """One ``video_ap(protocol='voc')`` call and the 14 ``videoAP`` calls for the same
    numbers: mAP at 0.1, 0.2, 0.5, 0.75 and the mean over 0.5:0.95."""
    videos = gt['test_videos'][0]
    result, ours, ours_runs = median_time(
        lambda: video_ap(gt, tubes, videos, VIDEO_THRS, 'voc',
                         average_thrs=VIDEO_AVERAGE_THRS), repeats)
    ours_map = {name: float(value) for name, value in result['mAP'].items()}
    row = dict(videos=len(videos), tubes=sum(len(tubes[v]) for v in videos), ours_s=ours,
               ours_runs=ours_runs, ours_map=ours_map)
    if ms is not None:
        mm_tubes = {c: [] for c in range(len(gt['labels']))}  # {label: [(video, score, tube)]}
        for video in videos:
            for label, score, tube in tubes[video]:
                mm_tubes[label].append((video, score, tube))

        def peer_video_ap():
            maps = {f'{t:g}': ms.videoAP(gt, mm_tubes, t, print_info=False) / 100
                    for t in VIDEO_THRS}
            maps['0.5:0.95'] = float(np.mean([ms.videoAP(gt, mm_tubes, t, print_info=False)
                                              for t in VIDEO_AVERAGE_THRS])) / 100
            return maps

        peer_map, peer, peer_runs = median_time(peer_video_ap, repeats)
        peer_map = {name: float(value) for name, value in peer_map.items()}
        row.update(peer_s=peer, peer_runs=peer_runs, peer_map=peer_map, ratio=peer / ours,
                   agree=all(abs(ours_map[k] - peer_map[k]) < 1e-6 for k in peer_map))
    return row


def time_act(gt: dict, dets: np.ndarray, tubes: Dict[str, list], repeats: int) -> Dict:
    """Our ``'act'`` protocol (no peer): frame_ap and video_ap medians."""
    videos = gt['test_videos'][0]
    _, frame_s, _ = median_time(lambda: frame_ap(gt, dets, videos, 0.5, 'act'), repeats)
    _, video_s, _ = median_time(lambda: video_ap(gt, tubes, videos, VIDEO_THRS, 'act'),
                                repeats)
    return dict(frame_ap_s=frame_s, video_ap_s=video_s)


def format_eval_report(report: Dict) -> str:
    """The side-by-side table of a ``benchmark_eval.py`` report."""
    def seconds(row: Dict, who: str, rate: bool = False) -> str:
        if f'{who}_s' not in row:
            return 'skipped'
        text = f"{row[f'{who}_s']:.3f} s"
        return text + (f" ({row[f'{who}_fps']:,.0f} frames/s)" if rate else '')

    def ratio(row: Dict) -> str:
        return f"{row['ratio']:.1f}x" if 'ratio' in row else ''

    def agreement(row: Dict) -> str:
        if 'agree' not in row:
            return ''
        ours, peer = row['ours_map'], row['peer_map']
        if isinstance(ours, dict):
            ours, peer = ours['0.5'], peer['0.5']
        return f"{'yes' if row['agree'] else 'NO'} (mAP@0.5 {ours:.4f} vs {peer:.4f})"

    lines = ['| what | input | mmaction2 1.2.0 | point3d_mm | speed-up | same numbers |',
             '| --- | --- | ---: | ---: | ---: | --- |']
    linking = [report['linking']] + report.get('more_linkers', []) if 'linking' in report else []
    for link in linking:
        lines.append(f"| tube linking ({link.get('linker', 'TubeLinker')}) | {link['videos']} "
                     f"videos, {link['frames']} frames, {link['detections']} detections | "
                     f"{seconds(link, 'peer', True)} | {seconds(link, 'ours', True)} | "
                     f"{ratio(link)} | n/a |")
    for key, name, unit in (('frame_ap', 'frame-AP@0.5 (voc)', 'detections'),
                            ('video_ap', 'video-AP 0.1/0.2/0.5/0.75 + 0.5:0.95 (voc)',
                             'tubes')):
        row = report[key]
        lines.append(f"| {name} | {row['videos']} videos, {row[unit]} {unit} | "
                     f"{seconds(row, 'peer')} | {seconds(row, 'ours')} | {ratio(row)} | "
                     f"{agreement(row)} |")
    act = report.get('act')
    if act:
        lines.append(f"\npoint3d_mm 'act' protocol (no peer): frame_ap {act['frame_ap_s']:.3f} s, "
                     f"video_ap {act['video_ap_s']:.3f} s")
    return '\n'.join(lines)
