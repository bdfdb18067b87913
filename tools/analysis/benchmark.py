"""Point3D speed benchmark: clip mode vs streaming, speed options, training, mmaction2 peer.

One run prints each section as it goes and writes the report as JSON (sections by key):

* ``inference`` (tiny, paper): per-frame latency of clip mode and streaming per T;
* ``speed_options``: streaming latency at the config's T with channels_last, bf16 (and, on
  a GPU, fp16) autocast and, with ``--compile``, torch.compile;
* ``training``: the tiny config through mmengine's Runner and one paper-scale backbone step,
  without and with activation checkpointing, each in a fresh process;
* ``peer``: mmaction2's SlowOnly-R50 AVA FastRCNN detector alone, boxes given, on 256x256
  clips (a lower bound of the peer: no person detector);
* ``test_loop``: paper scale, clip mode against the cached path of CachedFeatureTestLoop;
* ``paper_speed``: paper scale (T=16) streaming and cached-offline latency in fp32, with
  channels_last and channels_last + bf16 (CPU with native bf16) or fp16 (GPU), at other head
  intervals (``--head-intervals``), the cheaper 3D Heads and the 1-stack hourglass, where the
  time goes; and in the same run, with the same options, the peers: the pipeline a user of
  mmaction2 runs (mmdet's Faster R-CNN R50-FPN 2x person detector, then SlowOnly with its
  boxes) at mmaction2's demo settings and at our input size (``peer_pipeline``), and SlowOnly
  alone as the lower bound (``peer``). ``ratio_keys`` names the peer of each ``vs_*`` ratio.

The machinery is :mod:`point3d_mm.analysis.inference_latency`,
:mod:`point3d_mm.analysis.peer_pipeline` and :mod:`point3d_mm.analysis.training_speed`. All
models start from random initialisation; nothing is downloaded. Example::

    nice python tools/analysis/benchmark.py --threads 1 --out work_dirs/benchmark/cpu.json
    python tools/analysis/benchmark.py --threads 1 --only paper_speed --paper-only \
        --head-intervals 2 4 8 --out work_dirs/benchmark/paper_speed.json
    python tools/analysis/benchmark.py --device cuda --only paper_speed --paper-only \
        --speed-frames 20 --out work_dirs/benchmark/gpu.json
"""
import argparse
import json
import os
import os.path as osp

import torch

from point3d_mm.analysis.peer_pipeline import SETTINGS as PIPELINE_SETTINGS

