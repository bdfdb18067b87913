import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from dataset_helpers import TINY
from tool_helpers import tree_hashes

from point3d_mm.datasets import ACTDataset
from point3d_mm.datasets.preparation.synthetic_actions import (
    AVA_OCCLUDED,
    CLASSES,
    SyntheticActions,
)
from point3d_mm.structures.act_format import load_act

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.slow
def test_same_seed_gives_byte_identical_files(tiny_synthetic, tmp_path):
    """Another process, the command-line tool, the same arguments: the same bytes."""
    out = str(tmp_path / 'again')
    args = [sys.executable, osp.join(REPO, 'tools', 'data', 'make_synthetic.py'),
            '--out', out, '--seed', str(TINY['seed']), '--num-train', str(TINY['num_train']),
            '--num-test', str(TINY['num_test']), '--size', str(TINY['size']),
            '--min-frames', str(TINY['min_frames']), '--max-frames', str(TINY['max_frames']),
            '--ava-fps', str(TINY['ava_fps']), '--ava-clip-len', str(TINY['ava_clip_len']),
            '--ava-frame-interval', str(TINY['ava_frame_interval'])]
    subprocess.run(args, check=True, capture_output=True, cwd=str(tmp_path))
    first, second = tree_hashes(tiny_synthetic['root']), tree_hashes(out)
    assert len(first) > 100 and first == second
    other = dict(TINY, seed=TINY['seed'] + 1)
    SyntheticActions(**other).generate(str(tmp_path / 'other'))
    assert tree_hashes(str(tmp_path / 'other')) != first


def test_dataset_shape(tiny_synthetic):
    act = load_act(tiny_synthetic['act'])
    assert act['labels'] == list(CLASSES) and len(CLASSES) >= 5
    assert len(act['train_videos'][0]) == TINY['num_train']
    starts_late = ends_early = 0
    for video, tubes in act['gttubes'].items():
        n = act['nframes'][video]
        assert TINY['min_frames'] <= n <= TINY['max_frames']
        assert act['resolution'][video] == (TINY['size'], TINY['size'])
        assert len(tubes) == 1  # one class per video
        for tube in next(iter(tubes.values())):
            assert (np.diff(tube[:, 0]) == 1).all()  # contiguous
            assert (tube[:, 1:3] >= 0).all() and (tube[:, 3:] <= TINY['size'] - 1).all()
            assert (tube[:, 3] > tube[:, 1]).all() and (tube[:, 4] > tube[:, 2]).all()
            starts_late += tube[0, 0] > 1
            ends_early += tube[-1, 0] < n
    assert starts_late and ends_early  # actors enter and leave
    label_map = open(tiny_synthetic['ava_label_map']).read()
    assert f'name: "{AVA_OCCLUDED}"\n  id: {len(CLASSES) + 1}' in label_map


def _states(generator: SyntheticActions, videos, pair_gap: int, rng):
    """Per actor, one random frame's state and its change over ``pair_gap`` frames."""
    single, pair, labels = [], [], []
    for video in videos:
        plan = generator.plan_video(video)
        for actor in plan['actors']:
            if actor['end'] - actor['start'] < pair_gap:
                continue
            t = int(rng.integers(actor['start'], actor['end'] - pair_gap + 1))
            a, b = (generator.actor_state(actor, s) for s in (t, t + pair_gap))
            h = a['height']
            single.append([np.cos(2 * np.pi * a['phase']), np.sin(2 * np.pi * a['phase']),
                           a['tilt'], a['x'] / h, a['y'] / h, h])
            dphase = (b['phase'] - a['phase'] + 0.5) % 1 - 0.5
            pair.append([dphase, b['tilt'] - a['tilt'], (b['x'] - a['x']) / h,
                         (b['y'] - a['y']) / h])
            labels.append(plan['label'])
    return _standardise(single), _standardise(pair), np.array(labels)


def _standardise(features) -> np.ndarray:
    features = np.asarray(features)
    return (features - features.mean(0)) / features.std(0)


def _knn_accuracy(train_x, train_y, test_x, test_y, k: int = 9) -> float:
    dist = ((test_x[:, None] - train_x[None]) ** 2).sum(-1)
    votes = train_y[np.argsort(dist, axis=1)[:, :k]]
    pred = np.array([np.bincount(v, minlength=len(CLASSES)).argmax() for v in votes])
    return float((pred == test_y).mean())


def test_single_frame_state_carries_no_class():
    """The renderer draws an actor from its per-frame state only (no class argument). That
    state tells the classes apart no better than chance, while its change over two frames
    (the same k-NN on the state's difference) does: the classes differ only in motion."""
    generator = SyntheticActions(seed=1, num_train=300, num_test=150)
    train, test = generator.video_names()
    rng = np.random.default_rng(0)
    single_a, pair_a, y_a = _states(generator, train, 2, rng)
    single_b, pair_b, y_b = _states(generator, test, 2, rng)
    chance = 1 / len(CLASSES)
    single = _knn_accuracy(single_a, y_a, single_b, y_b)
    pair = _knn_accuracy(pair_a, y_a, pair_b, y_b)
    assert single < chance + 0.1, single
    assert pair > 0.85, pair


