"""video-AP on tiny cases worked out by hand, under both protocols."""
import numpy as np
import pytest

from point3d_mm.evaluation.functional import video_ap

A = (0, 0, 9, 9)


def _tube(first, last, box=A):
    frames = np.arange(first, last + 1, dtype=float)
    return np.column_stack([frames, np.tile(box, (len(frames), 1))])


GT = dict(labels=['a', 'b', 'c'],
          gttubes={'v0': {0: [_tube(1, 10)]},
                   'v1': {0: [_tube(1, 10)], 1: [_tube(1, 10)]}})
TUBES = {
    'v0': [(0, 0.9, _tube(1, 10)),   # exact: IoU 1
           (0, 0.8, _tube(1, 5))],   # duplicate; act IoU 5/10 = .5, voc 4/9 = .444
    'v1': [(0, 0.7, _tube(1, 6)),    # act IoU 6/10 = .6, voc (6-1)/(10-1) = .556
           (1, 0.6, _tube(3, 10))],  # act IoU 8/10 = .8, voc 7/9 = .778
}
THRS = (0.5, 0.6, 0.75)


def test_video_ap_act_without_nms():
    result = video_ap(GT, TUBES, ['v0', 'v1'], THRS, 'act', average_thrs=None, nms_thr=1.0)
    # class a, 2 gts. @.5 and @.6: T F(duplicate) T: precision 1, 1/2, 2/3; recall
    # 1/2, 1/2, 1 -> .5 + 0 + .5*(1/2+2/3)/2 = 19/24. @.75: T F F -> .5.
    # class b: T at every threshold <= .8 -> 1. class c: no gt -> nan, not averaged.
    np.testing.assert_allclose(result['ap']['0.5'], [19 / 24, 1, np.nan])
    np.testing.assert_allclose(result['ap']['0.6'], [19 / 24, 1, np.nan])
    np.testing.assert_allclose(result['ap']['0.75'], [0.5, 1, np.nan])
    assert result['mAP'] == pytest.approx({'0.5': (19 / 24 + 1) / 2,
                                           '0.6': (19 / 24 + 1) / 2, '0.75': 0.75})
    assert result['num_gt'].tolist() == [2, 1, 0] and result['num_det'].tolist() == [3, 1, 0]


def test_video_ap_act_applies_acts_tube_nms():
    # ACT.py runs tube NMS at 0.3 per video and class: the duplicate (IoU .5) goes, so
    # class a @.5 is T T -> 1.
    result = video_ap(GT, TUBES, ['v0', 'v1'], THRS, 'act', average_thrs=None)
    np.testing.assert_allclose(result['ap']['0.5'], [1, 1, np.nan])
    assert result['num_det'].tolist() == [2, 1, 0]


def test_video_ap_voc():
    result = video_ap(GT, TUBES, ['v0', 'v1'], THRS, 'voc', average_thrs=None)
    # class a @.5: T F T -> monotone precision 1, 2/3 -> .5 + .5*2/3 = 5/6.
    # @.6: the v1 tube (.556) fails: T F F -> .5.  class b (.778): T at .5, .6, .75.
    np.testing.assert_allclose(result['ap']['0.5'], [5 / 6, 1, np.nan])
    np.testing.assert_allclose(result['ap']['0.6'], [0.5, 1, np.nan])
    np.testing.assert_allclose(result['ap']['0.75'], [0.5, 1, np.nan])


def test_video_ap_average_and_edge_cases():
    full = video_ap(GT, TUBES, ['v0', 'v1'], protocol='act')
    assert set(full['mAP']) == {'0.1', '0.2', '0.5', '0.75', '0.5:0.95'}
    each = video_ap(GT, TUBES, ['v0', 'v1'], [0.5 + 0.05 * i for i in range(10)], 'act',
                    average_thrs=None)
    assert full['mAP']['0.5:0.95'] == pytest.approx(np.mean(list(each['mAP'].values())))
    # No tubes: every class with ground truth scores 0; tubes of other videos are ignored.
    empty = video_ap(GT, {'elsewhere': TUBES['v0']}, ['v0', 'v1'], THRS, average_thrs=None)
    np.testing.assert_allclose(empty['ap']['0.5'], [0, 0, np.nan])
    with pytest.raises(ValueError, match='outside'):
        video_ap(GT, {'v0': [(7, 0.5, _tube(1, 3))]}, ['v0'])
