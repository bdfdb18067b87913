"""Write the synthetic-actions dataset (ACT layout + AVA layout) from a seed.

Example::

    python tools/data/make_synthetic.py --out data/synthetic --seed 0 \
        --num-train 40 --num-test 10 --size 128

The output is byte-identical for the same arguments. See
point3d_mm.datasets.preparation.synthetic_actions.
"""
import argparse
import time

from point3d_mm.datasets.preparation.synthetic_actions import CLASSES, SyntheticActions


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=40, help='train videos')
    parser.add_argument('--num-test', type=int, default=10, help='test videos')
    parser.add_argument('--num-val', type=int, default=0,
                        help='validation videos (their own random streams: the train and '
                        'test videos do not change), in synthetic_val_gt.pkl')
    parser.add_argument('--size', type=int, default=128, help='frame width and height')
    parser.add_argument('--min-frames', type=int, default=32)
    parser.add_argument('--max-frames', type=int, default=96)
    parser.add_argument('--max-actors', type=int, default=3)
    parser.add_argument('--classes', nargs='+', default=list(CLASSES), choices=CLASSES)
    parser.add_argument('--ava-fps', type=int, default=8,
                        help='one AVA key frame every this many frames')
    parser.add_argument('--ava-clip-len', type=int, default=8,
                        help='clip_len of the AVA pipeline (key frames whose clip fits)')
    parser.add_argument('--ava-frame-interval', type=int, default=2,
                        help='frame_interval of the AVA pipeline')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    paths = SyntheticActions(
        seed=args.seed, num_train=args.num_train, num_test=args.num_test, num_val=args.num_val,
        size=args.size, min_frames=args.min_frames, max_frames=args.max_frames,
        max_actors=args.max_actors, classes=args.classes, ava_fps=args.ava_fps,
        ava_clip_len=args.ava_clip_len, ava_frame_interval=args.ava_frame_interval
    ).generate(args.out)
    print(f'wrote {args.num_train} train + {args.num_test} test + {args.num_val} validation '
          f'videos to {args.out} in {time.perf_counter() - start:.1f} s')
    for name, path in paths.items():
        print(f'  {name}: {path}')


if __name__ == '__main__':
    main()
