"""Readers and writers of frame detections and tubes: round trips, atomicity, safety."""
import os
import pickle

import numpy as np
import pytest

from point3d_mm.evaluation.functional import (
    load_frame_detections,
    load_tubes,
    save_frame_detections,
    save_tubes,
)
from point3d_mm.utils.fileio import atomic_open
from point3d_mm.utils.safe_pickle import UnsafePickleError

VIDEOS = ['Basketball/v_Basketball_g01_c01', 'walk/clip, with comma']


def _detections():
    rng = np.random.default_rng(0)
    return np.column_stack([rng.integers(0, 2, 20), rng.integers(1, 40, 20),
                            rng.integers(0, 5, 20), rng.random(20), rng.random((20, 4)) * 300])


@pytest.mark.parametrize('suffix', ['.npz', '.pkl', '.csv'])
def test_frame_detections_round_trip(tmp_path, suffix):
    dets = _detections()
    path = tmp_path / f'dets{suffix}'
    save_frame_detections(path, dets, VIDEOS)
    loaded, videos = load_frame_detections(path)
    if suffix == '.csv':  # videos are renumbered in order of first appearance
        names = [VIDEOS[int(i)] for i in dets[:, 0]]
        assert [videos[int(i)] for i in loaded[:, 0]] == names
        np.testing.assert_array_equal(loaded[:, 1:], dets[:, 1:])
    else:
        assert videos == VIDEOS
        np.testing.assert_array_equal(loaded, dets)
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind


def test_reads_acts_bare_array_and_rejects_bad_files(tmp_path):
    dets = _detections()
    with open(tmp_path / 'act.pkl', 'wb') as f:
        pickle.dump(dets.astype(np.float32), f)
    loaded, videos = load_frame_detections(tmp_path / 'act.pkl')
    assert videos is None and loaded.shape == (20, 8)
    (tmp_path / 'bad.csv').write_text('a,b\n1,2\n')
    with pytest.raises(ValueError, match='header'):
        load_frame_detections(tmp_path / 'bad.csv')
    with pytest.raises(ValueError, match='unsupported'):
        save_frame_detections(tmp_path / 'dets.json', dets, VIDEOS)
    with open(tmp_path / 'wrong.pkl', 'wb') as f:
        pickle.dump(np.zeros((3, 5)), f)
    with pytest.raises(ValueError, match=r'\(D, 8\)'):
        load_frame_detections(tmp_path / 'wrong.pkl')


class _Exploit:
    def __reduce__(self):
        return os.system, ('echo unsafe',)


def test_pickles_are_loaded_with_the_restricted_unpickler(tmp_path):
    path = tmp_path / 'tubes.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'v': [(0, 0.5, _Exploit())]}, f)
    with pytest.raises(UnsafePickleError, match='system'):
        load_tubes(path)
    with pytest.raises(UnsafePickleError):
        load_frame_detections(path)


def test_tubes_round_trip(tmp_path):
    tubes = {VIDEOS[0]: [(np.int64(3), np.float32(0.75), np.arange(10.).reshape(2, 5))],
             VIDEOS[1]: []}
    save_tubes(tmp_path / 'tubes.pkl', tubes)
    loaded = load_tubes(tmp_path / 'tubes.pkl')
    assert list(loaded) == VIDEOS and loaded[VIDEOS[1]] == []
    label, score, tube = loaded[VIDEOS[0]][0]
    assert (label, score) == (3, 0.75) and type(label) is int
    np.testing.assert_array_equal(tube, np.arange(10.).reshape(2, 5))
    with open(tmp_path / 'bad.pkl', 'wb') as f:
        pickle.dump({'v': [(0, 0.5, np.zeros(3))]}, f)
    with pytest.raises(ValueError, match="'v'"):
        load_tubes(tmp_path / 'bad.pkl')


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / 'out' / 'dets.npz'
    save_frame_detections(path, _detections(), VIDEOS)
    before = path.read_bytes()
    mode = os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask

    def crash(file, **arrays):
        file.write(b'half a zip file')
        raise OSError('disk full')

    monkeypatch.setattr(np, 'savez_compressed', crash)
    with pytest.raises(OSError, match='disk full'):
        save_frame_detections(path, _detections()[:3], VIDEOS)
    assert path.read_bytes() == before  # the old file is intact
    assert os.listdir(path.parent) == ['dets.npz']  # and the temporary file is gone

    with pytest.raises(KeyError):
        with atomic_open(tmp_path / 'never.txt', 'w') as f:
            f.write('partial')
            raise KeyError('interrupted')
    assert not (tmp_path / 'never.txt').exists()
