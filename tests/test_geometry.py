"""One geometry for numpy arrays and torch tensors: both kinds give the same numbers, and the
map back to the original frame inverts what the clip transforms did."""
import numpy as np
import torch

from point3d_mm.structures.geometry import (
    BOX_KNOT_FLIP_INDICES,
    box_knots,
    boxes_to_original,
    flip_boxes,
    flip_knots,
)

BOXES = np.array([[10., 8., 30., 40.], [44., 20., 70., 52.]], np.float32)


def test_box_knots_by_hand():
    knots = box_knots(BOXES)
    np.testing.assert_array_equal(knots[0], [[20, 8], [30, 24], [20, 40], [10, 24]])
    assert knots.shape == (2, 4, 2) and knots.dtype == np.float32


def test_numpy_and_torch_agree():
    np.testing.assert_array_equal(box_knots(torch.from_numpy(BOXES)).numpy(), box_knots(BOXES))
    meta = dict(scale_factor=(1.6, 2.0), pad=(3.0, 5.0), flip=True, img_shape=(100, 120))
    from_numpy = boxes_to_original(BOXES, **meta)
    from_torch = boxes_to_original(torch.from_numpy(BOXES), **meta).numpy()
    np.testing.assert_allclose(from_torch, from_numpy, rtol=0, atol=1e-5)
    assert from_numpy.dtype == np.float32


def test_to_original_inverts_resize_pad_and_flip():
    scale, pad, width = np.array([1.6, 2.0]), np.array([3.0, 5.0]), 120
    forward = BOXES * np.tile(scale, 2) + np.tile(pad, 2)
    forward = flip_boxes(forward.astype(np.float32), width)
    back = boxes_to_original(forward, scale, pad, flip=True, img_shape=(100, width))
    np.testing.assert_allclose(back, BOXES, atol=1e-4)


def test_flipped_knots_are_the_knots_of_the_flipped_box():
    flipped = flip_knots(box_knots(BOXES), 120, BOX_KNOT_FLIP_INDICES)
    np.testing.assert_allclose(flipped, box_knots(flip_boxes(BOXES, 120)))
