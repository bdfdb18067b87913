"""Peak memory of ``tools/demo.py`` against video length: it must stay flat.

    python tools/analysis/benchmark_memory.py [--lengths 1000 5000 10000] [--streaming] \
        [--json work_dirs/benchmark_memory.json]

For each length, a video of that many frames (``--size`` pixels square, mp4v via
``cv2.VideoWriter``, a bright 'actor' walking over a textured background) is written into a
temporary folder, and ``tools/demo.py`` runs on it in a subprocess: detection (streaming the
frames), tube linking, the annotated video (a second streaming pass) and the tubes JSON. The
demo's peak resident memory is polled with psutil and read exactly from the kernel when it
exits (``os.wait4``'s ``ru_maxrss``). Prints a table (peak RSS vs length, with the
detections and tubes, which are the demo's output and so grow with the video: about 28 bytes
per detection) and writes it as JSON.

The model is the tiny config's at random initialisation (memory does not depend on the
weights), read at ``--input-size`` pixels (default 64, against the config's 128, so that
10,000 frames take minutes rather than an hour on 2 CPU cores); ``--max-per-frame`` caps the
detections per frame as a trained detector's sparse output would (a random model scores
every peak alike). Both are written into a derived config beside the videos.

Exit status: 0 when the largest peak is at most ``--max-ratio`` times the smallest (flat), 1
otherwise.
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

import cv2
import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(ROOT, 'configs', 'point3d_tiny_synthetic.py')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--lengths', type=int, nargs='+', default=[1000, 5000, 10000],
                        help='video lengths in frames')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='model config')
    parser.add_argument('--size', type=int, default=64, help='frame width and height')
    parser.add_argument('--input-size', type=int, default=64,
                        help='network input size (the config\'s test_pipeline scale)')
    parser.add_argument('--max-per-frame', type=int, default=10,
                        help='detections kept per frame (model.test_cfg.max_per_frame)')
    parser.add_argument('--streaming', action='store_true', help='demo --streaming')
    parser.add_argument('--threads', type=int, default=1,
                        help='OMP_NUM_THREADS of the demo process')
    parser.add_argument('--poll', type=float, default=0.05, help='RSS polling period, s')
    parser.add_argument('--work-dir', default=None,
                        help='folder for the videos and outputs (default: a temporary one, '
                        'removed at the end)')
    parser.add_argument('--json', default=None, help='write the results here')
    parser.add_argument('--max-ratio', type=float, default=1.2,
                        help='largest/smallest peak RSS above which the result is not flat')
    return parser.parse_args(argv)


def write_video(path: str, num_frames: int, size: int, fps: float = 25.0) -> None:
    """A ``num_frames``-frame mp4: an actor (white box) walking over a fixed texture."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (size, size))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write mp4v video to {path}')
    rng = np.random.default_rng(0)
    background = rng.integers(40, 120, (size, size, 3), dtype=np.uint8)
    w, h = max(4, size // 6), max(8, size // 2)
    for i in range(num_frames):
        frame = background.copy()
        x = (i * 2) % (size - w)
        y = size // 4 + int(3 * np.sin(i / 5))
        frame[y:y + h, x:x + w] = 230
        writer.write(frame)
    writer.release()


def write_config(path: str, base: str, input_size: int, max_per_frame: int) -> None:
    with open(path, 'w') as f:
        f.write(f'''_base_ = [{base!r}]
# benchmark_memory.py: the base config at a smaller input, with a capped output per frame
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale={input_size}),
    dict(type='PackPoint3DInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_dataloader = test_dataloader
model = dict(test_cfg=dict(max_per_frame={max_per_frame}))
''')


def write_checkpoint(config: str, path: str) -> None:
    """The config's model at random initialisation (seed 0), as a weights-only checkpoint."""
    import torch

    import point3d_mm  # noqa: F401
    from point3d_mm.apis import init_detector
    torch.manual_seed(0)
    model = init_detector(config)
    classes = list(model.cfg.get('classes', None) or
                   [f'class_{i}' for i in range(model.cls_head.num_classes)])
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), path)


