"""Statistics of the Time-wise Attention matrix M on real frames.

Runs a model's feature extractor on the frames of a video (a video file or a folder of
numbered frames), stacks the features of consecutive clips of T frames (the config's
``clip_len`` and test ``frame_interval``) and reports, per clip, how much of M lies off its
diagonal and the entropy of its rows, for the model's own TWA (``scale`` of its neck, or
the class default, the raw Gram, without one) and for the other scalings on the same features::

    python tools/analysis/inspect_twa.py configs/point3d_ucf24.py --video demo.mp4 --clips 2
    python tools/analysis/inspect_twa.py configs/point3d_demo_synthetic.py \\
        work_dirs/demo/iter_2000.pth --video data/synthetic/frames/test_0000

* off-diagonal mass: mean over rows i of 1 - M_ii (0: every frame attends only to itself;
  1 - 1/T: uniform);
* row entropy: mean over rows of -Σ_j M_ij log M_ij, in nats (0: one-hot rows; log T:
  uniform); also divided by log T.

Prints a table and writes JSON (``--out``; by default ``work_dirs/inspect_twa/<config>.json``).
Without a checkpoint the model keeps its random initialisation (say so when quoting).
"""
import argparse
import os.path as osp
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='weights; random init without')
    parser.add_argument('--video', required=True, help='video file or folder of frames')
    parser.add_argument('--clips', type=int, default=2, help='consecutive clips (default 2)')
    parser.add_argument('--clip-len', type=int, help="T (default: the config's)")
    parser.add_argument('--interval', type=int, help="frame interval (default: the config's)")
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', help='JSON output')
    args = parser.parse_args(argv)

    from point3d_mm.analysis.twa_inspection import format_table, inspect
    from point3d_mm.apis import init_detector
    from point3d_mm.utils.fileio import dump_json
    model = init_detector(args.config, args.checkpoint, device=args.device)
    result = inspect(model, args.video, args.clips, args.clip_len, args.interval)
    result.update(config=args.config, checkpoint=args.checkpoint,
                  weights='checkpoint' if args.checkpoint else 'random init')
    print(f"{args.config} ({result['weights']}) on {args.video}:")
    print(format_table(result))
    out = args.out or osp.join('work_dirs', 'inspect_twa',
                               osp.splitext(osp.basename(args.config))[0] + '.json')
    dump_json(result, out)
    print(f'written to {osp.abspath(out)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
