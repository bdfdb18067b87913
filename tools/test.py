"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Also what ``mim test point3d_mm CONFIG --checkpoint CKPT`` runs. Mirrors mmaction2's
tools/test.py; prints every metric of the config's test_evaluator (frame-mAP, video-mAP or
AVA mAP), can dump the raw predictions, and with ``--show-dir DIR`` / ``--show`` draws every
test video's tubes (``Point3DVisualizationHook``: one annotated mp4 per video, or JPEG frames
with ``--show-format frames``).
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction

import point3d_mm  # noqa: F401  (patches the stack and registers our parts before any build)
from point3d_mm.engine.runner_setup import prepare_launcher, runner_from_args
from point3d_mm.utils.cli import exit_on_user_error, parse_launch_args
from point3d_mm.utils.fileio import dump_json
from point3d_mm.visualization import NoDisplayError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a Point3D model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--dump', type=str,
                        help='with frame-/video-mAP metrics, write the frame detections '
                        'there (.npz, .pkl or .csv) for tools/analysis/eval_detections.py; '
                        'with other metrics, pickle the raw predictions (.pkl)')
    parser.add_argument('--out-metrics', type=str,
                        help='also write the metrics to this JSON file')
    parser.add_argument('--show-dir', type=str,
                        help='write every test video annotated with its predicted tubes (boxes, '
                        'class, score, tube id) there; a relative folder goes under '
                        '<work_dir>/<timestamp>/, as in mmaction2 and mmdet')
    parser.add_argument('--show', action='store_true',
                        help='show the annotated test frames in a window')
    parser.add_argument('--show-format', choices=['mp4', 'frames'], default='mp4',
                        help='with --show-dir: one mp4 per video (default) or one JPEG per '
                        'frame in a folder per video')
    parser.add_argument('--wait-time', type=float, default=0.04,
                        help='with --show: seconds each frame is shown')
    parser.add_argument('--show-score-thr', type=float, default=0.2,
                        help='with --show-dir/--show: draw tubes scoring at least this')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value pairs')
    return parse_launch_args(parser, argv)


DETECTION_SUFFIXES = ('.npz', '.pkl', '.csv')


def evaluator_with_dump(evaluator, path: str) -> list:
    """The test evaluator with ``--dump``: with a FrameMAP or VideoMAP, the first FrameMAP
    (else the VideoMAP) writes its frame detections there (``dump_detections``: ``.npz``,
    ``.pkl`` or ``.csv``), a file ``tools/analysis/eval_detections.py`` re-scores; with
    other metrics, mmengine's DumpResults pickles the raw predictions (``.pkl``).

    Raises:
        ValueError: a suffix that the dump cannot have.
    """
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]

    def kind(metric) -> str:
        return str(metric.get('type', '')).split('.')[-1] if isinstance(metric, dict) else ''

    act = ([m for m in metrics if kind(m) == 'FrameMAP']
           or [m for m in metrics if kind(m) == 'VideoMAP'])
    if act:
        if osp.splitext(path)[1].lower() not in DETECTION_SUFFIXES:
            raise ValueError(f'--dump {path}: the frame detections of {kind(act[0])} are '
                             f'written as {", ".join(DETECTION_SUFFIXES)}')
        return [dict(m, dump_detections=path) if m is act[0] else m for m in metrics]
    if not path.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--dump {path}: the predictions are dumped as a .pkl file')
    return [*metrics, dict(type='DumpResults', out_file_path=path)]


def add_visualization(cfg: Config, args: argparse.Namespace) -> None:
    """``--show-dir``/``--show``: our registered visualizer (keeping the config's vis
    backends) and :class:`~point3d_mm.engine.Point3DVisualizationHook` as the run's
    ``default_hooks.visualization`` (where mmaction2's and mmdet's tools put theirs)."""
    visualizer = dict(cfg.get('visualizer') or {})
    cfg.visualizer = dict(type='Point3DLocalVisualizer', name='visualizer',
                          vis_backends=visualizer.get('vis_backends'))
    hooks = cfg.get('default_hooks') or {}
    hooks['visualization'] = dict(
        type='Point3DVisualizationHook', draw=True, out_dir=args.show_dir,
        out_format=args.show_format, show=args.show, wait_time=args.wait_time,
        score_thr=args.show_score_thr)
    cfg.default_hooks = hooks


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.dump is not None:
        cfg.test_evaluator = evaluator_with_dump(cfg.test_evaluator, args.dump)
    if args.show_dir or args.show:
        add_visualization(cfg, args)
    prepare_launcher(cfg, training=False)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    with exit_on_user_error('test.py', also=(NoDisplayError,)):
        run(args)


def run(args: argparse.Namespace) -> None:
    metrics = runner_from_args(args, merge_args).test()
    if args.out_metrics:
        dump_json(metrics, args.out_metrics)
        print(f'metrics written to {osp.abspath(args.out_metrics)}')


if __name__ == '__main__':
    sys.exit(main())
