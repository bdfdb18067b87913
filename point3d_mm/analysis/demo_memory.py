"""The demo's memory against video length (``tools/analysis/benchmark_memory.py``): peak
memory of ``tools/demo.py`` in a subprocess on videos of several lengths
(:func:`demo_memory`)."""
import json
import os
import os.path as osp
import re
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..utils.benchmark import child_env, run_measured
from .benchmark_configs import IMPORT_ROOT, REPO
from .inference_latency import build_detector


def write_video(path: str, num_frames: int, size: int, fps: float = 25.0) -> None:
    """A ``num_frames``-frame mp4: an actor (white box) walking over a fixed texture."""
    import cv2
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (size, size))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write mp4v video to {path}')
    rng = np.random.default_rng(0)
    background = rng.integers(40, 120, (size, size, 3), dtype=np.uint8)
    w, h = max(4, size // 6), max(8, size // 2)
    for i in range(num_frames):
        frame = background.copy()
        x, y = (i * 2) % (size - w), size // 4 + int(3 * np.sin(i / 5))
        frame[y:y + h, x:x + w] = 230
        writer.write(frame)
    writer.release()


def demo_memory_config(folder: str, base: str, input_size: int,
                       max_per_frame: int) -> Tuple[str, str]:
    """(config, checkpoint) in ``folder``: ``base`` at a smaller input with a capped output
    per frame, and its model at random initialisation (seed 0) as a weights-only
    checkpoint."""
    config = osp.join(folder, 'bench_config.py')
    with open(config, 'w') as f:
        f.write(f'''_base_ = [{base!r}]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale={input_size}),
    dict(type='PackPoint3DInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_dataloader = test_dataloader
model = dict(test_cfg=dict(max_per_frame={max_per_frame}))
''')
    model = build_detector(config, 'cpu')
    classes = list(model.cfg.get('classes', None) or
                   [f'class_{i}' for i in range(model.cls_head.num_classes)])
    checkpoint = osp.join(folder, 'random_init.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), checkpoint)
    return config, checkpoint


def demo_memory(lengths: Sequence[int], config: str, size: int = 64, input_size: int = 64,
                max_per_frame: int = 10, streaming: bool = False, threads: int = 1,
                poll: float = 0.05, work_dir: Optional[str] = None) -> List[Dict]:
    """Peak memory of ``tools/demo.py`` on a video of each length (``size`` pixels square,
    written by :func:`write_video`), run in a subprocess on ``config`` read at ``input_size``
    with at most ``max_per_frame`` detections per frame (:func:`demo_memory_config`).

    Returns:
        list[dict]: per length ``peak_rss_mb`` (the kernel's, :func:`run_measured`),
        ``polled_peak_rss_mb``, ``wall_s``, ``rss_timeline_mb``, ``detections``,
        ``output_tail``, ``frames``, ``tubes`` and ``frames_per_s``.

    Raises:
        RuntimeError: the demo failed; its output's tail.
    """
    import shutil
    folder = work_dir or tempfile.mkdtemp(prefix='benchmark_memory_')
    os.makedirs(folder, exist_ok=True)
    config, checkpoint = demo_memory_config(folder, osp.abspath(config), input_size,
                                            max_per_frame)
    rows = []
    for length in lengths:
        video, annotated = (osp.join(folder, f'{name}_{length}.mp4')
                            for name in ('video', 'annotated'))
        out_json = osp.join(folder, f'tubes_{length}.json')
        started = time.perf_counter()
        write_video(video, length, size)
        print(f'{length} frames: video written in {time.perf_counter() - started:.1f} s; '
              'running the demo ...', flush=True)
        cmd = [sys.executable, osp.join(REPO, 'tools', 'demo.py'), video, config, checkpoint,
               '--out-video', annotated, '--out-json', out_json] + (
                   ['--streaming'] if streaming else [])
        run = run_measured(cmd, child_env(threads, IMPORT_ROOT), REPO, poll)
        if run['returncode'] != 0:
            raise RuntimeError(f'{" ".join(cmd)} failed ({run["returncode"]}):\n'
                               f'{run["output"][-3000:]}')
        with open(out_json) as f:
            tubes = json.load(f)['tubes']
        rows.append(dict(peak_rss_mb=round(run['ru_maxrss_mb'], 1),
                         polled_peak_rss_mb=round(run['polled_peak_rss_mb'], 1),
                         wall_s=round(run['wall_s'], 1), rss_timeline_mb=run['rss_timeline_mb'],
                         detections=count_linked_detections(run['output']),
                         output_tail=run['output'][-300:], frames=length, tubes=len(tubes),
                         frames_per_s=round(length / run['wall_s'], 1)))
        print(f'  peak RSS {rows[-1]["peak_rss_mb"]} MB, {rows[-1]["wall_s"]} s', flush=True)
        for name in (video, annotated):
            if not work_dir and osp.exists(name):
                os.remove(name)
    if not work_dir:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def count_linked_detections(demo_output: str) -> Optional[int]:
    """The frame detections ``tools/demo.py`` reports having linked (its last such line)."""
    found = re.findall(r'(\d+) frame detections linked', demo_output)
    return int(found[-1]) if found else None
