"""The vectorised TubeLinker returns the tubes of the per-track implementation it replaced
(``reference_tube_linker.py``): same labels, scores, frames and order, boxes to 1e-6, on
random and adversarial inputs and under many settings."""
import ast
import glob
import importlib.util
import os.path as osp

import numpy as np
import pytest

from point3d_mm.evaluation import functional
from point3d_mm.evaluation.functional import TubeLinker, tube_iou, tube_nms, viterbi_trim
from point3d_mm.evaluation.functional.overlaps import TubeStack, stacked_tube_iou

_spec = importlib.util.spec_from_file_location(
    'reference_tube_linker', osp.join(osp.dirname(__file__), 'reference_tube_linker.py'))
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

SETTINGS = [
    {},
    dict(protocol='voc'),
    dict(motion_window=1),
    dict(motion_window=2, max_gap=0),
    dict(motion_window=3, max_gap=2, min_length=1),
    dict(link_iou_thr=0.0),  # every pair of one class may link, IoU 0 included: many ties
    dict(frame_nms_thr=1.0, max_per_frame=1),
    dict(frame_nms_thr=0.0, max_per_frame=2),
    dict(trim_score=0.0, tube_nms_thr=None),
    dict(trim_score=0.5, switch_penalty=0.1, tube_nms_thr=0.0),
    dict(iou_weight=0.0, score_thr=0.3),
]


def _name(settings):
    return ','.join(f'{k}={v}' for k, v in settings.items()) or 'default'


def assert_same_tubes(got, expected):
    assert len(got) == len(expected)
    for (label, score, tube), (ref_label, ref_score, ref_tube) in zip(got, expected):
        assert type(label) is int and type(score) is float
        assert (label, score) == (ref_label, ref_score)
        assert tube.shape == ref_tube.shape
        np.testing.assert_array_equal(tube[:, 0], ref_tube[:, 0])
        np.testing.assert_allclose(tube[:, 1:], ref_tube[:, 1:], rtol=0, atol=1e-6)


