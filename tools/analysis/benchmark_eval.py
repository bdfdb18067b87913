"""Time point3d_mm's tube linking, frame-AP and video-AP against mmaction2 1.2.0's.

On one synthetic UCF101-24-sized test set (by default 910 videos, 24 classes, about 650k
frame detections and 8 tubes per video), side by side with the peer, medians over
``--repeats`` runs:

* tube linking: ``TubeLinker.link_videos`` vs ``multisports_utils.link_tubes`` on the frame
  detections of the first ``--link-videos`` videos (frames/s: frames of those videos per
  second);
* frame-AP@0.5: ``frame_ap(protocol='voc')`` vs ``frameAP``;
* video-AP at 0.1, 0.2, 0.5, 0.75 and the mean over 0.5:0.95: one ``video_ap(protocol='voc')``
  call vs the 14 ``videoAP`` calls it takes;

and checks that the AP numbers agree to 1e-6. ``--mm-videos N`` gives the AP part of both
only the first N videos, when the peer's Python loops are too slow to wait for.

    python tools/analysis/benchmark_eval.py --threads 1 --out work_dirs/benchmark/eval.json
    python tools/analysis/benchmark_eval.py --videos 300 --detections 60000 --repeats 1
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple


def _limit_threads(argv: Sequence[str]) -> None:
    """Apply ``--threads N`` before numpy loads its BLAS, which reads these at import."""
    for i, arg in enumerate(argv):
        value = arg.split('=', 1)[1] if arg.startswith('--threads=') else (
            argv[i + 1] if arg == '--threads' and i + 1 < len(argv) else None)
        if value is not None:
            for name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
                os.environ[name] = value


if __name__ == '__main__':
    _limit_threads(sys.argv[1:])

import numpy as np  # noqa: E402

import point3d_mm  # noqa: E402,F401  (compat shims before the first mmaction import)
from point3d_mm.evaluation.functional import TubeLinker, frame_ap, video_ap  # noqa: E402
from point3d_mm.utils.fileio import dump_json

VIDEO_THRS = (0.1, 0.2, 0.5, 0.75)
AVERAGE_THRS = tuple(0.5 + 0.05 * i for i in range(10))


def synthetic_dataset(num_videos: int, num_detections: int, num_classes: int = 24,
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


def timed(function: Callable, *args, **kwargs) -> Tuple[object, float]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def median_time(function: Callable, repeats: int) -> Tuple[object, float, List[float]]:
    """The result of ``function()``, the median of ``repeats`` wall times and all of them."""
    times = []
    for _ in range(max(repeats, 1)):
        result, seconds = timed(function)
        times.append(seconds)
    return result, statistics.median(times), times


def subset(gt: dict, dets: np.ndarray, tubes: Optional[Dict[str, list]], num_videos: int):
    """The ground truth, detections and tubes (if given) of the first ``num_videos`` videos."""
    videos = gt['test_videos'][0][:num_videos]
    return (dict(gt, test_videos=[videos]), dets[dets[:, 0] < num_videos],
            {v: tubes[v] for v in videos} if tubes is not None else None)


def mmaction2_reference():
    """mmaction2 1.2.0's ``multisports_utils`` with two defects patched and its progress bar
    silenced (it would print over the report).

    ``iou3dt_voc`` calls ``int()`` on a 1-element array, which numpy >= 2.3 refuses; the
    patched copy takes the element first. ``Dataset.get_vid_dets`` gives every detection
    the score of the last row of the whole input (``frm_det[3]`` for ``frm_dets[3]``); the
    patched copy reads each row's own score. Both are otherwise unchanged.
    """
    from mmaction.evaluation.functional import multisports_utils as ms

    def iou3dt_voc(b1, b2, spatialonly=False, temporalonly=False):
        tmin, tmax = max(b1[0, 0], b2[0, 0]), min(b1[-1, 0], b2[-1, 0])
        if tmax < tmin:
            return 0.0
        inter = tmax - tmin
        union = max(b1[-1, 0], b2[-1, 0]) - min(b1[0, 0], b2[0, 0])
        t1 = b1[int(np.where(b1[:, 0] == tmin)[0][0]):int(np.where(b1[:, 0] == tmax)[0][0]) + 1]
        t2 = b2[int(np.where(b2[:, 0] == tmin)[0][0]):int(np.where(b2[:, 0] == tmax)[0][0]) + 1]
        if temporalonly:
            return inter / union
        return ms.iou3d_voc(t1, t2) * (1. if spatialonly else inter / union)

    def get_vid_dets(self):
        from collections import defaultdict
        self.vid_frm_det = defaultdict(list)
        for frm_det in self.frm_alldets:
            self.vid_frm_det[self.video_list[int(frm_det[0])]].append(frm_det)
        self.vid_det = dict()
        for vid_name, vid_frm_dets in self.vid_frm_det.items():
            self.vid_det[vid_name] = dict()
            for frm_idx in range(1, self.nframes[vid_name] + 1):
                self.vid_det[vid_name][frm_idx] = dict()
                for label_idx in range(len(self.labels)):
                    self.vid_det[vid_name][frm_idx][label_idx] = np.empty(shape=(0, 5))
            for frm_dets in vid_frm_dets:
                frm_idx = int(frm_dets[1])
                label_idx = int(frm_dets[2])
                det = np.array([*frm_dets[-4:], frm_dets[3]])[None, :]
                self.vid_det[vid_name][frm_idx][label_idx] = np.concatenate(
                    [self.vid_det[vid_name][frm_idx][label_idx], det])
        return self.vid_det

    ms.iou3dt_voc = iou3dt_voc
    ms.Dataset.get_vid_dets = get_vid_dets
    ms.track = lambda sequence, description='': sequence
    return ms


def per_class_tubes(tubes: Dict[str, list], videos: List[str], num_classes: int) -> dict:
    """Tubes in mmaction2's layout ``{label: [(video, score, tube)]}``."""
    out = {c: [] for c in range(num_classes)}
    for video in videos:
        for label, score, tube in tubes[video]:
            out[label].append((video, score, tube))
    return out


