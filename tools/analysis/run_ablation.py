"""The paper's ablations (Table 3: each part; Table 4: clip length T) on the synthetic data.

Every row is the demo's config (``configs/point3d_demo_synthetic.py``: data, schedule,
optimizers, seed) with one change, trained (``--iters``, the demo's 2000 by default) and
tested on the held-out synthetic videos. The table has frame-mAP@0.5, video-mAP@0.2/0.5/0.75
and 0.5:0.95, class-agnostic frame-AP@0.5 (the Point Head's localisation alone) and, for the T
rows, the test fps (clips per second of the test loop, this machine)::

    python tools/analysis/run_ablation.py --out work_dirs/ablation            # hours on CPU
    python tools/analysis/run_ablation.py --knots joints --rows table3 --iters 500

``--knots joints`` uses the generator's joints (``synthetic_joints.pkl``, K = 11) as knots;
``box`` (the default) the box's edge midpoints. Writes ``ablation.md`` and ``ablation.json``.
"""
import argparse
import copy
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

from point3d_mm.utils.fileio import atomic_write, dump_json

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = osp.join(REPO, 'configs', 'point3d_demo_synthetic.py')
FRAME_CLS = dict(_delete_=True, type='FrameClsHead', num_classes=6, in_channels=32,
                 conv_channels=32, pool='roi', dropout_ratio=0.0)
#: Table 3: (name, CP, KP, 3D Head, TWA).
TABLE3 = (('CP', 1, 0, 0, 0), ('CP+KP', 1, 1, 0, 0), ('CP+KP+TWA', 1, 1, 0, 1),
          ('CP+3D', 1, 0, 1, 0), ('CP+KP+3D', 1, 1, 1, 0), ('CP+KP+3D+TWA', 1, 1, 1, 1))
#: Table 4: clip lengths.
TABLE4 = (1, 3, 5, 8, 16)
COLUMNS = (('frame-mAP@0.5', 'frame_mAP@0.5'), ('video-mAP@0.2', 'video_mAP@0.2'),
           ('video-mAP@0.5', 'video_mAP@0.5'), ('video-mAP@0.75', 'video_mAP@0.75'),
           ('video-mAP@0.5:0.95', 'video_mAP@0.5:0.95'),
           ('agnostic frame-AP@0.5', 'agnostic_frame_mAP@0.5'), ('fps', 'fps'))


def row_options(kp: bool, head3d: bool, twa: bool, clip_len: Optional[int] = None) -> Dict:
    """Config overrides of one row, on top of the demo's config."""
    model: Dict = dict(point_head=dict(with_kp=bool(kp)))
    if not twa:
        model['neck'] = None
    if not head3d:
        model['cls_head'] = dict(FRAME_CLS)
    options = dict(model=model)
    if clip_len is not None:
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            options[loader] = dict(dataset=dict(clip_len=clip_len))
    return options


def rows(which: Sequence[str]) -> List[Dict]:
    """The rows to run: dicts with ``table``, ``name`` and ``options``."""
    out = []
    if 'table3' in which:
        out += [dict(table='3', name=name, options=row_options(kp, h3, twa))
                for name, _, kp, h3, twa in TABLE3]
    if 'table4' in which:
        # T = 1: no temporal part (the demo's t1 ablation: FrameClsHead, no TWA)
        out += [dict(table='4', name=f'T={t}', clip_len=t,
                     options=row_options(True, t > 1, t > 1, clip_len=t)) for t in TABLE4]
    return out


def build_cfg(row: Dict, work_dir: str, iters: int, knots: str, data_root: Optional[str]):
    """The Config of one row."""
    from mmengine.config import Config
    cfg = Config.fromfile(BASE)
    cfg.merge_from_dict(copy.deepcopy(row['options']))
    cfg.work_dir = work_dir
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1  # tested once, after training
    for scheduler in cfg.param_scheduler:
        scheduler.end = iters
        scheduler.milestones = [max(1, int(m * iters / 2000)) for m in scheduler.milestones]
    cfg.default_hooks.checkpoint.interval = iters
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        if data_root is not None:
            dataset.data_root = data_root
        if knots == 'box':  # the demo's config trains on the joints
            dataset.knots = 'box'
    if knots == 'box':
        cfg.model.point_head.num_knots = 4
    gt_file = osp.join(cfg.test_dataloader.dataset.data_root, 'synthetic_gt.pkl')
    cfg.test_evaluator = [
        dict(type='FrameMAP', ann_file=gt_file, iou_thr=0.5),
        dict(type='VideoMAP', ann_file=gt_file, iou_thrs=(0.2, 0.5, 0.75)),
        dict(type='FrameMAP', ann_file=gt_file, iou_thr=0.5, class_agnostic=True),
    ]
    cfg.val_evaluator = cfg.test_evaluator
    return cfg


def collect(metrics: Dict[str, float]) -> Dict[str, float]:
    """The table's values from a test run's metrics (prefix dropped)."""
    values = {}
    for key, value in metrics.items():
        name = key.split('/')[-1]
        values[name] = value
    return values


def build_table(results: Sequence[Dict]) -> str:
    """Markdown of the rows (``table``, ``name``, ``metrics``); '–' for missing values."""
    head = ['table', 'row', *[c for c, _ in COLUMNS]]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    for r in results:
        cells = []
        for _, key in COLUMNS:
            value = r['metrics'].get(key)
            cells.append('–' if value is None else (f'{value:.1f}' if key == 'fps'
                                                    else f'{100 * value:.1f}'))
        lines.append(f"| {r['table']} | {r['name']} | " + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def run_row(row: Dict, args) -> Dict:
    from mmengine.runner import Runner
    work_dir = osp.join(args.out, row['name'].replace('+', '_').replace('=', ''))
    cfg = build_cfg(row, work_dir, args.iters, args.knots, args.data_root)
    runner = Runner.from_cfg(cfg)
    runner.train()
    start = time.perf_counter()
    metrics = collect(runner.test())
    seconds = time.perf_counter() - start
    if row['table'] == '4':
        metrics['fps'] = len(runner.test_dataloader.dataset) / seconds
    return dict(table=row['table'], name=row['name'], metrics=metrics, work_dir=work_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='work_dirs/ablation')
    parser.add_argument('--iters', type=int, default=2000, help="the demo's 2000 by default")
    parser.add_argument('--knots', choices=('box', 'joints'), default='box')
    parser.add_argument('--rows', nargs='+', choices=('table3', 'table4'),
                        default=['table3', 'table4'])
    parser.add_argument('--data-root', help="synthetic data (default: the config's)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    results = [run_row(row, args) for row in rows(args.rows)]
    table = build_table(results)
    print(table)
    atomic_write(f'iterations {args.iters}, knots {args.knots}\n\n{table}\n'.encode(),
                 osp.join(args.out, 'ablation.md'))
    dump_json(dict(iters=args.iters, knots=args.knots, rows=results),
              osp.join(args.out, 'ablation.json'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