SECTIONS = ['tiny', 'paper', 'speed', 'train', 'peer', 'testloop', 'paper_speed']


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join('work_dirs', 'benchmark', 'benchmark.json'))
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--threads', type=int, help='torch intra-op threads (default: '
                        "torch's); on a loaded machine 1 can beat 2")
    parser.add_argument('--clip-lens', type=int, nargs='+', default=[1, 8, 16, 32])
    parser.add_argument('--tiny-frames', type=int, default=12, help='timed frames (tiny)')
    parser.add_argument('--tiny-warmup', type=int, default=3, help='untimed first frames')
    parser.add_argument('--paper-frames', type=int, default=2,
                        help='timed frames (paper scale; a clip-mode frame at T=32 takes '
                        'minutes on a small CPU)')
    parser.add_argument('--train-iters', type=int, default=12, help='timed training iterations')
    parser.add_argument('--train-configs', nargs='*', default=[], metavar='CONFIG',
                        help='training section: also these configs as they are (e.g. the '
                        "demo and its cheaper-training variants), each timed against the "
                        'first')
    parser.add_argument('--backbone-frames', type=int, default=8,
                        help='frames of the paper-scale backbone training step')
    parser.add_argument('--compile', action='store_true',
                        help='time torch.compile too (tiny config; compiling takes minutes)')
    parser.add_argument('--speed-frames', type=int, default=3,
                        help='timed streaming frames (after one warm-up frame) and cached '
                        'batches of each model in the paper-speed section, and clips of '
                        'the peer there')
    parser.add_argument('--paper-config', default='paper',
                        help="config of the paper-scale sections (paper, testloop, "
                        "paper_speed): a name (paper, ucf24, jhmdb, ava, tiny) or a file")
    parser.add_argument('--paper-only', action='store_true',
                        help="paper-speed section: the paper's model only (no cheaper 3D "
                        'Heads, no 1-stack hourglass)')
    parser.add_argument('--head-intervals', type=int, nargs='*', default=[],
                        help="paper-speed section: also the paper's model at these "
                        'test_cfg.head_interval values (fp32 and the fastest options)')
    parser.add_argument('--pipeline-peers', nargs='*', default=list(PIPELINE_SETTINGS),
                        choices=PIPELINE_SETTINGS,
                        help='paper-speed section: the person detector + SlowOnly pipeline '
                        "at mmaction2's demo settings and/or at our input size")
    parser.add_argument('--loop-clip-frames', type=int, default=3,
                        help='timed clip-mode frames of the test-loop section')
    parser.add_argument('--loop-batches', type=int, default=3,
                        help='timed frame batches of the cached path in the test-loop section')
    parser.add_argument('--frame-batch', type=int, default=4,
                        help='frames per backbone call of the cached path')
    parser.add_argument('--skip', nargs='*', default=[], choices=SECTIONS,
                        help='sections to leave out')
    parser.add_argument('--only', nargs='*', choices=SECTIONS,
                        help='the sections to run (the others are skipped)')
    parser.add_argument('--quick', action='store_true',
                        help='paper scale at T=16 only with 1 frame, fewer tiny frames and '
                        'training iterations, speed options on the tiny config only')
    args = parser.parse_args()
    if args.only is not None:
        args.skip = [section for section in SECTIONS if section not in args.only]
    if args.quick:
        args.tiny_frames, args.paper_frames, args.train_iters = 6, 1, 6
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from mmengine.registry import init_default_scope

    from point3d_mm.analysis import inference_latency as bench
    from point3d_mm.analysis import peer_pipeline
    from point3d_mm.analysis.benchmark_configs import config_path
    from point3d_mm.analysis.training_speed import training_rows
    from point3d_mm.utils.benchmark import machine_info
    from point3d_mm.utils.fileio import dump_json
    init_default_scope('mmaction')
    report = dict(machine=machine_info(args.device), args=vars(args), inference=[],
                  speed_options=[])
    print(json.dumps(report['machine']), flush=True)
    variants = bench.speed_variants(args.device, args.compile)
    sections = [('tiny', args.clip_lens, args.tiny_frames, args.tiny_warmup),
                ('paper', [16] if args.quick else args.clip_lens, args.paper_frames, 0)]
    for name, clip_lens, frames, warmup in sections:
        if name in args.skip:
            continue
        config = config_path(args.paper_config if name == 'paper' else name)
        model = bench.build_detector(config, args.device)
        config_clip_len = model.cfg.test_dataloader.dataset.clip_len
        report['inference'] += bench.inference_rows(name, model, clip_lens, frames, warmup)
        if 'speed' not in args.skip and not (args.quick and name == 'paper'):
            # compiling the paper-scale model would take far longer than timing it
            model_variants = {key: value for key, value in variants.items()
                              if name == 'tiny' or key != 'torch.compile'}
            report['speed_options'] += bench.speed_option_rows(
                name, model, config_clip_len, frames, warmup, model_variants)
        del model
    if 'peer' not in args.skip:
        report['peer'] = peer_pipeline.peer_latency(args.device, clips=max(2, args.paper_frames))
    if 'testloop' not in args.skip:
        model = bench.build_detector(config_path(args.paper_config), args.device)
        report['test_loop'] = bench.test_loop_row(model, args.loop_clip_frames,
                                                  args.loop_batches, args.frame_batch)
        del model
    if 'paper_speed' not in args.skip:
        report['paper_speed'] = bench.paper_speed(
            args.device, args.speed_frames, config_path(args.paper_config),
            frame_batch=args.frame_batch, paper_only=args.paper_only,
            head_intervals=args.head_intervals, peers=args.pipeline_peers)
    if 'train' not in args.skip:
        report['training'] = training_rows(
            args.train_iters, args.device, args.threads,
            0 if 'paper' in args.skip else args.backbone_frames,
            configs=args.train_configs)
    report['machine']['load_average_at_end'] = [round(x, 2) for x in os.getloadavg()]
    dump_json(report, args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
