"""TubeLinker links noisy per-frame detections of known tubes back into those tubes."""
import numpy as np
import pytest
from mmaction.registry import TASK_UTILS

from point3d_mm.evaluation.functional import (
    TubeLinker,
    ViterbiTubeLinker,
    tube_iou,
    video_ap,
    viterbi_trim,
)


def _track(frames, x0, vx, y0=60.0, size=(40.0, 80.0)):
    """Ground-truth tube: a box moving at constant velocity, rows frame, x1, y1, x2, y2."""
    frames = np.asarray(frames, dtype=np.float64)
    x = x0 + vx * (frames - frames[0])
    return np.column_stack([frames, x, np.full_like(x, y0), x + size[0],
                            np.full_like(x, y0 + size[1])])


def _scene():
    """One video, 60 frames: two class-0 actors crossing; a class-1 actor who leaves for 20
    frames and comes back (two ground-truth tubes)."""
    return {0: [_track(range(1, 61), 20, 3.5), _track(range(1, 61), 230, -3.5)],
            1: [_track(range(1, 21), 300, 0.5, y0=150), _track(range(41, 61), 310, -0.5, y0=150)]}


def _noisy_detections(tubes, rng, miss=0.1, gap=(25, 28)):
    """Per-frame detections: jittered true boxes (some missed, plus a 3-frame gap of the
    first actor right at the crossing), each also reported with low scores for the other
    class, and random false positives."""
    rows = []
    for label, label_tubes in tubes.items():
        for t, tube in enumerate(label_tubes):
            for row in tube:
                if rng.random() < miss or (label == 0 and t == 0 and gap[0] <= row[0] < gap[1]):
                    continue
                box = row[1:] + rng.normal(0, 2.5, 4)
                rows.append([row[0], label, rng.uniform(0.5, 0.95), *box])
                rows.append([row[0], 1 - label, rng.uniform(0.01, 0.2), *box])
    for frame in range(1, 61):
        for _ in range(2):
            xy = rng.uniform(0, 400, 2)
            rows.append([frame, rng.integers(2), rng.uniform(0.01, 0.4), *xy, *xy + 40])
    return np.array(rows)


def test_links_crossing_gaps_and_reentry_back_to_the_true_tubes():
    gt_tubes = _scene()
    gt = dict(labels=['walk', 'wave'], gttubes={})
    tubes = {}
    linker = TASK_UTILS.build(dict(type='TubeLinker'))
    for seed in range(4):
        video = f'v{seed}'
        gt['gttubes'][video] = gt_tubes
        tubes[video] = linker(_noisy_detections(gt_tubes, np.random.default_rng(seed)))
    result = video_ap(gt, tubes, list(gt['gttubes']), iou_thrs=(0.5,), average_thrs=None)
    assert result['ap']['0.5'][0] >= 0.95 and result['ap']['0.5'][1] >= 0.95
    # The crossing actors keep their identity: each true tube has a linked tube over 0.8.
    best = [max(tube_iou(g, t, 'act') for label, _, t in tubes['v0'] if label == 0)
            for g in gt_tubes[0]]
    assert min(best) > 0.8
    # Re-entry starts a new tube rather than bridging the 20-frame absence.
    assert all(len(t) <= 25 for label, score, t in tubes['v0'] if label == 1 and score > 0.4)


def test_motion_model_keeps_crossing_actors_apart():
    # Linking to the last box (motion_window=1, the original linking) swaps or breaks the
    # crossing actors' tubes; the constant-velocity fit does not.
    gt_tubes = _scene()
    gt = dict(labels=['walk', 'wave'], gttubes={'v0': gt_tubes})
    dets = _noisy_detections(gt_tubes, np.random.default_rng(0))
    walk_ap = {window: video_ap(gt, {'v0': TubeLinker(motion_window=window)(dets)}, ['v0'],
                                iou_thrs=(0.5,), average_thrs=None)['ap']['0.5'][0]
               for window in (1, 10)}
    assert walk_ap[10] == 1 and walk_ap[1] < 0.5


