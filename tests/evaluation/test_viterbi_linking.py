"""ViterbiTubeLinker finds Gkioxari & Malik's best paths: hand-computed small cases, and the
same tubes as a brute-force enumeration of every path on random tiny cases."""
import pickle

import numpy as np
import pytest
from mmaction.registry import METRICS, TASK_UTILS

from point3d_mm.evaluation.functional import (
    TubeLinker,
    ViterbiTubeLinker,
    iou2d,
    video_ap,
    viterbi_trim,
)

# Linking alone: no frame NMS, no trimming, no length limit, no tube NMS.
BARE = dict(score_thr=0.0, frame_nms_thr=1.0, max_per_frame=100, trim_score=0.0,
            min_length=1, tube_nms_thr=None, protocol='voc')

A = [0, 0, 10, 10]   # IoU(A, TOP) = IoU(A, BOTTOM) = 50 / 100 = 0.5 ('voc': no +1)
TOP = [0, 0, 10, 5]
BOTTOM = [0, 5, 10, 10]  # IoU(TOP, BOTTOM) = 0: they only share an edge


def _rows(*dets):
    """(N, 7) rows from (frame, label, score, box) tuples."""
    return np.array([[frame, label, score, *box] for frame, label, score, box in dets],
                    dtype=np.float64)


def _as_sets(tubes):
    """Tubes as comparable tuples: label, frames and boxes (rounded), score."""
    return sorted((label, tuple(map(tuple, np.round(t, 9).tolist())), round(score, 9))
                  for label, score, t in tubes)


def test_best_path_differs_from_greedy_linking():
    # Frame 1: A (0.9). Frame 2: TOP (0.9) and BOTTOM (0.6), both IoU 0.5 with A.
    # Frame 3: BOTTOM again (0.9): IoU 1 with BOTTOM, 0 with TOP (no link).
    dets = _rows((1, 0, 0.9, A), (2, 0, 0.9, TOP), (2, 0, 0.6, BOTTOM), (3, 0, 0.9, BOTTOM))
    # Path scores (λ = 1): A-BOTTOM-BOTTOM = 0.9 + 0.6 + 0.9 + 0.5 + 1.0 = 3.9;
    # A-TOP = 0.9 + 0.9 + 0.5 = 2.3; BOTTOM-BOTTOM = 0.6 + 0.9 + 1 = 2.5. The best is the
    # first; TOP is left alone and is the second path (score 0.9).
    tubes = ViterbiTubeLinker(**BARE)(dets)
    assert _as_sets(tubes) == _as_sets([
        (0, 0.8, np.array([[1, *A], [2, *BOTTOM], [3, *BOTTOM]], float)),
        (0, 0.9, np.array([[2, *TOP]], float))])
    # Best first by the mean detection score: TOP alone (0.9) before the 3-frame tube (0.8).
    assert [round(score, 9) for _, score, _ in tubes] == [0.9, 0.8]
    # The greedy online linker takes the locally best link A-TOP (0.9 + 0.9 + 0.5 > 0.9 +
    # 0.6 + 0.5) and is then stuck: TOP does not overlap frame 3's box.
    greedy = TubeLinker(**{k: v for k, v in BARE.items()})(dets)
    assert _as_sets(greedy) == _as_sets([
        (0, 0.9, np.array([[1, *A], [2, *TOP]], float)),
        (0, 0.75, np.array([[2, *BOTTOM], [3, *BOTTOM]], float))])


