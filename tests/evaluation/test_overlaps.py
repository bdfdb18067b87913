"""IoUs of boxes and tubes and NMS, on cases worked out by hand."""
import numpy as np
import pytest

from point3d_mm.evaluation.functional import iou2d, nms2d, paired_iou, tube_iou, tube_nms


def test_iou2d_with_and_without_plus_one():
    a = np.array([[0, 0, 9, 9]], float)
    b = np.array([[5, 0, 14, 9], [20, 20, 29, 29], [0, 0, 9, 9]], float)
    # +1: boxes are 10x10 pixels; a∩b0 is 5x10 = 50, union 100 + 100 - 50 = 150.
    np.testing.assert_allclose(iou2d(a, b, plus_one=True), [[50 / 150, 0, 1]])
    # no +1: boxes are 9x9 = 81; a∩b0 is 4x9 = 36, union 162 - 36 = 126.
    np.testing.assert_allclose(iou2d(a, b), [[36 / 126, 0, 1]])
    assert iou2d(b, a).shape == (3, 1)
    np.testing.assert_allclose(paired_iou(b, np.repeat(a, 3, 0), plus_one=True),
                               [50 / 150, 0, 1])


def test_iou2d_empty_and_degenerate():
    assert iou2d(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)
    # Two zero-area boxes: union 0 gives 0, not nan.
    point = np.array([[5, 5, 5, 5]], float)
    assert iou2d(point, point)[0, 0] == 0
    # With +1 a "point" box is one pixel.
    assert iou2d(point, point, plus_one=True)[0, 0] == 1


def _tube(first, last, box=(0, 0, 9, 9)):
    frames = np.arange(first, last + 1, dtype=float)
    return np.column_stack([frames, np.tile(box, (len(frames), 1))])


def test_tube_iou_act_and_voc():
    a, b = _tube(1, 4), _tube(3, 6)
    # act: overlap frames 3..4 (2), union 1..6 (6), boxes equal -> 2/6.
    assert tube_iou(a, b, 'act') == pytest.approx(1 / 3)
    # voc: (4 - 3) / (6 - 1) = 1/5.
    assert tube_iou(a, b, 'voc') == pytest.approx(1 / 5)
    shifted = _tube(3, 6, box=(5, 0, 14, 9))
    assert tube_iou(a, shifted, 'act') == pytest.approx(1 / 3 * 50 / 150)
    assert tube_iou(a, shifted, 'voc') == pytest.approx(1 / 5 * 36 / 126)
    assert tube_iou(_tube(1, 3), _tube(5, 9), 'act') == 0
    # voc with both tubes on the same single frame: mmaction2 divides 0 by 0; we give 0.
    assert tube_iou(_tube(2, 2), _tube(2, 2), 'voc') == 0
    assert tube_iou(_tube(2, 2), _tube(2, 2), 'act') == 1


def test_tube_iou_counts_a_hole_as_zero():
    holed = _tube(1, 4)[[0, 1, 3]]  # frames 1, 2, 4
    # overlap 1..4: per-frame IoUs 1, 1, 0 (frame 3 missing), 1 -> mean 0.75; temporal 1.
    assert tube_iou(_tube(1, 4), holed, 'act') == pytest.approx(0.75)
    with pytest.raises(ValueError, match='protocol'):
        tube_iou(holed, holed, 'coco')


def test_nms2d_and_tube_nms():
    boxes = np.array([[0, 0, 9, 9], [1, 0, 10, 9], [30, 30, 39, 39]], float)
    # Box 1 overlaps box 0 by 0.818 (+1): suppressed at 0.6; ties keep input order.
    assert nms2d(boxes, np.array([0.5, 0.9, 0.5]), 0.6, plus_one=True).tolist() == [1, 2]
    assert nms2d(boxes, np.array([0.5, 0.5, 0.5]), 0.9, plus_one=True).tolist() == [0, 1, 2]
    tubes = [_tube(1, 10), _tube(1, 5), _tube(20, 30)]
    # tube 1 vs tube 0: act IoU 5/10 = 0.5 > 0.3 -> dropped; tube 2 does not overlap.
    assert tube_nms(tubes, [0.9, 0.8, 0.1], 0.3).tolist() == [0, 2]
    assert tube_nms(tubes, [0.9, 0.8, 0.1], 0.5).tolist() == [0, 1, 2]
