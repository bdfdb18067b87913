"""Keeping a clip's boxes, knots and pixel map in step with the resize, crop and flip ops.

Every geometric transform keeps the map from original-frame pixels to input pixels in three
results keys (``scale_factor``, ``pad``, ``flip``; see :mod:`point3d_mm.structures.geometry`,
whose :func:`~point3d_mm.structures.geometry.boxes_to_original` inverts it).
"""
from typing import Dict, Tuple

import numpy as np

#: Results keys holding (N, 4) boxes x1 y1 x2 y2 in input pixels.
BOX_KEYS = ('gt_bboxes', 'proposals')
#: Results keys holding one row per ground-truth box; a transform that drops boxes drops the
#: same rows from each (``gt_labels`` may be (N,) class indices or mmaction2's (N, C) AVA
#: multi-hot labels).
INSTANCE_KEYS = ('gt_bboxes', 'gt_labels', 'gt_frame_inds', 'gt_track_ids', 'gt_knots',
                 'entity_ids')


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
