"""Vectorised CenterNet heatmap targets.

mmdet's ``gaussian_radius`` works on Python scalars (``math.sqrt``) and ``gen_gaussian_target``
draws one box per call, so a batch of B·T frames with several actors would need a Python loop
over boxes. These versions take every box at once and match mmdet's numbers (see
``tests/models/test_gaussian_target.py``).
"""
from typing import Tuple

import torch
from torch import Tensor


def gaussian_radius(box_hw: Tensor, min_overlap: float) -> Tensor:
    """Radius of the Gaussian around a keypoint, for many boxes (mmdet's formula).

    Args:
        box_hw (Tensor): (M, 2) box heights and widths in heatmap pixels.
        min_overlap (float): minimal IoU between the ground-truth box and a box whose corners
            lie inside the radius.

    Returns:
        Tensor: (M,) radii (float, not yet truncated), the minimum over CornerNet's 3 cases.
    """
    height, width = box_hw.unbind(-1)
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 - (b1**2 - 4 * c1).sqrt()) / 2

    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 - (b2**2 - 16 * c2).sqrt()) / 8

    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + (b3**2 - 4 * a3 * c3).sqrt()) / (2 * a3)
    return torch.minimum(torch.minimum(r1, r2), r3)


def gaussian_maps(centers: Tensor, radii: Tensor, map_hw: Tuple[int, int]) -> Tensor:
    """One truncated Gaussian per keypoint, each on its own full-size map.

    Same kernel as mmdet's ``gen_gaussian_target``: sigma = (2r + 1) / 6, support the
    (2r + 1)² square around the centre, values below float eps of the peak set to 0.

    Args:
        centers (Tensor): (M, 2) integer keypoint positions (x, y) inside the map.
        radii (Tensor): (M,) integer radii (>= 0).
        map_hw (tuple[int, int]): heatmap height and width.

    Returns:
        Tensor: (M, h, w) float maps with 1 at each centre.
    """
    height, width = map_hw
    dtype = torch.float32
    dx = torch.arange(width, device=centers.device, dtype=dtype)[None] - centers[:, :1]
    dy = torch.arange(height, device=centers.device, dtype=dtype)[None] - centers[:, 1:]
    radii = radii.to(dtype)[:, None]
    sigma = (2 * radii + 1) / 6
    gx = (-dx * dx / (2 * sigma * sigma)).exp() * (dx.abs() <= radii)
    gy = (-dy * dy / (2 * sigma * sigma)).exp() * (dy.abs() <= radii)
    # exp(a)·exp(b) rather than exp(a + b): separable, O(M·(h + w)) exps instead of O(M·h·w).
    maps = gy[:, :, None] * gx[:, None, :]
    return maps * (maps >= torch.finfo(dtype).eps)


def draw_heatmaps(centers: Tensor, radii: Tensor, map_inds: Tensor, num_maps: int,
                  map_hw: Tuple[int, int]) -> Tensor:
    """Draw the Gaussians of many keypoints onto many heatmaps, keeping the max where they
    overlap (as ``gen_gaussian_target`` does), without a loop over keypoints.

    Args:
        centers (Tensor): (M, 2) integer keypoint positions (x, y).
        radii (Tensor): (M,) integer radii.
        map_inds (Tensor): (M,) index of the heatmap each keypoint belongs to.
        num_maps (int): number of heatmaps.
        map_hw (tuple[int, int]): heatmap height and width.

    Returns:
        Tensor: (num_maps, h, w) heatmaps.
    """
    height, width = map_hw
    heatmaps = centers.new_zeros((num_maps, height * width), dtype=torch.float32)
    if len(centers) > 0:
        maps = gaussian_maps(centers, radii, map_hw).view(len(centers), -1)
        heatmaps.scatter_reduce_(0, map_inds[:, None].expand_as(maps), maps, 'amax')
    return heatmaps.view(num_maps, height, width)