def test_two_actors_and_repeated_removal():
    # Two actors of class 0 and one detection B shared by both at frame 2.
    # Frame 1: P = [0, 0, 10, 10] (0.5), Q = [0, 5, 10, 15] (0.75)
    # Frame 2: B = [0, 0, 10, 15] (0.5): IoU(P, B) = 100/150 = 2/3, IoU(Q, B) = 2/3.
    # Frame 3: R = [0, 0, 10, 15] (0.5): IoU(B, R) = 1.
    P, Q, B = [0, 0, 10, 10], [0, 5, 10, 15], [0, 0, 10, 15]
    dets = _rows((1, 0, 0.5, P), (1, 0, 0.75, Q), (2, 0, 0.5, B), (3, 0, 0.5, B))
    # Best: Q-B-R = 0.75 + 0.5 + 0.5 + 2/3 + 1 = 3.4167 (P-B-R = 3.1667). Removing it
    # leaves P alone: the second path cannot reuse B.
    tubes = ViterbiTubeLinker(**BARE)(dets)
    assert _as_sets(tubes) == _as_sets([
        (0, (0.75 + 0.5 + 0.5) / 3, np.array([[1, *Q], [2, *B], [3, *B]], float)),
        (0, 0.5, np.array([[1, *P]], float))])
    # Every detection lies on exactly one path.
    assert sum(len(t) for _, _, t in tubes) == len(dets)
    # With the score product term (α = 4) the same paths win:
    # Q-B-R = 3.4167 + 4 (0.375 + 0.25) = 5.9167 > P-B-R = 3.1667 + 4 (0.25 + 0.25) = 5.1667.
    assert _as_sets(ViterbiTubeLinker(**BARE, score_product_weight=4.0)(dets)) == \
        _as_sets(tubes)
    # Classes are linked apart: the same boxes under class 1 give class-1 tubes of their own.
    both = np.concatenate([dets, dets + [0, 1, 0, 0, 0, 0, 0]])
    linked = ViterbiTubeLinker(**BARE)(both)
    assert _as_sets([t for t in linked if t[0] == 1]) == _as_sets(
        [(1, s, t) for _, s, t in tubes])


def test_ties_go_to_the_higher_scored_then_first_listed():
    # Frame 2's TOP and BOTTOM have equal scores and equal IoU with A: A-TOP and A-BOTTOM
    # both score 0.5 + 0.5 + 0.5 = 1.5. The detection listed first ends the first path.
    top_first = _rows((1, 0, 0.5, A), (2, 0, 0.5, TOP), (2, 0, 0.5, BOTTOM))
    tubes = ViterbiTubeLinker(**BARE)(top_first)
    assert [t.tolist() for _, _, t in tubes] == [[[1, *A], [2, *TOP]], [[2, *BOTTOM]]]
    bottom_first = top_first[[0, 2, 1]]
    tubes = ViterbiTubeLinker(**BARE)(bottom_first)
    assert [t.tolist() for _, _, t in tubes] == [[[1, *A], [2, *BOTTOM]], [[2, *TOP]]]
    # Equal predecessors: frame 1's TOP (0.5, IoU 0.5 with A) and LOW (0.75, IoU 0.25 with
    # A) both reach A at frame 2 with 1.0, so TOP-A and LOW-A both score 1.5; the higher
    # scored LOW wins though listed second.
    low = [0, 0, 10, 2.5]  # 25 / 100
    tubes = ViterbiTubeLinker(**BARE)(_rows((1, 0, 0.5, TOP), (1, 0, 0.75, low),
                                            (2, 0, 0.5, A)))
    assert tubes[0][2].tolist() == [[1, *low], [2, *A]]
    # Equally scored too: the first listed.
    same = _rows((1, 0, 0.5, TOP), (1, 0, 0.5, BOTTOM), (2, 0, 0.5, A))
    assert ViterbiTubeLinker(**BARE)(same)[0][2].tolist() == [[1, *TOP], [2, *A]]
    assert ViterbiTubeLinker(**BARE)(same[[1, 0, 2]])[0][2].tolist() == [[1, *BOTTOM],
                                                                          [2, *A]]


def test_gaps_are_bridged_and_interpolated():
    # Frames 1, 2, 5, 6 of one box moving right by 2 px per frame: frames 3 and 4 missed.
    box = lambda f: [2.0 * f, 0, 2.0 * f + 10, 10]  # IoU over 3 frames: 4 / 16 = 0.25
    dets = _rows(*[(f, 0, 0.8, box(f)) for f in (1, 2, 5, 6)])
    (label, score, tube), = ViterbiTubeLinker(**{**BARE, 'max_gap': 2})(dets)
    assert label == 0 and score == pytest.approx(0.8)
    np.testing.assert_allclose(tube, [[f, *box(f)] for f in range(1, 7)])
    # A link may skip at most max_gap frames: with 1, the miss splits the tube.
    split = ViterbiTubeLinker(**{**BARE, 'max_gap': 1})(dets)
    assert sorted(t[:, 0].tolist() for _, _, t in split) == [[1, 2], [5, 6]]
    # link_iou_thr above the IoU across the gap (0.25) splits it too.
    assert len(ViterbiTubeLinker(**{**BARE, 'max_gap': 2, 'link_iou_thr': 0.3})(dets)) == 2


