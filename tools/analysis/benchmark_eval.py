"""Time point3d_mm's frame-AP / video-AP against mmaction2's MultiSports code.

Builds a synthetic UCF101-24-sized test set (by default 3,200 videos, 24 classes, about
600k frame detections and 10 tubes per video), times ``frame_ap``/``video_ap`` under both
protocols and mmaction2 1.2.0's ``frameAP``/``videoAP`` on the same input, checks that the
``voc`` numbers agree and prints the speed-up. ``--mm-videos N`` gives mmaction2 (and, for a
fair ratio, us too) only the first N videos, when its Python loops are too slow to wait for.

    python tools/analysis/benchmark_eval.py
    python tools/analysis/benchmark_eval.py --videos 300 --detections 60000 --link
"""
import argparse
import time
from typing import Callable, Dict, List, Tuple

import numpy as np

import point3d_mm  # noqa: F401  (compat shims before the first mmaction import)
from point3d_mm.evaluation.functional import frame_ap, video_ap
from point3d_mm.evaluation.functional import TubeLinker


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


def subset(gt: dict, dets: np.ndarray, tubes: Dict[str, list], num_videos: int):
    videos = gt['test_videos'][0][:num_videos]
    return (dict(gt, test_videos=[videos]), dets[dets[:, 0] < num_videos],
            {v: tubes[v] for v in videos})


def mmaction2_reference():
    """mmaction2 1.2.0's ``multisports_utils`` with its numpy >= 2.3 defect patched.

    ``iou3dt_voc`` calls ``int()`` on a 1-element array, which numpy >= 2.3 refuses; the
    patched copy takes the element first and is otherwise unchanged.
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

    ms.iou3dt_voc = iou3dt_voc
    return ms


def per_class_tubes(tubes: Dict[str, list], videos: List[str], num_classes: int) -> dict:
    """Tubes in mmaction2's layout ``{label: [(video, score, tube)]}``."""
    out = {c: [] for c in range(num_classes)}
    for video in videos:
        for label, score, tube in tubes[video]:
            out[label].append((video, score, tube))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--videos', type=int, default=3200)
    parser.add_argument('--detections', type=int, default=600_000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--mm-videos', type=int, default=None,
                        help='give mmaction2 only the first N videos (default: all)')
    parser.add_argument('--skip-mmaction2', action='store_true')
    parser.add_argument('--link', action='store_true', help='also time TubeLinker')
    args = parser.parse_args()

    gt, dets, tubes = synthetic_dataset(args.videos, args.detections, seed=args.seed)
    videos = gt['test_videos'][0]
    num_tubes = sum(map(len, tubes.values()))
    print(f'synthetic test set: {len(videos)} videos, {len(gt["labels"])} classes, '
          f'{sum(gt["nframes"].values())} frames, {len(dets)} frame detections, '
          f'{num_tubes} tubes')
    thrs = (0.1, 0.2, 0.5, 0.75)
    ours = {}
    for protocol in ('act', 'voc'):
        frame, t_frame = timed(frame_ap, gt, dets, videos, 0.5, protocol)
        video, t_video = timed(video_ap, gt, tubes, videos, thrs, protocol)
        ours[protocol] = (frame, video)
        print(f'point3d_mm {protocol}: frame_ap@0.5 {t_frame:6.2f} s (mAP {frame["mAP"]:.4f}); '
              f'video_ap@{thrs}+0.5:0.95 {t_video:6.2f} s '
              f'(mAP@0.5 {video["mAP"]["0.5"]:.4f})')
    if args.link:
        linked, t_link = timed(TubeLinker().link_videos, dets, videos)
        print(f'TubeLinker: {len(dets)} detections -> {sum(map(len, linked.values()))} tubes '
              f'in {t_link:.2f} s')
    if args.skip_mmaction2:
        return

    ms = mmaction2_reference()
    n = args.mm_videos or len(videos)
    sub_gt, sub_dets, sub_tubes = subset(gt, dets, tubes, n)
    sub_videos = sub_gt['test_videos'][0]
    note = (f' (subset: first {n} of {len(videos)} videos, {len(sub_dets)} detections; '
            f'point3d_mm re-timed on the same subset)' if n < len(videos) else '')
    print(f'mmaction2 1.2.0 multisports_utils, voc{note}:')
    mm_frame, t_mm_frame = timed(ms.frameAP, sub_gt, sub_dets, 0.5, print_info=False)
    mm_tubes = per_class_tubes(sub_tubes, sub_videos, len(gt['labels']))
    mm_video = {}
    start = time.perf_counter()
    for thr in thrs:
        mm_video[thr] = ms.videoAP(sub_gt, mm_tubes, thr, print_info=False)
    mm_video['0.5:0.95'] = np.mean([ms.videoAP(sub_gt, mm_tubes, 0.5 + 0.05 * i,
                                               print_info=False) for i in range(10)])
    t_mm_video = time.perf_counter() - start
    if n < len(videos):
        frame, t_frame = timed(frame_ap, sub_gt, sub_dets, sub_videos, 0.5, 'voc')
        video, t_video = timed(video_ap, sub_gt, sub_tubes, sub_videos, thrs, 'voc')
    else:
        frame, video = ours['voc']
        _, t_frame = timed(frame_ap, gt, dets, videos, 0.5, 'voc')
        _, t_video = timed(video_ap, gt, tubes, videos, thrs, 'voc')
    agree = (abs(frame['mAP'] - mm_frame / 100) < 1e-6
             and all(abs(video['mAP'][f'{t:g}'] - mm_video[t] / 100) < 1e-6 for t in thrs)
             and abs(video['mAP']['0.5:0.95'] - mm_video['0.5:0.95'] / 100) < 1e-6)
    print(f'  frameAP@0.5: mmaction2 {t_mm_frame:7.2f} s vs point3d_mm {t_frame:6.2f} s '
          f'-> {t_mm_frame / t_frame:6.1f}x faster (mAP {mm_frame / 100:.4f} vs '
          f'{frame["mAP"]:.4f})')
    print(f'  videoAP@{thrs}+0.5:0.95: mmaction2 {t_mm_video:7.2f} s vs point3d_mm '
          f'{t_video:6.2f} s -> {t_mm_video / t_video:6.1f}x faster')
    print(f'  voc results agree to 1e-6: {agree}')


if __name__ == '__main__':
    main()
