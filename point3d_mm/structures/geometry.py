"""Box and knot-point geometry, one definition for numpy arrays and torch tensors alike.

Coordinates are continuous pixels (mmdet's convention): a horizontal flip maps ``x`` to
``W - x``. The clip transforms keep the map from original-frame pixels to input pixels in
three metainfo keys, so that predictions can be mapped back (:func:`boxes_to_original`)::

    input = F(original * scale_factor + pad),   F(x) = W - x if flip else x,  F(y) = y

where ``W`` is the input width (``img_shape[1]``).

Shape letters: N boxes, K knots per box.
"""
from typing import Optional, Sequence

import numpy as np

#: Knot order of :func:`box_knots` after a horizontal flip: right and left swap, top and
#: bottom stay.
BOX_KNOT_FLIP_INDICES = (0, 3, 2, 1)


def _stack(arrays: Sequence, axis: int):
    """``np.stack`` or ``torch.stack``, whichever the arrays are."""
    if isinstance(arrays[0], np.ndarray):
        return np.stack(arrays, axis=axis)
    import torch
    return torch.stack(list(arrays), dim=axis)


def box_knots(bboxes):
    """The default K=4 knots of boxes: the midpoints of the top, right, bottom and left
    edges (for data without human key points).

    Args:
        bboxes: (N, 4) boxes x1 y1 x2 y2, an ndarray or a Tensor.

    Returns:
        (N, 4, 2) knots (x, y) of the same kind and dtype.
    """
    x1, y1, x2, y2 = (bboxes[..., i] for i in range(4))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return _stack([_stack([cx, y1], -1), _stack([x2, cy], -1),
                   _stack([cx, y2], -1), _stack([x1, cy], -1)], 1)


def flip_boxes(bboxes, width: float):
    """Flip (N, 4) boxes (ndarray or Tensor) horizontally in an image of ``width`` pixels."""
    flipped = bboxes.clone() if hasattr(bboxes, 'clone') else bboxes.copy()
    flipped[..., 0] = width - bboxes[..., 2]
    flipped[..., 2] = width - bboxes[..., 0]
    return flipped


def flip_knots(knots: np.ndarray, width: float, flip_indices: Sequence[int]) -> np.ndarray:
    """Flip (N, K, 2) knots horizontally and reorder them (left and right swap names)."""
    flipped = knots[:, list(flip_indices)].copy()
    flipped[..., 0] = width - flipped[..., 0]
    return flipped


def boxes_to_original(bboxes, scale_factor: Sequence[float],
                      pad: Optional[Sequence[float]] = None, flip: bool = False,
                      img_shape: Optional[Sequence[int]] = None):
    """Map (N, 4) boxes from input pixels back to original-frame pixels.

    The inverse of what the clip transforms did, read from a data sample's metainfo
    (``scale_factor``, ``pad``, ``flip``, ``img_shape``): undo the flip (applied last, on the
    input image), then the letterbox pad and the resize.

    Args:
        bboxes: (N, 4) boxes x1 y1 x2 y2 in input pixels, an ndarray or a Tensor.
        scale_factor: (sx, sy).
        pad: (left, top) offset; zero when absent.
        flip: Whether the input was flipped horizontally.
        img_shape: (H, W) of the input; needed when ``flip``.

    Returns:
        (N, 4) boxes in original pixels, of the kind and dtype of ``bboxes``.
    """
    if flip:
        if img_shape is None:
            raise ValueError('boxes_to_original: img_shape is needed to undo a flip')
        bboxes = flip_boxes(bboxes, img_shape[1])
    sx, sy = (float(v) for v in scale_factor)
    px, py = (0., 0.) if pad is None else (float(v) for v in pad)
    return (bboxes - _like(bboxes, [px, py, px, py])) / _like(bboxes, [sx, sy, sx, sy])


def _like(array, values):
    """``values`` as an array of ``array``'s kind, dtype and device."""
    if isinstance(array, np.ndarray):
        return np.asarray(values, dtype=array.dtype)
    return array.new_tensor(values)
