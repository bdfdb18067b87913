"""Box and knot-point geometry shared by the clip transforms and the model.

Coordinates are continuous pixels (mmdet's convention): a horizontal flip maps ``x`` to
``W - x``. Every geometric transform keeps the map from original-frame pixels to input pixels
in three results keys, so that predictions can be mapped back (:func:`boxes_to_original`)::

    input = F(original * scale_factor + pad),   F(x) = W - x if flip else x,  F(y) = y

where ``W`` is the input width (``img_shape[1]``).
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

#: Default knot points: midpoints of the box's four edges, in this order.
BOX_KNOT_NAMES = ('top', 'right', 'bottom', 'left')
#: Knot order after a horizontal flip: right and left swap, top and bottom stay.
BOX_KNOT_FLIP_INDICES = (0, 3, 2, 1)

#: Results keys holding (N, 4) boxes x1 y1 x2 y2 in input pixels.
BOX_KEYS = ('gt_bboxes', 'proposals')
#: Results keys holding one row per ground-truth box; a transform that drops boxes drops the
#: same rows from each (``gt_labels`` may be (N,) class indices or mmaction2's (N, C) AVA
#: multi-hot labels).
INSTANCE_KEYS = ('gt_bboxes', 'gt_labels', 'gt_frame_inds', 'gt_track_ids', 'gt_knots',
                 'entity_ids')


def boxes_to_knots(bboxes: np.ndarray) -> np.ndarray:
    """Derive the default K=4 knot points from boxes.

    Args:
        bboxes: (N, 4) boxes x1 y1 x2 y2.

    Returns:
        (N, 4, 2) float32 knots (x, y): midpoints of the top, right, bottom and left edges.
    """
    bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
    x1, y1, x2, y2 = bboxes.T
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.stack([
        np.stack([cx, y1], axis=-1),
        np.stack([x2, cy], axis=-1),
        np.stack([cx, y2], axis=-1),
        np.stack([x1, cy], axis=-1),
    ], axis=1)


def flip_boxes(bboxes: np.ndarray, width: float) -> np.ndarray:
    """Flip (N, 4) boxes horizontally in an image of ``width`` pixels."""
    flipped = bboxes.copy()
    flipped[..., 0] = width - bboxes[..., 2]
    flipped[..., 2] = width - bboxes[..., 0]
    return flipped


def flip_knots(knots: np.ndarray, width: float, flip_indices: Sequence[int]) -> np.ndarray:
    """Flip (N, K, 2) knots horizontally and reorder them (left and right swap names)."""
    flipped = knots[:, list(flip_indices)].copy()
    flipped[..., 0] = width - flipped[..., 0]
    return flipped


def affine_results(results: Dict, scale: Tuple[float, float], offset: Tuple[float, float],
                   new_shape: Tuple[int, int]) -> None:
    """Apply ``x' = scale * x + offset`` to every box and knot of ``results``, in place.

    Also updates ``scale_factor``, ``pad`` and ``img_shape`` so that the module-level map from
    original pixels stays exact whatever the order of resize, crop and flip.

    Args:
        results: The pipeline's results dict; ``img_shape`` is the shape before the op.
        scale: (sx, sy) resize factors of this op.
        offset: (ox, oy) translation of this op after scaling (letterbox pad, or minus the
            crop origin).
        new_shape: (h, w) of the images after the op.
    """
    sx, sy = scale
    ox, oy = offset
    for key in BOX_KEYS:
        if key in results:
            results[key] = (results[key] * np.array([sx, sy, sx, sy], np.float32) +
                            np.array([ox, oy, ox, oy], np.float32)).astype(np.float32)
    if 'gt_knots' in results:
        results['gt_knots'] = (results['gt_knots'] * np.array([sx, sy], np.float32) +
                               np.array([ox, oy], np.float32)).astype(np.float32)

    old_w = results['img_shape'][1]
    new_h, new_w = new_shape
    scale_factor = np.asarray(results.get('scale_factor', (1., 1.)), np.float64)
    pad = np.asarray(results.get('pad', (0., 0.)), np.float64)
    pad = pad * np.array([sx, sy]) + np.array([ox, oy])
    if results.get('flip', False):
        # With a flip in the map, F(x) = W - x uses the *current* width, so an op after the
        # flip moves the pad by the change of width rather than by the offset:
        # sx*(W - u) + ox = W' - (sx*u + W' - sx*W - ox).
        pad[0] = pad[0] - 2 * ox + new_w - sx * old_w
    results['scale_factor'] = scale_factor * np.array([sx, sy])
    results['pad'] = pad
    results['img_shape'] = (new_h, new_w)


def boxes_to_original(bboxes: np.ndarray, scale_factor: Sequence[float],
                      pad: Optional[Sequence[float]] = None, flip: bool = False,
                      img_shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """Map (N, 4) boxes from input pixels back to original-frame pixels.

    The inverse of what the clip transforms did, read from a data sample's metainfo
    (``scale_factor``, ``pad``, ``flip``, ``img_shape``).

    Args:
        bboxes: (N, 4) boxes x1 y1 x2 y2 in input pixels.
        scale_factor: (sx, sy).
        pad: (left, top) offset; zero when absent.
        flip: Whether the input was flipped horizontally.
        img_shape: (H, W) of the input; needed when ``flip``.

    Returns:
        (N, 4) float32 boxes in original pixels.
    """
    bboxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    if flip:
        if img_shape is None:
            raise ValueError('boxes_to_original: img_shape is needed to undo a flip')
        bboxes = flip_boxes(bboxes, img_shape[1])
    sx, sy = scale_factor
    px, py = (0., 0.) if pad is None else pad
    out = (bboxes - np.array([px, py, px, py])) / np.array([sx, sy, sx, sy])
    return out.astype(np.float32)