@pytest.mark.slow
def test_single_frame_pixels_carry_no_class(tmp_path):
    """Empirical check on rendered frames: a k-NN classifier on actor crops at chance."""
    generator = SyntheticActions(seed=2, num_train=36, num_test=18, size=64, min_frames=20,
                                 max_frames=24, ava_fps=4, ava_clip_len=4)
    paths = generator.generate(str(tmp_path))
    act = load_act(paths['act'])

    def crops(videos):
        x, y = [], []
        for video in videos:
            for label, tubes in act['gttubes'][video].items():
                for tube in tubes:
                    for row in tube[::4]:
                        img = cv2.imread(osp.join(paths['frames'], video,
                                                  f'{int(row[0]):05d}.jpg'), 0)
                        x1, y1, x2, y2 = row[1:].astype(int)
                        crop = cv2.resize(img[y1:y2 + 1, x1:x2 + 1].astype(np.float32),
                                          (8, 12))
                        crop = (crop - crop.mean()) / (crop.std() + 1e-3)
                        box = row[1:] / generator.size
                        x.append(np.concatenate([crop.ravel(), box * 3]))
                        y.append(label)
        return np.array(x), np.array(y)

    accuracy = _knn_accuracy(*crops(act['train_videos'][0]), *crops(act['test_videos'][0]))
    assert accuracy < 1 / len(CLASSES) + 0.15, accuracy


def test_ava_layout_matches_act_layout(tiny_synthetic):
    """Every AVA row is the ACT box at the key frame (timestamp x fps), normalised."""
    act = load_act(tiny_synthetic['act'])
    size, fps = TINY['size'], TINY['ava_fps']
    rows = [line.split(',') for line in open(tiny_synthetic['ava_train'])]
    assert rows
    for video, timestamp, x1, y1, x2, y2, action, person in rows:
        frame = int(timestamp) * fps
        label, tubes = next(iter(act['gttubes'][video].items()))
        tube = tubes[int(person)]
        box = tube[tube[:, 0] == frame][0, 1:] / size
        np.testing.assert_allclose([float(v) for v in (x1, y1, x2, y2)], box, atol=6e-4)
        assert int(action) in (label + 1, len(CLASSES) + 1)


def test_train_clips_use_key_frames_with_actors(tiny_synthetic):
    dataset = ACTDataset(tiny_synthetic['act'], clip_len=4, key_frame='center')
    for idx in range(0, len(dataset), 7):
        info = dataset.get_data_info(idx)
        assert info['key_frame_index'] in info['gt_frame_inds']
        assert info['frame_ids'][2] == info['key_frame']


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match='unknown synthetic classes'):
        SyntheticActions(classes=('walk_left', 'fly'))
    with pytest.raises(ValueError, match='min_frames <= max_frames'):
        SyntheticActions(min_frames=40, max_frames=30)


def test_validation_videos_change_no_train_or_test_video(tiny_synthetic, tmp_path):
    """Validation videos come from their own random streams: with them, every train and test
    frame and the ground-truth file are byte-identical to a set made without them, and the
    validation file lists them as its test videos, with no test video's annotation."""
    from point3d_mm.datasets.preparation.synthetic_actions import VAL_GT_FILE
    from point3d_mm.structures.act_format import is_validation_act
    out = str(tmp_path / 'with_val')
    paths = SyntheticActions(**dict(TINY, num_val=2)).generate(out)
    with_val, without = tree_hashes(out), tree_hashes(tiny_synthetic['root'])
    val_files = {name for name in with_val if 'val_00' in name or VAL_GT_FILE in name}
    assert {name: h for name, h in with_val.items() if name not in val_files} == without
    assert paths['act_val'] == osp.join(out, VAL_GT_FILE)
    val = load_act(paths['act_val'])
    act = load_act(paths['act'])
    assert is_validation_act(val) and not is_validation_act(act)
    assert val['validation_of'] == 'synthetic_gt.pkl'
    assert val['test_videos'] == [['val_0000', 'val_0001']]
    assert val['train_videos'] == act['train_videos']
    assert set(val['gttubes']) == set(act['train_videos'][0]) | {'val_0000', 'val_0001'}
    assert not set(val['nframes']) & set(act['test_videos'][0])
    # a validation video is a video of its own, not a copy of the train or test video
    # of its index
    for other in ('train_0000', 'test_0000'):
        first = cv2.imread(osp.join(out, 'frames', other, '00001.jpg'))
        assert not np.array_equal(first, cv2.imread(osp.join(out, 'frames', 'val_0000',
                                                             '00001.jpg')))
    dataset = ACTDataset(ann_file=paths['act_val'], data_root='', data_prefix=dict(
        img=osp.join(out, 'frames')), clip_len=4, test_mode=True, pipeline=[])
    assert {dataset.get_data_info(i)['video'] for i in range(len(dataset))} == {
        'val_0000', 'val_0001'}
    with pytest.raises(ValueError, match='num_val must be >= 0'):
        SyntheticActions(num_val=-1)