def machine_info(threads: Optional[int]) -> Dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    if osp.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        cpu = names[0] if names else cpu
    return dict(cpu=cpu, logical_cores=os.cpu_count(), threads=threads, numpy=np.__version__,
                python=platform.python_version(),
                load_average_at_start=[round(x, 2) for x in os.getloadavg()])


def bench_linking(gt: dict, dets: np.ndarray, num_videos: int, repeats: int, ms) -> Dict:
    """``TubeLinker.link_videos`` and (unless ``ms`` is None) mmaction2's ``link_tubes`` on
    the frame detections of the first ``num_videos`` videos."""
    sub_gt, sub_dets, _ = subset(gt, dets, None, num_videos)
    videos = sub_gt['test_videos'][0]
    frames = int(sum(gt['nframes'][v] for v in videos))
    linked, ours, ours_runs = median_time(lambda: TubeLinker().link_videos(sub_dets, videos),
                                          repeats)
    row = dict(videos=len(videos), frames=frames, detections=len(sub_dets),
               tubes=sum(map(len, linked.values())), ours_s=ours, ours_runs=ours_runs,
               ours_fps=frames / ours)
    if ms is not None:
        peer_tubes, peer, peer_runs = median_time(lambda: ms.link_tubes(sub_gt, sub_dets),
                                                  repeats)
        row.update(peer_s=peer, peer_runs=peer_runs, peer_fps=frames / peer,
                   peer_tubes=sum(map(len, peer_tubes.values())), ratio=peer / ours)
    return row


def bench_frame_ap(gt: dict, dets: np.ndarray, repeats: int, ms) -> Dict:
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


def bench_video_ap(gt: dict, tubes: Dict[str, list], repeats: int, ms) -> Dict:
    """One ``video_ap(protocol='voc')`` call and the 14 ``videoAP`` calls for the same
    numbers: mAP at 0.1, 0.2, 0.5, 0.75 and the mean over 0.5:0.95."""
    videos = gt['test_videos'][0]
    result, ours, ours_runs = median_time(
        lambda: video_ap(gt, tubes, videos, VIDEO_THRS, 'voc', average_thrs=AVERAGE_THRS),
        repeats)
    ours_map = {name: float(value) for name, value in result['mAP'].items()}
    row = dict(videos=len(videos), tubes=sum(len(tubes[v]) for v in videos), ours_s=ours,
               ours_runs=ours_runs, ours_map=ours_map)
    if ms is not None:
        mm_tubes = per_class_tubes(tubes, videos, len(gt['labels']))

        def peer_video_ap():
            maps = {f'{t:g}': ms.videoAP(gt, mm_tubes, t, print_info=False) / 100
                    for t in VIDEO_THRS}
            maps['0.5:0.95'] = float(np.mean([ms.videoAP(gt, mm_tubes, t, print_info=False)
                                              for t in AVERAGE_THRS])) / 100
            return maps

        peer_map, peer, peer_runs = median_time(peer_video_ap, repeats)
        peer_map = {name: float(value) for name, value in peer_map.items()}
        row.update(peer_s=peer, peer_runs=peer_runs, peer_map=peer_map, ratio=peer / ours,
                   agree=all(abs(ours_map[k] - peer_map[k]) < 1e-6 for k in peer_map))
    return row


