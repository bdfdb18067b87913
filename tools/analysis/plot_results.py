"""Plot training curves and per-class APs of a work dir as PNG.

    python tools/analysis/plot_results.py WORK_DIR [--out-dir DIR] [--tables JSON ...]
        [--metrics METRICS_JSON] [--fig-size 8 5] [--dpi 100] [--linear-loss]

Reads what mmengine and the point3d_mm metrics leave in a work dir, as data (no log text):

* ``WORK_DIR/<timestamp>/vis_data/scalars.json`` of every run (JSON lines; training rows carry
  the loss terms and learning rates by iteration, validation rows the metrics by epoch or
  iteration). Runs are chained in timestamp order; a later run replaces the earlier runs'
  rows from its own first step on (a resumed run continues the curve, a restarted one
  replaces it).
* the per-class AP tables that ``FrameMAP``/``VideoMAP`` save beside the log
  (``<prefix>_frame_ap.json``, ``<prefix>_video_ap.json``), in the newest run folder that has
  them (after ``mim test`` that is the test run), or ``--tables`` (also what
  ``tools/analysis/eval_detections.py --out-dir`` writes).
* with ``--metrics``, a metrics JSON of ``tools/test.py --out-metrics`` or
  ``eval_detections.py --out`` (mean metrics), or the ``per_class_ap.json`` this tool writes.

Writes into ``--out-dir`` (default ``WORK_DIR/plots``): ``train_loss.png`` (every ``loss*``
term by iteration), ``train_lr.png`` (every learning rate), ``val_metrics.png`` (every
validation metric), ``per_class_<table>.png`` (one horizontal bar chart per table; classes
without ground truth get no bar), ``metrics_summary.png`` (with ``--metrics``) and
``per_class_ap.json`` (the tables). Files are written atomically. The curves are
``--fig-size`` inches × ``--dpi``; a per-class chart is as wide and at least as tall, taller
for many classes.
"""
import argparse
import os.path as osp
import sys
from typing import Dict

from point3d_mm.visualization.training_plots import plot_work_dir


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Plot training curves and per-class APs of a work dir as PNG')
    parser.add_argument('work_dir', help='work dir (runs in <timestamp>/ folders), one run '
                        'folder, or a scalars.json file')
    parser.add_argument('--out-dir', help='where to write the PNGs (default: WORK_DIR/plots)')
    parser.add_argument('--tables', nargs='+', help='per-class AP JSON files (what FrameMAP/'
                        'VideoMAP save beside the log, or eval_detections.py --out-dir) instead '
                        "of the newest run folder's")
    parser.add_argument('--metrics', help='metrics JSON (tools/test.py --out-metrics, '
                        'eval_detections.py --out, or per_class_ap.json)')
    parser.add_argument('--fig-size', type=float, nargs=2, default=(8.0, 5.0),
                        metavar=('W', 'H'), help='figure size in inches (default: 8 5)')
    parser.add_argument('--dpi', type=int, default=100, help='pixels per inch (default: 100)')
    parser.add_argument('--linear-loss', action='store_true',
                        help='linear instead of logarithmic loss axis')
    args = parser.parse_args(argv)
    if min(args.fig_size) <= 0 or args.dpi <= 0:
        parser.error('--fig-size and --dpi must be positive')
    return args


def main(argv=None) -> Dict[str, str]:
    """Run the tool; returns {what: written file}."""
    args = parse_args(argv)
    if not osp.exists(args.work_dir):
        raise SystemExit(f'{args.work_dir} does not exist')
    try:
        written, read = plot_work_dir(args.work_dir, args.out_dir, args.tables, args.metrics,
                                      tuple(args.fig_size), args.dpi, not args.linear_loss)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if not written:
        print(f'nothing to plot in {args.work_dir}: no vis_data/scalars.json with rows and '
              'no per-class AP table', file=sys.stderr)
    source = read['source']
    print(f'{read["train_rows"]} training rows, {read["val_rows"]} validation rows'
          + (f'; per-class tables from {source}' if source else '; no per-class table'))
    for name, path in written.items():
        print(f'{name:<22} {path}')
    return written


if __name__ == '__main__':
    main()
