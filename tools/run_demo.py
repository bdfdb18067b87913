"""The main job (`make demo`): synthetic actions -> train -> evaluate -> annotated video.

Every step reuses what an earlier run left (the dataset, the trained checkpoint) unless
``--fresh`` is given. Training and evaluation go through ``mim train`` / ``mim test``, exactly
as a user would run them.
"""
import argparse
import os.path as osp
import subprocess
import sys
import time

import mmengine

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/point3d_demo_synthetic.py'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data', 'synthetic'))
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--config', default=osp.join(ROOT, CONFIG))
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic dataset')
    parser.add_argument('--num-train', type=int, default=600, help='training videos')
    parser.add_argument('--num-test', type=int, default=20, help='held-out test videos')
    parser.add_argument('--iters', type=int, default=None,
                        help='training iterations (default: the config\'s)')
    parser.add_argument('--fresh', action='store_true',
                        help='regenerate the data and retrain even if outputs exist')
    parser.add_argument('--streaming', action='store_true', help='streaming mode in the demo')
    parser.add_argument('--show-heatmap', action='store_true',
                        help="blend the Point Head's centre heatmap into the demo video")
    return parser.parse_args(argv)


def step(title: str) -> float:
    print(f'\n=== {title} ===', flush=True)
    return time.time()


def run(cmd) -> None:
    print('$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def mim() -> str:
    return osp.join(osp.dirname(sys.executable), 'mim')


def _read_json(path: str):
    return mmengine.load(path) if osp.exists(path) else None


def main(argv=None) -> None:
    args = parse_args(argv)
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    started = time.time()
    gt_file = osp.join(args.data_root, 'synthetic_gt.pkl')
    # Config variables are resolved when the config is read, so each user of the data root
    # gets it explicitly.
    data_options = [f'{loader}.dataset.data_root={args.data_root}'
                    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    data_options += [f'{evaluator}.{i}.ann_file={gt_file}'
                     for evaluator in ('val_evaluator', 'test_evaluator') for i in (0, 1)]

    t = step('1/4 synthetic dataset')
    recipe = dict(seed=args.seed, num_train=args.num_train, num_test=args.num_test)
    recipe_file = osp.join(args.data_root, 'demo_recipe.json')
    regenerate = args.fresh or not osp.exists(gt_file) or _read_json(recipe_file) != recipe
    if regenerate:
        SyntheticActions(**recipe).generate(args.data_root)
        mmengine.dump(recipe, recipe_file)
        print(f'generated {args.data_root} in {time.time() - t:.0f} s')
    else:
        print(f'reusing {args.data_root} (--fresh to regenerate)')

    t = step('2/4 training (mim train)')
    # --resume continues an interrupted run on the same data and returns at once when
    # training is complete; new data starts training afresh.
    trained_on = osp.join(args.work_dir, 'demo_recipe.json')
    resume = not regenerate and _read_json(trained_on) == recipe
    options = list(data_options)
    if args.iters:
        options += [f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={args.iters}']
    mmengine.dump(recipe, trained_on)
    run([mim(), 'train', 'point3d_mm', args.config, '--gpus', '0', '--work-dir',
         args.work_dir, *(['--resume'] if resume else []), '--cfg-options', *options])
    with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    print(f'training step took {time.time() - t:.0f} s; checkpoint {checkpoint}')

    t = step('3/4 evaluation (mim test): frame-mAP and video-mAP on the held-out videos')
    metrics_file = osp.join(args.work_dir, 'test_metrics.json')
    detections_file = osp.join(args.work_dir, 'test_detections.pkl')
    tubes_file = osp.join(args.work_dir, 'test_tubes.pkl')
    run([mim(), 'test', 'point3d_mm', args.config, '--checkpoint', checkpoint, '--gpus', '0',
         '--work-dir', args.work_dir, '--out-metrics', metrics_file, '--cfg-options',
         *data_options, f'test_evaluator.0.dump_detections={detections_file}',
         f'test_evaluator.1.dump_tubes={tubes_file}'])

    t = step('4/4 demo video (tools/demo.py)')
    from point3d_mm.utils.safe_pickle import safe_pickle_load
    test_video = sorted(safe_pickle_load(gt_file)['test_videos'][0])[0]
    out_video = osp.join(args.work_dir, f'demo_{test_video}.mp4')
    out_json = osp.join(args.work_dir, f'demo_{test_video}_tubes.json')
    run([sys.executable, osp.join(ROOT, 'tools', 'demo.py'),
         osp.join(args.data_root, 'frames', test_video), args.config, checkpoint,
         '--out-video', out_video, '--out-json', out_json,
         *(['--streaming'] if args.streaming else []),
         *(['--show-heatmap'] if args.show_heatmap else [])])

    print(f'\n=== done in {(time.time() - started) / 60:.1f} min ===')
    print(f'dataset:          {args.data_root}')
    print(f'checkpoint:       {checkpoint}')
    print(f'metrics (JSON):   {metrics_file}')
    print(f'detections:       {detections_file}')
    print(f'tubes:            {tubes_file}')
    print(f'annotated video:  {out_video}')
    print(f'tubes (JSON):     {out_json}')


if __name__ == '__main__':
    sys.exit(main())
