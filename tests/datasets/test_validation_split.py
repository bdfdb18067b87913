"""Validation files (structures.act_format.validation_act) and the seeded hold-out of
training videos per class (datasets.preparation.validation_split), checked by hand."""
import numpy as np
import pytest

from point3d_mm.datasets.preparation.validation_split import hold_out_videos
from point3d_mm.structures.act_format import (
    dump_act,
    is_validation_act,
    load_act,
    validation_act,
)


def act_of(train, test, labels):
    tube = np.array([[1, 0, 0, 5, 5]], np.float32)
    videos = train + test
    return dict(labels=['a', 'b'], gttubes={v: {labels[v]: [tube]} for v in videos},
                nframes={v: 1 for v in videos}, resolution={v: (8, 8) for v in videos},
                train_videos=[train], test_videos=[test])


def test_hold_out_counts_per_class_by_hand():
    train = [f'a{i}' for i in range(10)] + [f'b{i}' for i in range(3)] + ['c0']
    labels = {v: 0 if v[0] == 'a' else 1 for v in train if v[0] != 'c'}
    act = act_of(train, ['t0'], {**labels, 't0': 0, 'c0': 0})
    act['gttubes']['c0'] = {}  # a video without tubes: its own group, never held out alone
    held = hold_out_videos(act, 0.2, seed=5)[0]
    # class a: round(0.2 * 10) = 2; class b: max(1, round(0.6)) = 1; no-tube group of one: 0
    assert sum(v[0] == 'a' for v in held) == 2 and sum(v[0] == 'b' for v in held) == 1
    assert 'c0' not in held and held == [v for v in train if v in held]  # split order
    assert hold_out_videos(act, 0.2, seed=5) == [held]
    with pytest.raises(ValueError, match=r'fraction must be in \(0, 1\), got 0'):
        hold_out_videos(act, 0, 1)


def test_validation_file_round_trip_and_refusals(tmp_path):
    act = act_of(['a0', 'a1', 'a2'], ['t0'], {'a0': 0, 'a1': 0, 'a2': 1, 't0': 1})
    val = validation_act(act, [['a1']], '/some/where/GT.pkl')
    assert val['train_videos'] == [['a0', 'a2']] and val['test_videos'] == [['a1']]
    assert set(val['gttubes']) == {'a0', 'a1', 'a2'} and 't0' not in val['nframes']
    path = str(tmp_path / 'val.pkl')
    dump_act(val, path)
    loaded = load_act(path)
    assert is_validation_act(loaded) and loaded['validation_of'] == 'GT.pkl'
    assert not is_validation_act(load_act(dump_or(tmp_path, act)))
    with pytest.raises(ValueError, match=r"GT.pkl: split 1: validation videos that are test "
                       r"videos \['t0'\]"):
        validation_act(act, [['t0']], 'GT.pkl')
    with pytest.raises(ValueError, match=r"without annotation \['zz'\]"):
        validation_act(act, [['zz']], 'GT.pkl')
    with pytest.raises(ValueError, match=r'1 split\(s\) but validation videos for 2'):
        validation_act(act, [[], []], 'GT.pkl')


def dump_or(tmp_path, act):
    path = str(tmp_path / 'plain.pkl')
    dump_act(act, path)
    return path
