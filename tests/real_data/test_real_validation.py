"""Dataset validation on the real JHMDB-GT.pkl: clean as published, every planted fault found."""
import copy
import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest

from point3d_mm.datasets.preparation.dataset_check import (
    load_act_for_validation,
    validate_act,
    validate_act_file,
)
from point3d_mm.structures.act_format import PROBLEM_KINDS
from point3d_mm.utils.safe_pickle import safe_pickle_load


@pytest.fixture(scope='module')
def jhmdb(shared_data):
    """(path, raw dict) of the real JHMDB-GT.pkl."""
    path = osp.join(shared_data, 'act', 'JHMDB-GT.pkl')
    return path, safe_pickle_load(path)


def test_real_jhmdb_is_clean(jhmdb, run_tool):
    path, _ = jhmdb
    assert validate_act_file(path) == []
    status, stdout, _ = run_tool('validate_dataset', path)
    assert status == 0 and 'clean (annotations only)' in stdout


def plant_faults(data: dict) -> dict:
    """One fault of each annotation kind, each in its own video: {(kind, video): frame}."""
    videos = sorted(data['gttubes'])
    v = {kind: videos[i * 7] for i, kind in enumerate(PROBLEM_KINDS)}
    planted = {}

    def tube(kind):
        (label, tubes), = data['gttubes'][v[kind]].items()
        return label, tubes

    label, tubes = tube('label_range')  # label 21 of 21 labels
    data['gttubes'][v['label_range']] = {21: tubes}
    planted['label_range', v['label_range']] = None
    _, tubes = tube('frame_range')  # a row after the last frame
    n = data['nframes'][v['frame_range']]
    tubes[0] = np.concatenate([tubes[0], [[n + 1, 10, 10, 50, 50]]]).astype(np.float32)
    planted['frame_range', v['frame_range']] = n + 1
    _, tubes = tube('tube_gap')  # frame 5 removed
    tubes[0] = np.delete(tubes[0], 4, axis=0)
    planted['tube_gap', v['tube_gap']] = 6
    _, tubes = tube('box_inverted')  # x2 < x1 in frame 3
    tubes[0] = tubes[0].copy()
    tubes[0][2, 3] = tubes[0][2, 1] - 5
    planted['box_inverted', v['box_inverted']] = 3
    _, tubes = tube('box_outside')  # x2 = 330 on a 320-wide image in frame 2
    tubes[0] = tubes[0].copy()
    tubes[0][1, 3] = 330
    planted['box_outside', v['box_outside']] = 2
    del data['resolution'][v['missing_entry']]
    planted['missing_entry', v['missing_entry']] = None
    data['nframes'][v['malformed']] = -3
    planted['malformed', v['malformed']] = None
    train, test = data['train_videos'][0], data['test_videos'][0]
    overlap = train[0]
    test.append(overlap)
    planted['split_overlap', overlap] = None
    data['train_videos'][2].append(data['train_videos'][2][5])
    planted['split_duplicate', data['train_videos'][2][5]] = None
    data['test_videos'][1].append('ghost/not_a_video')
    planted['unknown_video', 'ghost/not_a_video'] = None
    return planted


def test_every_planted_fault_is_reported_with_its_video(jhmdb, tmp_path, run_tool):
    path, raw = jhmdb
    data = copy.deepcopy(raw)
    planted = plant_faults(data)
    faulty = tmp_path / 'JHMDB-GT-faulty.pkl'
    faulty.write_bytes(pickle.dumps(data, protocol=2))
    problems = validate_act_file(str(faulty))
    found = {(p.kind, p.video): p.frame for p in problems}
    assert found == planted  # every fault, nothing else, at the planted frame
    assert len(problems) == len(planted) == 10
    status, stdout, _ = run_tool('validate_dataset', faulty)
    assert status == 1
    for kind, video in planted:
        assert any(f'[{kind}]' in line and video in line for line in stdout.splitlines())
    assert f'{len(planted)} problem(s) in {len(planted)} video(s)' in stdout


