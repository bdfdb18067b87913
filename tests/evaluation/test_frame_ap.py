"""frame-AP on tiny cases worked out by hand, under both protocols.

Notation in the comments: T/F = true/false positive in descending score order; ACT AP is the
trapezoid rule over (recall, precision) points starting at (0, 1); VOC AP sums recall steps
times the precision made non-increasing from the right.
"""
import numpy as np
import pytest

from point3d_mm.evaluation.functional import average_precision, class_agnostic, frame_ap

A = [0, 0, 9, 9]
B = [20, 20, 29, 29]
FAR = [50, 50, 59, 59]


def _gt(labels, tubes):
    """ACT ground truth from ``{video: {label: [[(frame, box), ...], ...]}}``."""
    gttubes = {video: {label: [np.array([[f, *box] for f, box in tube], np.float32)
                               for tube in label_tubes]
                       for label, label_tubes in per_label.items()}
               for video, per_label in tubes.items()}
    return dict(labels=labels, gttubes=gttubes)


def _dets(rows):
    return np.array([[v, f, c, s, *box] for v, f, c, s, box in rows], float).reshape(-1, 8)


def test_average_precision_rules():
    # T F T, 2 ground truths. precision 1, 1/2, 2/3; recall 1/2, 1/2, 1.
    # ACT: (0,1)->(.5,1): .5; (.5,1)->(.5,.5): 0; (.5,.5)->(1,2/3): .5*(.5+2/3)/2 = 7/24.
    assert average_precision(np.array([1, 0, 1], bool), 2, 'act') == pytest.approx(19 / 24)
    # VOC: precision made monotone 1, 2/3, 2/3 -> .5*1 + .5*2/3 = 5/6.
    assert average_precision(np.array([1, 0, 1], bool), 2, 'voc') == pytest.approx(5 / 6)
    assert average_precision(np.zeros(0, bool), 3, 'act') == 0
    assert average_precision(np.zeros(0, bool), 3, 'voc') == 0
    assert np.isnan(average_precision(np.ones(2, bool), 0, 'act'))


def test_duplicates_and_misses():
    gt = _gt(['run'], {'v0': {0: [[(1, A), (2, A), (3, A)]]}, 'v1': {0: [[(1, B)]]}})
    dets = _dets([
        (0, 1, 0, 0.9, A),    # T
        (0, 1, 0, 0.8, A),    # F: duplicate of the frame-1 box
        (0, 2, 0, 0.7, A),    # T
        (0, 3, 0, 0.6, FAR),  # F: wrong place
        (0, 3, 0, 0.5, A),    # T; the v1 box is never found (a miss)
    ])
    # 4 gts. precision 1, 1/2, 2/3, 1/2, 3/5; recall 1/4, 1/4, 1/2, 1/2, 3/4.
    # ACT: .25*(1+1)/2 + .25*(1/2+2/3)/2 + .25*(1/2+3/5)/2 = .25 + 7/48 + .1375 = 0.533333.
    act = frame_ap(gt, dets, ['v0', 'v1'], protocol='act')
    assert act['ap'][0] == pytest.approx(0.25 + 7 / 48 + 0.1375)
    assert act['mAP'] == act['ap'][0]
    assert act['num_gt'].tolist() == [4] and act['num_det'].tolist() == [5]
    # VOC: monotone precision 1, 1, 2/3, 2/3, 3/5 -> .25*1 + .25*2/3 + .25*3/5 = 0.566667.
    voc = frame_ap(gt, dets, ['v0', 'v1'], protocol='voc')
    assert voc['ap'][0] == pytest.approx(0.25 + 0.25 * 2 / 3 + 0.25 * 0.6)


def test_act_takes_the_next_free_ground_truth_voc_does_not():
    # Two overlapping people in one frame. Detection y overlaps G1 best, G1 is taken by x.
    g1, g2 = [0, 0, 9, 9], [3, 0, 12, 9]
    gt = _gt(['a'], {'v0': {0: [[(1, g1)], [(1, g2)]]}})
    dets = _dets([(0, 1, 0, 0.9, g1), (0, 1, 0, 0.8, [1, 0, 10, 9])])
    # act (+1): IoU(y, G1) = 90/110 = .818, IoU(y, G2) = 80/120 = .667 >= .5, G2 free -> T T.
    assert frame_ap(gt, dets, ['v0'], protocol='act')['ap'][0] == pytest.approx(1.0)
    # voc: y's best is G1 (72/90 = .8 vs 63/99 = .636), already matched -> duplicate, T F:
    # precision 1, 1/2; recall 1/2, 1/2 -> AP .5.
    assert frame_ap(gt, dets, ['v0'], protocol='voc')['ap'][0] == pytest.approx(0.5)


def test_unmatched_and_empty_classes():
    gt = _gt(['a', 'b', 'c', 'd'], {'v0': {0: [[(1, A)]]},
                                    'v1': {1: [[(1, B)]], 3: [[(2, B)]]}})
    dets = _dets([
        (0, 1, 2, 0.9, A),  # class c has no ground truth anywhere: not scored
        (0, 1, 1, 0.8, A),  # class b, but v0 has no b: F
        (0, 1, 0, 0.7, A),  # class a: T
        (1, 1, 1, 0.6, B),  # class b: T
    ])                      # class d: one gt, no detection -> AP 0
    # b: F T, 1 gt. ACT: (0,1)->(0,0): 0; (0,0)->(1,1/2): 1*(0+1/2)/2 = 1/4. VOC: 1*1/2.
    act = frame_ap(gt, dets, ['v0', 'v1'], protocol='act')
    np.testing.assert_allclose(act['ap'], [1, 0.25, np.nan, 0])
    assert act['mAP'] == pytest.approx((1 + 0.25 + 0) / 3)
    assert act['num_det'].tolist() == [1, 2, 1, 0]
    voc = frame_ap(gt, dets, ['v0', 'v1'], protocol='voc')
    np.testing.assert_allclose(voc['ap'], [1, 0.5, np.nan, 0])
    assert voc['mAP'] == pytest.approx(0.5)
    # Scoring only v0: classes b and d then have no ground truth.
    only_v0 = frame_ap(gt, dets[dets[:, 0] == 0], ['v0'], protocol='act')
    np.testing.assert_allclose(only_v0['ap'], [1, np.nan, np.nan, np.nan])


