"""Peak memory of one paper-scale training step, per clip, and the clips that fit a GPU.

For each config (UCF101-24, JHMDB-21, AVA; random init, nothing downloaded), option and batch
size, one training step (``model.train_step``: forward, the joint loss, one backward, both
optimizers' steps) runs in a fresh subprocess. Options:

* ``fp32``: the configs as they are; ``cp``: activation checkpointing (``with_cp``);
* ``bf16``, ``bf16+cp`` (CPU): bf16 autocast in the model's own train step, what
  ``tools/train.py --amp`` sets on CPU;
* ``fp16``, ``fp16+cp`` (CUDA only): mmengine's ``AmpOptimWrapper`` (fp16 autocast and a
  dynamic GradScaler), what ``--amp`` sets on a GPU.

Memory: on CPU the peak RSS growth of the step's process over the RSS after building the
model and the optimizers (their state included); on CUDA ``torch.cuda.max_memory_allocated``
over the memory allocated before the step (its peak reset there). The growth of a step is
``fixed + N * per_clip``: a line fit over ``--batches`` for the ``--split-configs``; others
take ``fixed`` from a fit of the same precision. A GPU needs ``weights + optimizer state +
fixed + N * per_clip`` for N clips; the clips that fit leave ``--headroom`` free. Details in
:func:`point3d_mm.analysis.training_memory_summary.summarise`. Prints a table and writes JSON
(``--out``)::

    OMP_NUM_THREADS=1 nice python tools/analysis/benchmark_train_memory.py --threads 1 \
        --out work_dirs/benchmark/train_memory_cpu.json
    python tools/analysis/benchmark_train_memory.py --device cuda \
        --out work_dirs/benchmark/train_memory_gpu.json
"""
import argparse
import os
import os.path as osp
from typing import Dict, Optional, Sequence

from point3d_mm.analysis import training_memory as bench
from point3d_mm.analysis.benchmark_configs import CONFIGS
from point3d_mm.analysis.training_memory_summary import (
    HEADROOM,
    format_memory_report,
    summarise,
)
from point3d_mm.utils.benchmark import command_line, machine_info
from point3d_mm.utils.fileio import dump_json

GPU_SIZES_GB = (16, 24, 32, 40, 80)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--configs', nargs='+', default=['ucf24', 'jhmdb', 'ava'],
                        help=f'names ({", ".join(CONFIGS)}) or config files')
    parser.add_argument('--options', nargs='+', choices=list(bench.OPTIONS),
                        help='default: fp32 bf16 cp bf16+cp (CPU); fp32 fp16 cp fp16+cp '
                        '(CUDA)')
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 2],
                        help='clips per step, measured for the --split-configs')
    parser.add_argument('--config-batch', action='store_true',
                        help="each config also at its own train_dataloader.batch_size (its "
                        'default per GPU): instead of the first --batches, or beside them for '
                        'the --split-configs')
    parser.add_argument('--split-configs', nargs='*',
                        help='configs measured at every --batches (default: the first config);'
                        ' the others at the first batch size only')
    parser.add_argument('--split-options', nargs='*',
                        help='options measured at every --batches for the --split-configs '
                        '(default: all); the others take their fixed part from a split '
                        'option of the same precision')
    parser.add_argument('--scaled-options', nargs='*', default=[], choices=list(bench.OPTIONS),
                        help='options measured at --scaled-input-size only (with their fp32 '
                        'references) and scaled to the full size: bf16 on a CPU that '
                        'emulates it takes 10x the fp32 time')
    parser.add_argument('--scaled-input-size', type=int, default=128)
    parser.add_argument('--scaled-configs', nargs='*',
                        help='configs of the --scaled-options (default: the --split-configs);'
                        ' the others take the per-clip ratio of one of them')
    parser.add_argument('--reuse', nargs='*', default=[],
                        help='JSON reports (or .partial files) of earlier runs whose cases '
                        '(same config, option, batch, T, size, device, threads) are taken '
                        'over instead of measured again')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    parser.add_argument('--threads', type=int, default=1, help='torch threads of each step')
    parser.add_argument('--clip-len', type=int, help="T (default: the config's)")
    parser.add_argument('--input-size', type=int, help="frame size (default: the config's)")
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='key=value overrides of every config (Python literals)')
    parser.add_argument('--headroom', type=float, default=HEADROOM,
                        help='share of GPU memory left free')
    parser.add_argument('--gpu-sizes', type=float, nargs='+', default=list(GPU_SIZES_GB),
                        help='GPU memory sizes, GiB')
    parser.add_argument('--out', default=osp.join('work_dirs', 'benchmark',
                                                  'train_memory.json'))
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cuda = args.device.startswith('cuda')
    if args.options is None:
        args.options = ['fp32', 'fp16', 'cp', 'fp16+cp'] if cuda else [
            'fp32', 'bf16', 'cp', 'bf16+cp']
    refused = [o for o in args.options if o in bench.CUDA_ONLY_OPTIONS]
    if refused and not cuda:
        parser.error(f'{refused} need CUDA (mmengine\'s AmpOptimWrapper); use bf16 on CPU')
    if args.split_configs is None:
        args.split_configs = args.configs[:1]
    if args.split_options is None:
        args.split_options = list(args.options) + list(args.scaled_options)
    if args.scaled_configs is None:
        args.scaled_configs = list(args.split_configs)
    return args


def benchmark(args: argparse.Namespace, partial_out: Optional[str] = None) -> Dict:
    """Every planned case in its own subprocess, then the summary."""
    plan = bench.plan_memory_cases(args.configs, args.options, args.batches, args.split_configs,
                                   args.split_options, args.scaled_options,
                                   args.scaled_input_size, args.scaled_configs, args.input_size,
                                   args.config_batch)
    cases, failed = bench.measure_memory_cases(plan, args.device, args.threads, args.clip_len,
                                               args.cfg_options, args.reuse, partial_out)
    return dict(command=command_line(), device=args.device, threads=args.threads,
                headroom=args.headroom, gpu_sizes_gb=args.gpu_sizes,
                machine=machine_info(args.device, args.threads), cases=cases, failed=failed,
                summary=summarise(cases, args.gpu_sizes, args.headroom))


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.child:
        bench.child_main(args.child)
        return
    report = benchmark(args, partial_out=args.out + '.partial')
    print(format_memory_report(report))
    dump_json(report, args.out)
    if osp.exists(args.out + '.partial'):
        os.remove(args.out + '.partial')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
