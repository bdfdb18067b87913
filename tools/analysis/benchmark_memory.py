"""Peak memory of ``tools/demo.py`` against video length: it must stay flat.

    python tools/analysis/benchmark_memory.py [--lengths 1000 5000 10000] [--streaming] \
        [--json work_dirs/benchmark_memory.json]

For each length, a video of that many frames (``--size`` pixels square, mp4v, a bright
'actor' walking over a textured background) is written into a temporary folder, and
``tools/demo.py`` runs on it in a subprocess: detection, tube linking, the annotated video
and the tubes JSON. The demo's peak resident memory is polled and read exactly from the
kernel when it exits (``os.wait4``'s ``ru_maxrss``). Prints a table (peak RSS vs length, with
the detections and tubes, the demo's output, which grows with the video) and writes it as
JSON.

The model is the tiny config's at random initialisation, read at ``--input-size`` pixels
(default 64, so that 10,000 frames take minutes on 2 CPU cores); ``--max-per-frame`` caps
the detections per frame as a trained detector's sparse output would.

Exit status: 0 when the largest peak is at most ``--max-ratio`` times the smallest (flat), 1
otherwise.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict

from point3d_mm.analysis.benchmark_configs import REPO, config_path
from point3d_mm.analysis.demo_memory import demo_memory
from point3d_mm.utils.benchmark import machine_info
from point3d_mm.utils.fileio import dump_json


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--lengths', type=int, nargs='+', default=[1000, 5000, 10000],
                        help='video lengths in frames')
    parser.add_argument('--config', default=config_path('tiny'), help='model config')
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


def benchmark(args: argparse.Namespace) -> Dict:
    rows = demo_memory(args.lengths, args.config, args.size, args.input_size,
                             args.max_per_frame, args.streaming, args.threads, args.poll,
                             args.work_dir)
    peaks = [row['peak_rss_mb'] for row in rows]
    ratio = max(peaks) / min(peaks)
    return dict(
        lengths=args.lengths, streaming=args.streaming, size=args.size,
        input_size=args.input_size, max_per_frame=args.max_per_frame, threads=args.threads,
        config=osp.relpath(osp.abspath(args.config), REPO), rows=rows,
        peak_ratio=round(ratio, 3), max_ratio=args.max_ratio, flat=ratio <= args.max_ratio,
        machine=machine_info('cpu', args.threads))


def format_table(report: Dict) -> str:
    rows, mode = report['rows'], 'streaming' if report['streaming'] else 'clip'
    lines = [f'tools/demo.py peak RSS vs video length ({mode} mode, {report["size"]}x'
             f'{report["size"]} frames, input {report["input_size"]}, '
             f'{report["threads"]} thread(s))',
             f'{"frames":>8} {"peak RSS MB":>12} {"x first":>8} {"polled MB":>10} '
             f'{"detections":>11} {"tubes":>6} {"wall s":>8} {"frames/s":>9}']
    for row in rows:
        lines.append(f'{row["frames"]:>8} {row["peak_rss_mb"]:>12.1f} '
                     f'{row["peak_rss_mb"] / rows[0]["peak_rss_mb"]:>8.3f} '
                     f'{row["polled_peak_rss_mb"]:>10.1f} {str(row["detections"]):>11} '
                     f'{row["tubes"]:>6} {row["wall_s"]:>8.1f} {row["frames_per_s"]:>9.1f}')
    lines.append(f'largest / smallest peak: {report["peak_ratio"]:.3f} '
                 f'({"flat" if report["flat"] else "NOT flat"}: limit {report["max_ratio"]})')
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = benchmark(args)
    print(format_table(report))
    if args.json:
        dump_json(report, args.json)
        print(f'written to {osp.abspath(args.json)}')
    else:
        print(json.dumps(report, indent=1))
    return 0 if report['flat'] else 1


if __name__ == '__main__':
    sys.exit(main())
