"""Record mmcv's compiled RoIAlign (outputs and input gradients) and NMS on fixed inputs: the
reference that tests/tools/test_mmcv_ext_standin.py compares both paths of the mmcv stand-in
(mmcv_ext_standin.py, on torchvision and on plain torch) with, wherever torchvision imports,
including the GPU machine and the CPU rehearsal, which have no compiled mmcv. Where a compiled
mmcv is installed (the project's environment), the same test recomputes the reference and
requires it to equal the file. Needs mmcv with compiled ops::

    .venv/bin/python tools/device/record_mmcv_kernels.py
"""
import argparse
import importlib
import io
import os.path as osp

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_OUT = osp.join(ROOT, 'tests', 'tools', 'data', 'mmcv_compiled_kernels.npz')
#: (spatial_scale, sampling_ratio, aligned) of each RoIAlign case; the output is 7 x 5 bins.
ROI_ALIGN_CASES = [(0.25, 0, True), (0.25, 2, True), (1.0, 0, False), (0.5, 3, False)]
OUTPUT_SIZE = (7, 5)
#: (iou_threshold, offset) of each NMS case.
NMS_CASES = [(0.3, 0), (0.6, 0), (0.3, 1), (0.6, 1)]


def make_inputs() -> dict:
    """(2, 3, 13, 17) maps and rois (input pixels, map stride 4 at scale 0.25): inside,
    across every border, smaller than a bin, empty, and wholly outside; 60 boxes with
    scores for NMS."""
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(2, 3, 13, 17, generator=generator)
    rois = torch.tensor([[0, 4.0, 6.0, 40.0, 30.0], [1, -10.0, -6.0, 20.0, 70.0],
                         [1, 50.0, 30.0, 90.0, 60.0], [0, 12.3, 9.7, 13.1, 10.2],
                         [1, 8.0, 8.0, 8.0, 8.0], [0, -40.0, -30.0, -20.0, -12.0],
                         [0, 1.5, 2.5, 66.0, 50.5]])
    corners = torch.rand(60, 2, generator=generator) * 50
    boxes = torch.cat([corners, corners + 5 + torch.rand(60, 2, generator=generator) * 20], 1)
    scores = torch.rand(60, generator=generator)
    return dict(maps=maps, rois=rois, boxes=boxes, scores=scores)


def roi_align_with(ext, maps: torch.Tensor, rois: torch.Tensor, scale: float, ratio: int,
                   aligned: bool) -> tuple:
    """Output and input gradient (of a fixed weighting of the output) of mmcv's RoIAlign
    (average pooling, OUTPUT_SIZE bins) with ``ext`` as its kernels."""
    roi_align_module = importlib.import_module('mmcv.ops.roi_align')  # the module, not the op
    saved = roi_align_module.ext_module
    roi_align_module.ext_module = ext
    try:
        maps = maps.clone().requires_grad_(True)
        out = roi_align_module.roi_align(maps, rois, OUTPUT_SIZE, scale, ratio, 'avg', aligned)
        weights = torch.linspace(-1, 1, out.numel(), device=out.device).view_as(out)
        (grad, ) = torch.autograd.grad((out * weights).sum(), maps)
    finally:
        roi_align_module.ext_module = saved
    return out.detach(), grad


def record(ext, inputs: dict) -> dict:
    """Every case's results with ``ext`` as mmcv's kernels, keyed as in the reference file."""
    results = {}
    for i, case in enumerate(ROI_ALIGN_CASES):
        out, grad = roi_align_with(ext, inputs['maps'], inputs['rois'], *case)
        results[f'roi_align_out_{i}'], results[f'roi_align_grad_{i}'] = out, grad
    for i, (threshold, offset) in enumerate(NMS_CASES):
        results[f'nms_keep_{i}'] = ext.nms(inputs['boxes'], inputs['scores'],
                                           iou_threshold=threshold, offset=offset)
    return results


def compiled_ext():
    """mmcv's compiled ``_ext``, or None where this mmcv has none (a stand-in, or no ops)."""
    try:
        ext = importlib.import_module('mmcv._ext')
    except ImportError:
        return None
    return ext if str(getattr(ext, '__file__', '')).endswith('.so') else None


def load_reference(path: str = DEFAULT_OUT) -> dict:
    """The recorded file as tensors, after checking that its cases are this module's."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: torch.from_numpy(data[key].copy()) for key in data.files}
    for key, cases in (('roi_align_cases', ROI_ALIGN_CASES), ('nms_cases', NMS_CASES)):
        if arrays.pop(key).tolist() != np.asarray(cases, dtype=np.float64).tolist():
            raise ValueError(f'{path}: its {key} are not those of {__file__}: record it again '
                             '(python tools/device/record_mmcv_kernels.py)')
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=DEFAULT_OUT)
    args = parser.parse_args()
    ext = compiled_ext()
    if ext is None:
        raise SystemExit('record_mmcv_kernels.py: this mmcv has no compiled ops (mmcv._ext is '
                         'not a compiled module): run it in the project environment (.venv)')
    from point3d_mm.utils.fileio import atomic_write
    inputs = make_inputs()
    arrays = {key: value.numpy() for key, value in {**inputs, **record(ext, inputs)}.items()}
    arrays['roi_align_cases'] = np.asarray(ROI_ALIGN_CASES, dtype=np.float64)
    arrays['nms_cases'] = np.asarray(NMS_CASES, dtype=np.float64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write(buffer.getvalue(), args.out)
    print(f'wrote {args.out}: {len(ROI_ALIGN_CASES)} RoIAlign and {len(NMS_CASES)} NMS cases')


if __name__ == '__main__':
    main()