def measure(cmd: List[str], env: Dict[str, str], poll: float) -> Dict:
    """Run ``cmd``; its peak RSS (polled and from the kernel), wall time and RSS timeline."""
    import psutil
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    process = psutil.Process(proc.pid)
    polled, timeline, last_mark = 0, [], -1.0
    output = []
    os.set_blocking(proc.stdout.fileno(), False)
    while True:
        try:
            chunk = proc.stdout.read()
            if chunk:
                output.append(chunk)
        except BlockingIOError:
            pass
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            rss = process.memory_info().rss
        except psutil.NoSuchProcess:
            rss = 0
        polled = max(polled, rss)
        elapsed = time.perf_counter() - start
        if elapsed - last_mark >= 1.0:
            timeline.append((round(elapsed, 1), round(rss / 2**20, 1)))
            last_mark = elapsed
        time.sleep(poll)
    wall = time.perf_counter() - start
    os.set_blocking(proc.stdout.fileno(), True)
    output.append(proc.stdout.read() or b'')
    proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = b''.join(output).decode(errors='replace')
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{text[-3000:]}')
    return dict(peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # kB on Linux
                polled_peak_rss_mb=round(polled / 2**20, 1), wall_s=round(wall, 1),
                rss_timeline_mb=timeline, detections=_count_detections(text),
                output_tail=text[-300:])


def benchmark(args: argparse.Namespace) -> Dict:
    folder = args.work_dir or tempfile.mkdtemp(prefix='benchmark_memory_')
    os.makedirs(folder, exist_ok=True)
    config = osp.join(folder, 'bench_config.py')
    write_config(config, osp.abspath(args.config), args.input_size, args.max_per_frame)
    checkpoint = osp.join(folder, 'random_init.pth')
    write_checkpoint(config, checkpoint)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads),
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p))
    rows = []
    for length in args.lengths:
        video = osp.join(folder, f'video_{length}.mp4')
        started = time.perf_counter()
        write_video(video, length, args.size)
        made = time.perf_counter() - started
        out_json = osp.join(folder, f'tubes_{length}.json')
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'demo.py'), video, config, checkpoint,
               '--out-video', osp.join(folder, f'annotated_{length}.mp4'),
               '--out-json', out_json]
        if args.streaming:
            cmd.append('--streaming')
        print(f'{length} frames: video written in {made:.1f} s; running the demo ...',
              flush=True)
        result = measure(cmd, env, args.poll)
        with open(out_json) as f:
            tubes = json.load(f)['tubes']
        result.update(frames=length, tubes=len(tubes),
                      frames_per_s=round(length / result['wall_s'], 1))
        rows.append(result)
        print(f'  peak RSS {result["peak_rss_mb"]} MB, {result["wall_s"]} s', flush=True)
        for name in (video, osp.join(folder, f'annotated_{length}.mp4')):
            if not args.work_dir and osp.exists(name):
                os.remove(name)
    peaks = [row['peak_rss_mb'] for row in rows]
    ratio = max(peaks) / min(peaks)
    import torch
    report = dict(
        lengths=args.lengths, streaming=args.streaming, size=args.size,
        input_size=args.input_size, max_per_frame=args.max_per_frame, threads=args.threads,
        config=osp.relpath(osp.abspath(args.config), ROOT), rows=rows,
        peak_ratio=round(ratio, 3), max_ratio=args.max_ratio, flat=ratio <= args.max_ratio,
        machine=dict(python=platform.python_version(), torch=torch.__version__,
                     opencv=cv2.__version__, cpus=os.cpu_count(), platform=platform.platform()))
    if not args.work_dir:
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    return report


def _count_detections(output: str) -> Optional[int]:
    import re
    found = re.findall(r'(\d+) frame detections linked', output)
    return int(found[-1]) if found else None


def format_table(report: Dict) -> str:
    rows = report['rows']
    base = rows[0]['peak_rss_mb']
    mode = 'streaming' if report['streaming'] else 'clip'
    lines = [f'tools/demo.py peak RSS vs video length ({mode} mode, {report["size"]}x'
             f'{report["size"]} frames, input {report["input_size"]}, '
             f'{report["threads"]} thread(s))',
             f'{"frames":>8} {"peak RSS MB":>12} {"x first":>8} {"polled MB":>10} '
             f'{"detections":>11} {"tubes":>6} {"wall s":>8} {"frames/s":>9}']
    for row in rows:
        lines.append(f'{row["frames"]:>8} {row["peak_rss_mb"]:>12.1f} '
                     f'{row["peak_rss_mb"] / base:>8.3f} {row["polled_peak_rss_mb"]:>10.1f} '
                     f'{str(row["detections"]):>11} {row["tubes"]:>6} {row["wall_s"]:>8.1f} '
                     f'{row["frames_per_s"]:>9.1f}')
    lines.append(f'largest / smallest peak: {report["peak_ratio"]:.3f} '
                 f'({"flat" if report["flat"] else "NOT flat"}: limit {report["max_ratio"]})')
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = benchmark(args)
    print(format_table(report))
    text = json.dumps(report, indent=1)
    if args.json:
        from point3d_mm.utils.fileio import atomic_write
        atomic_write(text.encode(), args.json)
        print(f'written to {osp.abspath(args.json)}')
    else:
        print(text)
    return 0 if report['flat'] else 1


if __name__ == '__main__':
    sys.exit(main())
