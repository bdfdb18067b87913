"""Train a Point3D (or any mmaction2) model: ``python tools/train.py CONFIG [options]``.

Also what ``mim train point3d_mm CONFIG`` runs. Mirrors mmaction2's tools/train.py.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction

import point3d_mm  # noqa: F401  (patches the stack and registers our parts before any build)
from point3d_mm.engine.runner_setup import (
    add_counter_seeded_rng,
    apply_amp,
    prepare_deterministic_loader,
    prepare_launcher,
    resume_fallback,
    runner_from_args,
)
from point3d_mm.utils.cli import exit_on_user_error, parse_launch_args


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a Point3D action detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or, with no value, from the latest checkpoint '
        'in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 AMP on CUDA, bf16 autocast on CPU')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate with the total batch size')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic algorithms (with --seed or the config seed)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value pairs such as '
        'train_cfg.max_epochs=2')
    return parse_launch_args(parser, argv)


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold the command line into the config, as mmaction2's train.py does."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        apply_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = resume_fallback(cfg.work_dir)  # None: mmengine reads last_checkpoint
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr = {**(cfg.get('auto_scale_lr') or {}), 'enable': True}
    if args.seed is not None or args.deterministic:
        randomness = cfg.get('randomness', {}) or {}
        if args.seed is not None:
            randomness['seed'] = args.seed
        if args.deterministic:
            randomness['deterministic'] = True
        cfg.randomness = randomness
    prepare_deterministic_loader(cfg)
    add_counter_seeded_rng(cfg)
    prepare_launcher(cfg)
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    with exit_on_user_error('train.py'):
        run(args)


def run(args: argparse.Namespace) -> None:
    runner_from_args(args, merge_args).train()


if __name__ == '__main__':
    sys.exit(main())