def test_trimming_min_length_and_tube_nms():
    # One box over 6 frames, scores 0.9 x 4 then 0.01 x 2. With trim_score 0.3 and
    # switch_penalty 0.5, cutting the tail gains 2 x (0.3 - 0.01) - 0.5 = 0.08 > 0.
    scores = [0.9, 0.9, 0.9, 0.9, 0.01, 0.01]
    dets = _rows(*[(f + 1, 0, s, A) for f, s in enumerate(scores)])
    settings = {**BARE, 'trim_score': 0.3, 'switch_penalty': 0.5}
    (label, score, tube), = ViterbiTubeLinker(**settings)(dets)
    assert tube[:, 0].tolist() == [1, 2, 3, 4] and score == pytest.approx(0.9)
    assert viterbi_trim(np.array(scores), 0.3, 0.5).tolist() == [1, 1, 1, 1, 0, 0]
    # A switch penalty above 0.58 keeps the tube whole: mean (3.6 + 0.02) / 6.
    (_, score, tube), = ViterbiTubeLinker(**{**settings, 'switch_penalty': 0.6})(dets)
    assert len(tube) == 6 and score == pytest.approx(3.62 / 6)
    # min_length drops the 4-frame tube at 5.
    assert ViterbiTubeLinker(**{**settings, 'min_length': 5})(dets) == []
    # A second box beside the first (IoU 0.5, not a link: link_iou_thr 0.6) makes a second
    # path; tube NMS at 0.3 removes the lower scored of the two overlapping tubes.
    beside = _rows(*[(f, 0, 0.5, TOP) for f in range(1, 5)])
    both = np.concatenate([dets, beside])
    settings.update(link_iou_thr=0.6)
    assert len(ViterbiTubeLinker(**settings)(both)) == 2
    kept = ViterbiTubeLinker(**{**settings, 'tube_nms_thr': 0.3})(both)
    assert [(t[:, 0].tolist(), s) for _, s, t in kept] == [([1, 2, 3, 4], pytest.approx(0.9))]


def test_frame_nms_and_cap_before_linking():
    # Two near-duplicates (IoU 0.9 > 0.6) at frame 1: NMS keeps the higher scored only.
    dup = [0, 0, 10, 9]  # IoU(A, dup) = 90 / 100
    dets = _rows((1, 0, 0.9, A), (1, 0, 0.8, dup), (2, 0, 0.9, A))
    settings = {**BARE, 'frame_nms_thr': 0.6}
    assert _as_sets(ViterbiTubeLinker(**settings)(dets)) == _as_sets(
        [(0, 0.9, np.array([[1, *A], [2, *A]], float))])
    # max_per_frame 1 keeps only the best of frame 1 even without NMS.
    far = [50, 50, 60, 60]
    dets = _rows((1, 0, 0.9, A), (1, 0, 0.8, far))
    assert len(ViterbiTubeLinker(**BARE)(dets)) == 2
    assert len(ViterbiTubeLinker(**{**BARE, 'max_per_frame': 1})(dets)) == 1
    # score_thr drops the 0.8 detection.
    assert len(ViterbiTubeLinker(**{**BARE, 'score_thr': 0.85})(dets)) == 1


def test_empty_input_videos_and_formats():
    linker = ViterbiTubeLinker(**BARE)
    assert linker(np.zeros((0, 7))) == [] and linker([]) == []
    assert linker.link_videos(np.zeros((0, 8)), ['a']) == {}
    dets = _rows((1, 0, 0.9, A), (2, 0, 0.9, A))
    with_video = np.column_stack([np.zeros(2), dets])
    assert _as_sets(linker(with_video)) == _as_sets(linker(dets))
    # Every video with detections gets a list; one whose detections are all under the
    # score threshold gets an empty one; videos are linked apart.
    many = np.concatenate([with_video, with_video + [2, 0, 0, 0, 0, 0, 0, 0],
                           with_video * [1, 1, 1, 0, 1, 1, 1, 1] + [1, 0, 0, 0, 0, 0, 0, 0]])
    linked = ViterbiTubeLinker(**{**BARE, 'score_thr': 0.1}).link_videos(many, ['a', 'b', 'c'])
    assert set(linked) == {'a', 'b', 'c'} and linked['b'] == []
    assert _as_sets(linked['a']) == _as_sets(linked['c']) == _as_sets(linker(dets))


