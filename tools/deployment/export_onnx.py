"""Export a Point3D detector to ONNX in two parts (per-frame and temporal) and check them
against PyTorch with onnxruntime.

Example::

    python tools/deployment/export_onnx.py configs/point3d_demo_synthetic.py \\
        --checkpoint work_dirs/demo/iter_2000.pth --out-dir work_dirs/onnx --verify

See point3d_mm/apis/export.py for what each part takes and returns.
"""
import argparse
import json
import sys

from point3d_mm.apis import clip_sampling, init_detector
from point3d_mm.apis.export import export_onnx, onnx_parity


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('--checkpoint', help='weights (default: random initialisation)')
    parser.add_argument('--out-dir', default='work_dirs/onnx')
    parser.add_argument('--clip-len', type=int, help="T of the temporal part (default: the "
                        "config's clip_len)")
    parser.add_argument('--input-size', type=int,
                        help="H = W of the input (default: the config's input_size)")
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--verify', action='store_true',
                        help='compare onnxruntime with PyTorch on a random input')
    parser.add_argument('--atol', type=float, default=1e-4, help='largest accepted difference')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    model = init_detector(args.config, args.checkpoint, device='cpu')
    # T of the temporal part: the test dataset's, the clips the model was tested on. A
    # runtime feeds it every s-th frame's features (s = frame_interval, printed below).
    clip_len, frame_interval = clip_sampling(model.cfg)
    clip_len = args.clip_len or clip_len
    input_size = args.input_size or model.cfg.get('input_size')
    if clip_len is None or input_size is None:
        sys.exit(f'{args.config} sets no clip_len / input_size: pass --clip-len and '
                 '--input-size')
    paths = export_onnx(model, args.out_dir, clip_len, input_size, args.opset)
    print(f'temporal part: T = {clip_len} frame features at a stride of {frame_interval} frames')
    for name, path in paths.items():
        print(f'{name}: {path}')
    if not args.verify:
        return
    diffs = onnx_parity(model, paths, clip_len, input_size)
    print(json.dumps(diffs, indent=2))
    worst = max(diffs.values())
    if worst > args.atol:
        sys.exit(f'onnxruntime differs from PyTorch by {worst:.3g} > {args.atol}')
    print(f'onnxruntime matches PyTorch within {args.atol} (largest difference {worst:.3g})')


if __name__ == '__main__':
    main()