def test_output_format_gaps_are_interpolated_and_inputs_accepted():
    gt = _track([1, 2, 3, 6, 7, 8], 10, 2.0)
    dets = np.column_stack([gt[:, 0], np.zeros(6), np.full(6, 0.8), gt[:, 1:]])
    tubes = TubeLinker(max_gap=2)(dets)
    assert len(tubes) == 1
    label, score, tube = tubes[0]
    assert label == 0 and score == pytest.approx(0.8)
    np.testing.assert_array_equal(tube[:, 0], np.arange(1, 9))
    # Frames 4 and 5 are interpolated between the boxes of frames 3 and 6.
    np.testing.assert_allclose(tube[3, 1:], gt[2, 1:] + (gt[3, 1:] - gt[2, 1:]) / 3)
    # A gap longer than max_gap ends the tube.
    assert len(TubeLinker(max_gap=1, min_length=1)(dets)) == 2
    # The (D, 8) format with a leading video index and link_videos.
    with_video = np.column_stack([np.zeros(6), dets])
    assert len(TubeLinker(max_gap=2)(with_video)) == 1
    linked = TubeLinker(max_gap=2).link_videos(
        np.concatenate([with_video, with_video + [1, 0, 0, 0, 0, 0, 0, 0]]), ['a', 'b'])
    assert set(linked) == {'a', 'b'}
    assert TubeLinker()(np.zeros((0, 7))) == []
    with pytest.raises(ValueError, match='detections'):
        TubeLinker()(np.zeros((3, 5)))


def test_viterbi_trimming():
    scores = np.array([0.01, 0.02, 0.9, 0.8, 0.9, 0.85, 0.9, 0.01, 0.01, 0.01])
    # Dropping the 3 low tail frames gains 3*(0.3-0.01) - 1 switch (0.5) = 0.37 > 0; the
    # 2 low head frames: 2*0.29 - 0.5 = 0.08 > 0.
    np.testing.assert_array_equal(viterbi_trim(scores, 0.3, 0.5),
                                  [0, 0, 1, 1, 1, 1, 1, 0, 0, 0])
    # With a larger switch cost only the tail is worth trimming.
    np.testing.assert_array_equal(viterbi_trim(scores, 0.3, 0.7),
                                  [1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
    assert viterbi_trim(scores, 0.0, 0.5).all()
    # A short dip does not split a tube; a long one does.
    dip = np.array([0.9] * 5 + [0.0] * 2 + [0.9] * 5)
    assert viterbi_trim(dip, 0.3, 1.0).all()
    long_dip = np.array([0.9] * 5 + [0.0] * 8 + [0.9] * 5)
    assert viterbi_trim(long_dip, 0.3, 1.0).sum() == 10
    tube = _track(range(1, 11), 10, 0.0)
    dets = np.column_stack([tube[:, 0], np.zeros(10), scores, tube[:, 1:]])
    (label, score, trimmed), = TubeLinker(trim_score=0.3, switch_penalty=0.5)(dets)
    np.testing.assert_array_equal(trimmed[:, 0], np.arange(3, 8))
    assert score == pytest.approx(np.mean(scores[2:7]))


@pytest.mark.parametrize('linker_class', [TubeLinker, ViterbiTubeLinker])
def test_both_linkers_check_input_and_settings_alike(linker_class):
    """The checks live in TubeLinkerBase; each linker names itself in its errors."""
    name = linker_class.__name__
    box = [10.0, 10.0, 50.0, 90.0]
    linker = linker_class()
    with pytest.raises(ValueError, match=rf'^{name}: detection row 1 holds NaN'):
        linker(np.array([[1, 0, 0.5, *box], [2, 0, np.nan, *box]]))
    with pytest.raises(ValueError, match=rf'^{name}: detection row 0 has a frame or label '):
        linker(np.array([[1, -1, 0.5, *box]]))
    with pytest.raises(ValueError, match=rf'^{name}: video index 2 or 2 is outside the 2 '):
        linker.link_videos(np.array([[2, 1, 0, 0.5, *box]]), ['a', 'b'])
    with pytest.raises(ValueError, match=rf'^{name}: wrong setting\(s\) max_gap=-1 \(need an '
                       r'integer in \[0, 1000000\]\), min_length=0 \(need an integer in '
                       r'\[1, 1000000\]\)$'):
        linker_class(max_gap=-1, min_length=0)
    # A negative video index names a video from the end, as list indexing does.
    rows = np.array([[-1, frame, 0, 0.9, *box] for frame in (1, 2, 3)])
    tubes = linker_class(min_length=1).link_videos(rows, ['a', 'b'])
    assert list(tubes) == ['b'] and len(tubes['b']) == 1
    assert tubes['b'][0][2].tolist() == [[frame, *box] for frame in (1.0, 2.0, 3.0)]