def test_bad_input_errors():
    linker = ViterbiTubeLinker()
    with pytest.raises(ValueError, match=r'\(N, 7\).*got shape \(3, 5\)'):
        linker(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r'\(D, 8\).*got shape \(2, 7\)'):
        linker.link_videos(np.ones((2, 7)), ['a'])
    with pytest.raises(ValueError, match='row 1 holds NaN'):
        linker(_rows((1, 0, 0.5, A), (2, 0, np.nan, A)))
    with pytest.raises(ValueError, match='row 0 .*not a non-negative integer'):
        linker(_rows((1.5, 0, 0.5, A)))
    with pytest.raises(ValueError, match='video index 3 .* 2 videos'):
        linker.link_videos(np.array([[3, 1, 0, 0.5, *A]]), ['a', 'b'])
    with pytest.raises(ValueError, match='not numbers'):
        linker([['a'] * 7])
    with pytest.raises(ValueError, match=r'max_gap=-1 \(need an integer in \[0, 1000000\]\)'):
        ViterbiTubeLinker(max_gap=-1)
    with pytest.raises(ValueError, match='iou_weight'):
        ViterbiTubeLinker(iou_weight=-1.0)
    with pytest.raises(ValueError, match='protocol'):
        ViterbiTubeLinker(protocol='coco')


def _brute_force(dets, iou_weight, product_weight, link_iou_thr, max_gap, plus_one):
    """Gkioxari & Malik by enumeration: per class, score every path of the detections
    left, take the best, remove it, repeat. Tubes as the linker returns them untrimmed."""
    def links(a, b):
        iou = iou2d(np.array([a[3:]]), np.array([b[3:]]), plus_one)[0, 0]
        ok = 1 <= b[0] - a[0] <= max_gap + 1 and iou >= link_iou_thr
        return ok, iou_weight * iou + product_weight * a[2] * b[2]

    def paths(path, left):
        yield path
        for d in left:
            if d[0] > path[-1][0] and links(path[-1], d)[0]:
                yield from paths(path + [d], left)

    tubes = []
    for label in np.unique(dets[:, 1]).astype(int).tolist():
        left = [d for d in dets.tolist() if int(d[1]) == label]
        while left:
            best, best_score = None, -np.inf
            for start in left:
                for path in paths([start], left):
                    score = sum(d[2] for d in path) + sum(
                        links(a, b)[1] for a, b in zip(path, path[1:]))
                    if score > best_score:
                        best, best_score = path, score
            left = [d for d in left if not any(d is p for p in best)]
            frames = np.arange(best[0][0], best[-1][0] + 1)
            boxes = np.column_stack([np.interp(frames, [d[0] for d in best],
                                               [d[3 + k] for d in best]) for k in range(4)])
            tubes.append((label, float(np.mean([d[2] for d in best])),
                          np.column_stack([frames, boxes])))
    return tubes


@pytest.mark.parametrize('seed', range(12))
def test_equals_brute_force_enumeration(seed):
    rng = np.random.default_rng(seed)
    # 2 classes, 4 frames, 1-3 boxes per frame and class (some frames empty), boxes near
    # each other so that many links exist.
    rows = []
    for label in range(2):
        for frame in range(1, 5):
            for _ in range(rng.integers(0, 4) if frame != 3 else rng.integers(0, 2)):
                xy = rng.uniform(0, 12, 2)
                rows.append([frame, label, rng.uniform(0.05, 1), *xy, *xy + rng.uniform(8, 14, 2)])
    dets = np.array(rows)
    settings = dict(iou_weight=float(rng.choice([0.0, 1.0, 2.5])),
                    score_product_weight=float(rng.choice([0.0, 1.0])),
                    link_iou_thr=float(rng.choice([0.0, 0.2, 0.4])),
                    max_gap=int(rng.integers(0, 3)))
    protocol = ('voc', 'act')[seed % 2]
    ours = ViterbiTubeLinker(**{**BARE, **settings, 'protocol': protocol})(dets)
    expected = _brute_force(dets, settings['iou_weight'], settings['score_product_weight'],
                            settings['link_iou_thr'], settings['max_gap'], protocol == 'act')
    assert len(ours) == len(expected)
    for (label, score, tube), (e_label, e_score, e_tube) in zip(
            sorted(ours, key=lambda t: (t[0], t[2][0].tolist(), t[1])),
            sorted(expected, key=lambda t: (t[0], t[2][0].tolist(), t[1]))):
        assert label == e_label and score == pytest.approx(e_score)
        np.testing.assert_allclose(tube, e_tube, atol=1e-9)