def test_score_ties_keep_input_order():
    gt = _gt(['a'], {'v0': {0: [[(1, A), (2, A)]]}})
    rows = [(0, 1, 0, 0.5, FAR), (0, 1, 0, 0.5, A), (0, 2, 0, 0.5, A)]
    # F T T: precision 0, 1/2, 2/3; recall 0, 1/2, 1.
    # ACT: 0 + .5*(0+1/2)/2 + .5*(1/2+2/3)/2 = 1/8 + 7/24 = 5/12. VOC: .5*2/3 + .5*2/3 = 2/3.
    assert frame_ap(gt, _dets(rows), ['v0'])['ap'][0] == pytest.approx(5 / 12)
    assert frame_ap(gt, _dets(rows), ['v0'], protocol='voc')['ap'][0] == pytest.approx(2 / 3)
    # T T F: both protocols give 1.
    assert frame_ap(gt, _dets(rows[::-1]), ['v0'])['ap'][0] == pytest.approx(1)


def test_all_versus_annotated_frames():
    gt = _gt(['a', 'b'], {'v0': {0: [[(1, A)]], 1: [[(5, B)]]}})
    dets = _dets([
        (0, 7, 0, 0.95, A),  # frame 7 has no box at all: dropped when frames='annotated'
        (0, 5, 0, 0.9, A),   # frame 5 has a box of class b: scored either way (F)
        (0, 1, 0, 0.8, A),   # T
    ])
    # all: F F T -> ACT 1*(0+1/3)/2 = 1/6, VOC 1/3.  annotated: F T -> ACT 1/4, VOC 1/2.
    expected = {('act', 'all'): 1 / 6, ('voc', 'all'): 1 / 3,
                ('act', 'annotated'): 1 / 4, ('voc', 'annotated'): 1 / 2}
    for (protocol, frames), ap in expected.items():
        result = frame_ap(gt, dets, ['v0'], protocol=protocol, frames=frames)
        assert result['ap'][0] == pytest.approx(ap), (protocol, frames)


def test_excluded_labels_and_bad_input():
    gt = _gt(['a', 'basketball save'], {'v0': {0: [[(1, A)]], 1: [[(1, B)]]}})
    dets = _dets([(0, 1, 0, 0.9, A), (0, 1, 1, 0.9, B)])
    # voc skips mmaction2's MultiSports exclusions by default; act does not.
    assert np.isnan(frame_ap(gt, dets, ['v0'], protocol='voc')['ap'][1])
    assert frame_ap(gt, dets, ['v0'], protocol='act')['ap'][1] == 1
    assert np.isnan(frame_ap(gt, dets, ['v0'], exclude_labels=['a'])['ap'][0])
    assert frame_ap(gt, np.zeros((0, 8)), ['v0'])['mAP'] == 0
    with pytest.raises(ValueError, match='video indices'):
        frame_ap(gt, _dets([(1, 1, 0, 0.9, A)]), ['v0'])
    with pytest.raises(ValueError, match='labels'):
        frame_ap(gt, _dets([(0, 1, 5, 0.9, A)]), ['v0'])
    with pytest.raises(ValueError, match='not in the ground truth'):
        frame_ap(gt, dets, ['v0', 'missing'])
    with pytest.raises(ValueError, match='frames'):
        frame_ap(gt, dets, ['v0'], frames='key')


def test_class_agnostic_merges_classes_and_the_rows_of_a_box():
    """Two videos, ground truth of two classes. Box A of v0 frame 1 is written twice (classes
    0 and 1, scores .3 and .2: one detection scored .5); a detection on B of v1 carries the
    wrong class (1 where the truth is 0), which class-agnostic scoring does not see; one
    false alarm at FAR scores .4. Ranked: A (.5, T), FAR (.4, F), B (.35, T): ACT AP =
    .5 + 0 + .5 * (.5 + 2/3) / 2 = 19/24, while with classes the wrong-class B is missed."""
    gt = _gt(['walk', 'run'], {'v0': {0: [[(1, A)]]}, 'v1': {1: [[(1, B)]]}})
    dets = _dets([(0, 1, 0, .3, A), (0, 1, 1, .2, A), (0, 1, 0, .4, FAR), (1, 1, 0, .35, B)])
    merged_gt, merged = class_agnostic(gt, dets)
    assert merged_gt['labels'] == ['actor'] and gt['labels'] == ['walk', 'run']
    assert {v: {k: len(t) for k, t in tubes.items()} for v, tubes in
            merged_gt['gttubes'].items()} == {'v0': {0: 1}, 'v1': {0: 1}}
    np.testing.assert_allclose(merged, _dets([(0, 1, 0, .5, A), (0, 1, 0, .4, FAR),
                                              (1, 1, 0, .35, B)]))
    videos = ['v0', 'v1']
    assert frame_ap(merged_gt, merged, videos)['mAP'] == pytest.approx(19 / 24)
    assert frame_ap(gt, dets, videos)['mAP'] < 19 / 24
