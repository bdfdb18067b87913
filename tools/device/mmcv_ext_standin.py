"""A stand-in for mmcv 2.1.0's compiled ``mmcv._ext``, installed as ``mmcv/_ext.py`` into an
mmcv built without ops (``MMCV_WITH_OPS=0``) by ``tools/device/build_gpu_kit.py``.

Why: mmdet and mmaction2 import ``mmcv.ops`` at module level, and every op module asserts that
``mmcv._ext`` has its kernels. No mmcv wheel exists for the GPU machine's torch 2.11 + CUDA 13,
and compiling mmcv's CUDA ops there would spend most of a 15-minute lease. Point3D and
mmaction2's AVA detectors call only RoIAlign (forward and backward) and, through mmdet, NMS;
mmcv's ``collect_env`` asks for the build versions. Those run here on ``torchvision.ops``
where torchvision imports (CPU and CUDA), else in plain torch (same results: the tests compare
both with mmcv's compiled kernels). Every other kernel raises NotImplementedError naming it.
"""
import torch

try:
    import torchvision.ops as tv_ops
except (ImportError, OSError, RuntimeError):  # absent, or built for another torch
    tv_ops = None

#: 'torchvision' or 'torch': the implementation the kernels below use.
BACKEND = 'torchvision' if tv_ops is not None else 'torch'
IMPLEMENTED = ('roi_align_forward', 'roi_align_backward', 'nms', 'get_compiler_version',
               'get_compiling_cuda_version')


def get_compiler_version() -> str:
    return f'none: point3d_mm stand-in on {BACKEND}'


def get_compiling_cuda_version() -> str:
    return 'not compiled'


def _bilinear_weights(coords: torch.Tensor, size: int) -> torch.Tensor:
    """(N, size) weights of mmcv's bilinear interpolation at (N, ) sample coordinates: zero
    outside [-1, size], clamped at the borders."""
    valid = ((coords >= -1.0) & (coords <= size)).to(coords.dtype)
    coords = coords.clamp(min=0)
    low = coords.floor().long()
    top = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(top, low, low + 1)
    frac = coords - low.to(coords.dtype)  # at the last row both weights land on it: sum 1
    weights = coords.new_zeros(len(coords), size)
    rows = torch.arange(len(coords), device=coords.device)
    weights.index_put_((rows, low), (1 - frac) * valid, accumulate=True)
    weights.index_put_((rows, high), frac * valid, accumulate=True)
    return weights


def _roi_align_torch(x: torch.Tensor, rois: torch.Tensor, out_h: int, out_w: int, scale: float,
                     ratio: int, aligned: bool) -> torch.Tensor:
    """mmcv's average RoIAlign of (N, C, H, W) maps on (R, 5) rois -> (R, C, out_h, out_w):
    the sample grid is a product of rows and columns, so interpolation is two matrix products.
    Geometry in float32, as mmcv's kernel computes it."""
    boxes = rois[:, 1:].float() * scale - (0.5 if aligned else 0.0)
    size = boxes[:, 2:] - boxes[:, :2]
    if not aligned:
        size = size.clamp(min=1.0)
    bins = size / torch.tensor([out_w, out_h], dtype=torch.float32, device=size.device)
    grids = torch.full_like(bins, float(ratio)) if ratio > 0 else torch.ceil(bins)
    pooled = []
    for i, batch in enumerate(rois[:, 0].long().tolist()):
        axes = []
        for axis, bins_n, length in ((1, out_h, x.shape[2]), (0, out_w, x.shape[3])):
            grid = int(grids[i, axis])
            if grid <= 0:  # an empty RoI: mmcv's sum over no sample, 0
                break
            offsets = (torch.arange(grid, dtype=torch.float32, device=x.device) + 0.5) \
                * bins[i, axis] / grid
            starts = boxes[i, axis] + torch.arange(bins_n, device=x.device) * bins[i, axis]
            axes.append((grid, _bilinear_weights((starts[:, None] + offsets).flatten(),
                                                 length).to(x.dtype)))
        if len(axes) < 2:
            pooled.append(x.new_zeros(x.shape[1], out_h, out_w))
            continue
        (grid_h, wy), (grid_w, wx) = axes
        values = torch.einsum('yh,chw,xw->cyx', wy, x[batch], wx)
        pooled.append(values.view(-1, out_h, grid_h, out_w, grid_w).mean(dim=(2, 4)))
    return torch.stack(pooled) if pooled else x.new_zeros(0, x.shape[1], out_h, out_w)


def _roi_align(x, rois, aligned_height, aligned_width, spatial_scale, sampling_ratio,
               pool_mode, aligned) -> torch.Tensor:
    if pool_mode != 1:
        raise NotImplementedError("mmcv._ext.roi_align with pool_mode='max': point3d_mm's "
                                  "stand-in (tools/device/mmcv_ext_standin.py) has 'avg' only")
    x, rois = x.float(), rois.float()
    if BACKEND == 'torchvision':
        return tv_ops.roi_align(x, rois, (aligned_height, aligned_width), spatial_scale,
                                sampling_ratio, aligned)
    return _roi_align_torch(x, rois, aligned_height, aligned_width, spatial_scale,
                            sampling_ratio, aligned)


def roi_align_forward(input, rois, output, argmax_y, argmax_x, **kwargs) -> None:
    output.copy_(_roi_align(input, rois, **kwargs))


def roi_align_backward(grad_output, rois, argmax_y, argmax_x, grad_input, **kwargs) -> None:
    # RoIAlign is linear in its input: the gradient is the same at any input, zeros included.
    with torch.enable_grad():
        x = torch.zeros(grad_input.shape, device=grad_input.device, requires_grad=True)
        y = _roi_align(x, rois, **kwargs)
        grad_input.copy_(torch.autograd.grad(y, x, grad_output.float())[0])


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int = 0):
    """Indices of the kept boxes, best score first (greedy NMS, IoU > threshold suppressed)."""
    if BACKEND == 'torchvision' and offset == 0:
        return tv_ops.nms(boxes.float(), scores.float(), iou_threshold)
    boxes = boxes.float()
    area = (boxes[:, 2] - boxes[:, 0] + offset) * (boxes[:, 3] - boxes[:, 1] + offset)
    order = torch.argsort(scores, descending=True, stable=True)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        lt = torch.maximum(boxes[:, :2], boxes[i, :2])
        rb = torch.minimum(boxes[:, 2:], boxes[i, 2:])
        inter = (rb - lt + offset).clamp(min=0).prod(dim=1)
        suppressed |= inter / (area + area[i] - inter) > iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def __getattr__(name: str):
    """Any other kernel: found (mmcv's loader asserts that it exists), failing when called."""
    if name.startswith('__'):
        raise AttributeError(name)

    def missing(*args, **kwargs):
        raise NotImplementedError(
            f'mmcv._ext.{name}: this mmcv was built without compiled ops, and point3d_mm\'s '
            f'stand-in (tools/device/mmcv_ext_standin.py) implements only '
            f'{", ".join(IMPLEMENTED)}')

    missing.__name__ = name
    return missing