def test_missing_and_mistyped_keys(jhmdb):
    _, raw = jhmdb
    data = dict(raw)
    del data['test_videos']
    data['labels'] = 'run'
    problems = validate_act(data)
    assert [(p.kind, p.message) for p in problems] == [
        ('missing_key', "the file has no 'test_videos' key"),
        ('malformed', "'labels' is a str, expected a list")]


def write_frames(root, video, frames, size=(48, 64)):
    os.makedirs(osp.join(root, video))
    for frame in frames:
        img = np.full((*size, 3), frame * 5 % 255, np.uint8)
        cv2.imwrite(osp.join(root, video, f'{frame:05d}.jpg'), img)


def test_frames_on_disk(tmp_path, run_tool):
    """Folders of a tiny dataset: one clean, one of each fault on disk."""
    videos = ['c/clean', 'c/gap', 'c/extra', 'c/corrupt', 'c/small', 'c/absent']
    act = dict(labels=['c'], gttubes={v: {0: [np.array([[1, 1, 1, 9, 9]], np.float32)]}
                                      for v in videos},
               nframes={v: 6 for v in videos}, resolution={v: (48, 64) for v in videos},
               train_videos=[videos], test_videos=[[]])
    root = str(tmp_path / 'frames')
    write_frames(root, 'c/clean', range(1, 7))
    write_frames(root, 'c/gap', [1, 2, 3, 5, 6])
    write_frames(root, 'c/extra', range(1, 9))
    write_frames(root, 'c/corrupt', range(1, 7))
    with open(osp.join(root, 'c/corrupt/00004.jpg'), 'wb') as f:
        f.write(b'\xff\xd8 not a jpeg')
    write_frames(root, 'c/small', range(1, 7), size=(24, 32))
    found = {(p.kind, p.video): p.frame for p in validate_act(act, root)}
    assert found == {('frames_missing', 'c/gap'): 4, ('frame_count', 'c/extra'): 7,
                     ('image_unreadable', 'c/corrupt'): 4, ('image_size', 'c/small'): 1,
                     ('frames_missing', 'c/absent'): None}
    # 'first' decodes one frame per video: the corrupt 4th frame goes unnoticed.
    assert ('image_unreadable', 'c/corrupt') not in {
        (p.kind, p.video) for p in validate_act(act, root, check_images='first')}
    pkl = tmp_path / 'gt.pkl'
    pkl.write_bytes(pickle.dumps(act))
    status, stdout, _ = run_tool('validate_dataset', pkl, '--frames-root', root)
    assert status == 1
    assert "[frames_missing] video 'c/gap' frame 4: 1 of 6 frames missing" in stdout


def test_unreadable_or_wrong_files_give_one_message_naming_the_file(jhmdb, tmp_path,
                                                                  run_tool):
    path, _ = jhmdb
    truncated = tmp_path / 'truncated.pkl'
    with open(path, 'rb') as f:
        truncated.write_bytes(f.read(100_000))
    listed = tmp_path / 'list.pkl'
    listed.write_bytes(pickle.dumps([[1, 2, 3]]))
    other = tmp_path / 'other.pkl'
    other.write_bytes(pickle.dumps({'db': {}, 'classes': []}))
    for bad, message in [(truncated, 'truncated.pkl: not a readable pickle'),
                         (listed, 'list.pkl: not an ACT ground truth: the pickle holds a '
                          'list'),
                         (other, 'other.pkl: not an ACT ground truth: the dict has keys '
                          'classes, db')]:
        with pytest.raises(ValueError, match=message):
            load_act_for_validation(str(bad))
        status, stdout, stderr = run_tool('validate_dataset', bad)
        assert status == 2 and stdout == ''
        assert stderr.count('\n') == 1 and message in stderr