def bench_act(gt: dict, dets: np.ndarray, tubes: Dict[str, list], repeats: int) -> Dict:
    """Our ``'act'`` protocol (no peer): frame_ap and video_ap medians."""
    videos = gt['test_videos'][0]
    _, frame_s, _ = median_time(lambda: frame_ap(gt, dets, videos, 0.5, 'act'), repeats)
    _, video_s, _ = median_time(lambda: video_ap(gt, tubes, videos, VIDEO_THRS, 'act'),
                                repeats)
    return dict(frame_ap_s=frame_s, video_ap_s=video_s)


def format_report(report: Dict) -> str:
    """The side-by-side table of ``report``."""
    lines = ['| what | input | mmaction2 1.2.0 | point3d_mm | speed-up | same numbers |',
             '| --- | --- | ---: | ---: | ---: | --- |']
    link = report.get('linking')
    if link:
        lines.append(
            f"| tube linking | {link['videos']} videos, {link['frames']} frames, "
            f"{link['detections']} detections | " + _seconds(link, 'peer', 'fps')
            + ' | ' + _seconds(link, 'ours', 'fps') + f" | {_ratio(link)} | n/a |")
    for key, name, unit in (('frame_ap', 'frame-AP@0.5 (voc)', 'detections'),
                            ('video_ap', 'video-AP 0.1/0.2/0.5/0.75 + 0.5:0.95 (voc)',
                             'tubes')):
        row = report[key]
        lines.append(f"| {name} | {row['videos']} videos, {row[unit]} {unit} | "
                     + _seconds(row, 'peer') + ' | ' + _seconds(row, 'ours')
                     + f" | {_ratio(row)} | {_agreement(row)} |")
    act = report.get('act')
    if act:
        lines.append(f"\npoint3d_mm 'act' protocol (no peer): frame_ap {act['frame_ap_s']:.3f} s, "
                     f"video_ap {act['video_ap_s']:.3f} s")
    return '\n'.join(lines)


def _seconds(row: Dict, who: str, rate: Optional[str] = None) -> str:
    if f'{who}_s' not in row:
        return 'skipped'
    text = f"{row[f'{who}_s']:.3f} s"
    return text + (f" ({row[f'{who}_{rate}']:,.0f} frames/s)" if rate else '')


def _ratio(row: Dict) -> str:
    return f"{row['ratio']:.1f}x" if 'ratio' in row else ''


def _agreement(row: Dict) -> str:
    if 'agree' not in row:
        return ''
    ours, peer = row['ours_map'], row['peer_map']
    if isinstance(ours, dict):
        ours, peer = ours['0.5'], peer['0.5']
        return f"{'yes' if row['agree'] else 'NO'} (mAP@0.5 {ours:.4f} vs {peer:.4f})"
    return f"{'yes' if row['agree'] else 'NO'} (mAP {ours:.4f} vs {peer:.4f})"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--videos', type=int, default=910)
    parser.add_argument('--detections', type=int, default=650_000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--repeats', type=int, default=3, help='timed runs of each (median)')
    parser.add_argument('--threads', type=int, default=None,
                        help='BLAS/OpenMP threads (set before numpy loads)')
    parser.add_argument('--link-videos', type=int, default=100,
                        help='videos whose detections the linking part links')
    parser.add_argument('--skip-link', action='store_true', help='leave tube linking out')
    parser.add_argument('--link', action='store_true',
                        help='no effect: linking is timed unless --skip-link')
    parser.add_argument('--mm-videos', type=int, default=None,
                        help='give the AP part (both sides) only the first N videos')
    parser.add_argument('--skip-mmaction2', action='store_true', help='time point3d_mm only')
    parser.add_argument('--skip-act', action='store_true',
                        help="leave out the timing of our 'act' protocol")
    parser.add_argument('--out', default=None, help='write the report as JSON here')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parse_args(argv)
    gt, dets, tubes = synthetic_dataset(args.videos, args.detections, seed=args.seed)
    ms = None if args.skip_mmaction2 else mmaction2_reference()
    report = dict(machine=machine_info(args.threads), args=vars(args))
    print(f"synthetic test set: {args.videos} videos, {len(gt['labels'])} classes, "
          f"{sum(gt['nframes'].values())} frames, {len(dets)} frame detections, "
          f"{sum(map(len, tubes.values()))} tubes; medians of {args.repeats} runs")
    if not args.skip_link:
        report['linking'] = bench_linking(gt, dets, min(args.link_videos, args.videos),
                                          args.repeats, ms)
    ap_gt, ap_dets, ap_tubes = subset(gt, dets, tubes, args.mm_videos or args.videos)
    report['frame_ap'] = bench_frame_ap(ap_gt, ap_dets, args.repeats, ms)
    report['video_ap'] = bench_video_ap(ap_gt, ap_tubes, args.repeats, ms)
    if not args.skip_act:
        report['act'] = bench_act(ap_gt, ap_dets, ap_tubes, args.repeats)
    print(format_report(report))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        dump_json(report, args.out)
        print(f'wrote {args.out}')
    return report


if __name__ == '__main__':
    main()