def _one_path_at_a_time(dets, link_iou_thr, max_gap):
    """The search in plain Python, one path per forward pass: per class, F(d) = s(d) +
    max(0, max over linked d' of F(d') + IoU(d', d)); the best path ends at the largest F
    and is read back; its detections are removed and the pass is repeated."""
    tubes = []
    for label in np.unique(dets[:, 1]).astype(int).tolist():
        left = sorted((d for d in dets.tolist() if int(d[1]) == label), key=lambda d: d[0])
        while left:
            total, pred = [], []
            for i, d in enumerate(left):
                best, arg = -np.inf, None
                for j in range(i):
                    e = left[j]
                    iou = iou2d(np.array([e[3:]]), np.array([d[3:]]))[0, 0]
                    if 1 <= d[0] - e[0] <= max_gap + 1 and iou >= link_iou_thr and \
                            total[j] + iou > best:
                        best, arg = total[j] + iou, j
                total.append(d[2] + max(best, 0.0))
                pred.append(arg)
            i, path = int(np.argmax(total)), []
            while i is not None:
                path.insert(0, left[i])
                i = pred[i]
            left = [d for d in left if not any(d is p for p in path)]
            frames = np.arange(path[0][0], path[-1][0] + 1)
            boxes = np.column_stack([np.interp(frames, [d[0] for d in path],
                                               [d[3 + k] for d in path]) for k in range(4)])
            tubes.append((label, float(np.mean([d[2] for d in path])),
                          np.column_stack([frames, boxes])))
    return tubes


@pytest.mark.parametrize('seed', range(4))
def test_equals_one_path_at_a_time_on_crowded_cases(seed):
    # 30 frames, 2 classes, 0-4 heavily overlapping boxes per frame and class: paths
    # compete for detections, so the linker needs several passes (it takes several paths
    # per pass only where the one-at-a-time search provably would).
    rng = np.random.default_rng(100 + seed)
    rows = [[frame, label, rng.uniform(0.05, 1), *xy, *xy + rng.uniform(8, 14, 2)]
            for frame in range(1, 31) for label in range(2)
            for xy in rng.uniform(0, 10, (rng.integers(0, 5), 2))]
    dets = np.array(rows)
    ours = ViterbiTubeLinker(**{**BARE, 'link_iou_thr': 0.3, 'max_gap': 2})(dets)
    expected = _one_path_at_a_time(dets, 0.3, 2)
    assert len(ours) == len(expected) > 30
    key = lambda t: (t[0], t[2][0].tolist(), t[1])  # noqa: E731
    for (label, score, tube), (e_label, e_score, e_tube) in zip(sorted(ours, key=key),
                                                                sorted(expected, key=key)):
        assert label == e_label and score == pytest.approx(e_score)
        np.testing.assert_allclose(tube, e_tube, atol=1e-9)


def test_videos_are_linked_apart():
    # link_videos over three videos gives each the tubes that linking it alone gives.
    rng = np.random.default_rng(7)
    videos = []
    for _ in range(3):
        rows = [[frame, label, rng.uniform(0.05, 1), *xy, *xy + 20]
                for frame in range(1, 21) for label in range(3)
                for xy in rng.uniform(0, 10, (rng.integers(0, 3), 2))]
        videos.append(np.array(rows))
    linker = ViterbiTubeLinker()
    together = linker.link_videos(
        np.concatenate([np.column_stack([np.full(len(v), i), v]) for i, v in enumerate(videos)]),
        ['a', 'b', 'c'])
    for name, alone in zip('abc', videos):
        expected = linker(alone)
        assert len(together[name]) == len(expected) > 0
        for (label, score, tube), (e_label, e_score, e_tube) in zip(together[name], expected):
            assert (label, score) == (e_label, e_score)
            np.testing.assert_array_equal(tube, e_tube)