def assert_same_linking(dets, **settings):
    """Both linkers on one video's (N, 7) detections, and on the same rows as video 3 of
    four (link_videos)."""
    expected = reference.TubeLinker(**settings)(dets)
    assert_same_tubes(TubeLinker(**settings)(dets), expected)
    many = np.concatenate([_in_video(dets, 0), _in_video(dets, 3),
                           _in_video(dets[:len(dets) // 2], 5)])
    order = np.random.default_rng(len(dets)).permutation(len(many))
    linked = TubeLinker(**settings).link_videos(many[order], [f'v{i}' for i in range(6)])
    ref_linked = reference.TubeLinker(**settings).link_videos(many[order],
                                                              [f'v{i}' for i in range(6)])
    assert list(linked) == list(ref_linked)
    for video in ref_linked:
        assert_same_tubes(linked[video], ref_linked[video])
    return expected


def _in_video(dets, video):
    return np.column_stack([np.full(len(dets), video), dets])


def actors(rng, num_frames=60, num_actors=4, num_classes=3, classes_per_box=2, miss=0.15,
           integer=False, score_levels=None, false_per_frame=1.0, leave=True):
    """(N, 7) detections of actors moving at random constant velocities (some crossing),
    some leaving for a while and coming back, each box reported under ``classes_per_box``
    classes, plus random false positives. ``integer`` rounds boxes to whole pixels;
    ``score_levels`` quantises the scores (ties)."""
    rows = []
    for a in range(num_actors):
        label = int(rng.integers(num_classes))
        start = rng.uniform(0, 300, 2)
        velocity = rng.normal(0, 4, 2)
        size = rng.uniform(20, 80, 2)
        away = (rng.integers(num_frames), rng.integers(1, 15)) if leave else (0, 0)
        for frame in range(1, num_frames + 1):
            if rng.random() < miss or away[0] <= frame < away[0] + away[1]:
                continue
            xy = start + velocity * frame + rng.normal(0, 2, 2)
            box = np.concatenate([xy, xy + size])
            if integer:
                box = np.round(box)
            others = rng.choice(num_classes, min(classes_per_box, num_classes), replace=False)
            for k, cls in enumerate([label] + [c for c in others if c != label]
                                    [:classes_per_box - 1]):
                score = rng.uniform(0.3, 1.0) if k == 0 else rng.uniform(0.0, 0.3)
                rows.append([frame, cls, score, *box])
    for _ in range(rng.poisson(false_per_frame * num_frames)):
        xy = rng.uniform(0, 350, 2)
        box = np.concatenate([xy, xy + rng.uniform(10, 60, 2)])
        rows.append([rng.integers(1, num_frames + 1), rng.integers(num_classes),
                     rng.uniform(0, 0.5), *(np.round(box) if integer else box)])
    dets = np.array(rows, dtype=np.float64).reshape(-1, 7)
    if score_levels:
        dets[:, 2] = np.round(dets[:, 2] * score_levels) / score_levels
    return dets[rng.permutation(len(dets))]


@pytest.mark.parametrize('settings', SETTINGS, ids=_name)
def test_random_videos(settings):
    rng = np.random.default_rng(0)
    for seed in range(3):
        dets = actors(rng, integer=seed == 1, score_levels=10 if seed == 2 else None)
        assert_same_linking(dets, **settings)


@pytest.mark.parametrize('settings', SETTINGS[:6], ids=_name)
def test_ties_integer_boxes_and_many_classes_per_box(settings):
    rng = np.random.default_rng(1)
    dets = actors(rng, num_actors=6, num_classes=2, classes_per_box=2, integer=True,
                  score_levels=4, false_per_frame=2)
    assert_same_linking(dets, **settings)
    # Every box under every class with one score: all link scores of a class tie.
    dets[:, 2] = 0.5
    assert_same_linking(dets, **settings)


def test_symmetric_crossing_with_equal_scores():
    # Two actors of one class cross head-on on whole pixels with equal scores: at the
    # crossing every link score ties exactly.
    frames = np.arange(1, 41)
    left = np.column_stack([frames, np.zeros(40), np.full(40, 0.8), 5 * frames, np.full(40, 50),
                            5 * frames + 40, np.full(40, 130)])
    right = left.copy()
    right[:, 3] = 205 - 5 * frames
    right[:, 5] = right[:, 3] + 40
    dets = np.concatenate([left, right])
    for settings in ({}, dict(motion_window=1), dict(link_iou_thr=0.0), dict(max_gap=0)):
        assert_same_linking(dets, **settings)
    # With a gap of both actors right at the crossing.
    gap = (dets[:, 0] >= 19) & (dets[:, 0] <= 22)
    assert_same_linking(dets[~gap])
    assert_same_linking(dets[~gap], max_gap=3)


def test_duplicates_crowded_frames_and_reentries():
    rng = np.random.default_rng(2)
    base = actors(rng, num_frames=30, num_actors=3, num_classes=2, leave=True)
    # Exact duplicates (NMS ties), near duplicates, and a frame with 25 boxes of one class.
    crowd = np.column_stack([np.full(25, 7), np.zeros(25), rng.uniform(0, 1, 25),
                             rng.uniform(0, 200, (25, 2)) @ [[1, 0, 1, 0], [0, 1, 0, 1]]
                             + [0, 0, 30, 30]])
    dets = np.concatenate([base, base[:20], base[20:40] + [0, 0, 0, 0.5, 0, 0.5, 0], crowd])
    assert_same_linking(dets)
    assert_same_linking(dets, max_per_frame=1, frame_nms_thr=0.3)
    # An actor who leaves for longer than max_gap and comes back at the same place.
    track = np.column_stack([np.r_[1:11, 20:31], np.zeros(21), np.full(21, 0.9),
                             np.tile([10, 10, 50, 90], (21, 1))])
    tubes = assert_same_linking(track)
    assert len(tubes) == 2


def test_empty_frames_one_frame_videos_and_odd_frame_numbers():
    rng = np.random.default_rng(3)
    assert_same_linking(np.zeros((0, 7)))
    # Every detection below score_thr.
    low = actors(rng, num_frames=5)
    low[:, 2] = 0.001
    assert_same_linking(low)
    # One-frame videos, with min_length 1 so that they yield tubes.
    one = actors(rng, num_frames=1, false_per_frame=3)
    assert_same_linking(one, min_length=1)
    # Frames from 0, large frame numbers and long empty stretches.
    dets = actors(rng, num_frames=40)
    dets[:, 0] = np.where(dets[:, 0] > 20, dets[:, 0] + 1000, dets[:, 0] - 1)
    assert_same_linking(dets)
    assert_same_linking(dets, max_gap=0, min_length=1)


def test_many_videos_at_once():
    rng = np.random.default_rng(4)
    parts = [_in_video(actors(rng, num_frames=int(rng.integers(1, 50)), num_classes=5), v)
             for v in range(12)]
    dets = np.concatenate(parts)[rng.permutation(sum(map(len, parts)))]
    dets = dets[dets[:, 0] != 4]  # a video without detections
    videos = [f'video{v}' for v in range(12)]
    linked = TubeLinker().link_videos(dets, videos)
    expected = reference.TubeLinker().link_videos(dets, videos)
    assert list(linked) == list(expected)
    for video in expected:
        assert_same_tubes(linked[video], expected[video])
        # Linking a video alone gives its tubes too.
        alone = dets[dets[:, 0] == videos.index(video)]
        assert_same_tubes(TubeLinker()(alone), expected[video])
    # Sparse and negative video indices (-1 names the last video, as list indexing does).
    sparse = dets.copy()
    sparse[:, 0] = np.where(sparse[:, 0] == 0, -1, sparse[:, 0] * 3)
    names = [f'name{v}' for v in range(40)]
    linked = TubeLinker().link_videos(sparse, names)
    expected = reference.TubeLinker().link_videos(sparse, names)
    assert list(linked) == list(expected)
    for video in expected:
        assert_same_tubes(linked[video], expected[video])


def test_viterbi_trim_matches_the_reference():
    rng = np.random.default_rng(5)
    for length in (0, 1, 2, 7, 50):
        for _ in range(20):
            scores = np.round(rng.random(length), 1)
            for trim, penalty in ((0.3, 0.5), (0.5, 0.0), (0.0, 1.0), (0.9, 2.0)):
                np.testing.assert_array_equal(viterbi_trim(scores, trim, penalty),
                                              reference.viterbi_trim(scores, trim, penalty))


def _random_tube(rng):
    first, length = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    frames = np.arange(first, first + length, dtype=np.float64)
    if rng.random() < 0.2 and length > 3:  # holes
        frames = frames[np.sort(rng.choice(length, length - 2, replace=False))]
    if rng.random() < 0.05:  # frames between whole numbers
        frames = frames + 0.5
    xy = rng.uniform(0, 100, 2) + np.cumsum(rng.normal(0, 2, (len(frames), 2)), axis=0)
    size = rng.uniform(5, 50, 2)
    if rng.random() < 0.3:
        xy, size = np.round(xy), np.round(size)
    return np.column_stack([frames, xy, xy + size])


@pytest.mark.parametrize('protocol', ['act', 'voc'])
def test_stacked_tube_iou_and_tube_nms_match_the_reference(protocol):
    rng = np.random.default_rng(6)
    for _ in range(60):
        tubes = [_random_tube(rng) for _ in range(int(rng.integers(0, 10)))]
        tubes += tubes[:2]  # identical tubes
        stack = TubeStack.of(tubes)
        a, b = np.meshgrid(np.arange(len(tubes)), np.arange(len(tubes)))
        expected = [reference.tube_iou(tubes[i], tubes[j], protocol)
                    for i, j in zip(a.ravel(), b.ravel())]
        got = stacked_tube_iou(stack, stack, a.ravel(), b.ravel(), protocol)
        np.testing.assert_array_equal(got, expected)
        assert [tube_iou(tubes[i], tubes[j], protocol)
                for i, j in zip(a.ravel(), b.ravel())] == expected
        scores = np.round(rng.random(len(tubes)), 1)
        for thr in (0.0, 0.3, 0.7):
            assert (tube_nms(tubes, scores, thr, protocol).tolist()
                    == reference.tube_nms(tubes, scores, thr, protocol).tolist())


def test_the_linkers_and_their_helpers_import_numpy_only():
    folder = osp.dirname(functional.__file__)
    files = [osp.join(folder, 'nms.py'), osp.join(folder, 'overlaps.py')] + sorted(
        glob.glob(osp.join(folder, 'linking', '*.py')))
    assert len(files) >= 6  # the package: __init__, base, online, trimming, viterbi
    for path in files:
        with open(path) as f:
            tree = ast.parse(f.read())
        imported = {alias.name.split('.')[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split('.')[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.level == 0}
        assert imported <= {'math', 'numbers', 'numpy', 'typing'}, (path, imported)