def test_recovers_crossing_actors_in_a_noisy_scene():
    # Two class-0 actors crossing over 40 frames, 10 % missed detections, jittered boxes
    # and random false positives: the Viterbi tubes score video-AP@0.5 = 1 per class.
    rng = np.random.default_rng(0)
    frames = np.arange(1, 41)
    gt_tubes = {0: [], 1: []}
    rows = []
    for label, x0, vx in ((0, 20.0, 4.0), (0, 200.0, -4.0), (1, 300.0, 0.0)):
        box = np.column_stack([x0 + vx * (frames - 1), np.full(40, 60.0),
                               x0 + vx * (frames - 1) + 40, np.full(40, 140.0)])
        gt_tubes[label].append(np.column_stack([frames, box]))
        for f, b in zip(frames, box):
            if rng.random() > 0.1:
                rows.append([f, label, rng.uniform(0.5, 0.95), *(b + rng.normal(0, 2, 4))])
    for f in frames:
        xy = rng.uniform(0, 400, 2)
        rows.append([f, rng.integers(2), rng.uniform(0.01, 0.3), *xy, *xy + 40])
    tubes = TASK_UTILS.build(dict(type='ViterbiTubeLinker'))(np.array(rows))
    gt = dict(labels=['walk', 'wave'], gttubes={'v0': gt_tubes})
    ap = video_ap(gt, {'v0': tubes}, ['v0'], iou_thrs=(0.5,), average_thrs=None)['ap']['0.5']
    assert ap.tolist() == [1.0, 1.0]


def test_video_map_builds_and_scores_with_the_viterbi_linker(tmp_path):
    box = [10.0, 20.0, 60.0, 120.0]
    tube = np.column_stack([np.arange(1, 11), np.tile(box, (10, 1))])
    gt = dict(labels=['walk', 'wave'], nframes={'v0': 10, 'v1': 10},
              resolution={'v0': (240, 320), 'v1': (240, 320)},
              gttubes={'v0': {0: [tube]}, 'v1': {1: [tube]}},
              train_videos=[[]], test_videos=[['v0', 'v1']])
    ann_file = str(tmp_path / 'gt.pkl')
    with open(ann_file, 'wb') as f:
        pickle.dump(gt, f)
    metric = METRICS.build(dict(type='VideoMAP', ann_file=ann_file, iou_thrs=(0.5,),
                                linker=dict(type='ViterbiTubeLinker', min_length=2)))
    assert isinstance(metric.linker, ViterbiTubeLinker) and metric.linker.min_length == 2
    # Every frame: v0 the true walk box (0.9); v1 the true wave box (0.9) and, on the same
    # box, a false walk (0.95).
    clips, rows = [], []
    for frame in range(1, 11):
        for video, labels, scores in (('v0', [0], [0.9]), ('v1', [1, 0], [0.9, 0.95])):
            clips.append(dict(video=video, frame_ids=[frame], key_frame_index=0,
                              pred_instances=dict(
                                  bboxes=np.array([box] * len(labels), np.float32),
                                  scores=np.array(scores, np.float32),
                                  labels=np.array(labels), frame_inds=np.zeros(len(labels),
                                                                               int))))
            rows += [[int(video[1]), frame, lab, s, *box] for lab, s in zip(labels, scores)]
    metric.process({}, clips)
    result = metric.evaluate(len(clips))
    # walk: the false v1 tube (0.95) ranks before the true v0 tube (0.9): ACT's trapezoid
    # over (recall, precision) (0, 1), (0, 0), (1, 0.5) gives 0.25; wave: 1. mAP 0.625.
    assert result == {'act/video_mAP@0.5': pytest.approx(0.625),
                      'act/video_mAP@0.5:0.95': pytest.approx(0.625)}
    # The same as the functional path: link, then video_ap.
    tubes = ViterbiTubeLinker(min_length=2).link_videos(
        np.array(rows, np.float32).astype(np.float64), ['v0', 'v1'])
    assert [len(t) for t in tubes.values()] == [1, 2]
    assert video_ap(gt, tubes, ['v0', 'v1'], (0.5,))['mAP']['0.5'] == pytest.approx(0.625)


def test_registered_and_interchangeable_with_tube_linker():
    from point3d_mm.apis import LiveTubeLinker
    linker = TASK_UTILS.build(dict(type='ViterbiTubeLinker', max_gap=2))
    assert isinstance(linker, ViterbiTubeLinker) and linker.max_gap == 2
    # The live demo's sliding-window linker takes it like TubeLinker.
    live = LiveTubeLinker(dict(type='ViterbiTubeLinker', min_length=1, trim_score=0),
                          window=4)
    for frame in range(1, 7):
        entries = live.update(frame, _rows((frame, 0, 0.9, A)))
        assert [(label, box.tolist()) for _, label, _, box in entries] == [(0, A)]
    assert live.tubes_started == 1
