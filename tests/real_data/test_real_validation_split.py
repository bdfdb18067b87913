"""Validation videos held out of the real JHMDB-21 training videos
(tools/data/make_validation_split.py): disjoint from the test videos, per class, seeded."""
import collections
import os.path as osp

import pytest

from point3d_mm.datasets.preparation.validation_split import hold_out_videos, video_class
from point3d_mm.structures.act_format import is_validation_act, load_act


@pytest.fixture(scope='module')
def jhmdb_path(shared_data):
    return osp.join(shared_data, 'act', 'JHMDB-GT.pkl')


def test_held_out_per_class_and_split(jhmdb_path, tmp_path, run_tool):
    out = str(tmp_path / 'JHMDB-GT_val.pkl')
    status, stdout, _ = run_tool('make_validation_split', jhmdb_path, out, '--fraction', '0.1',
                                 '--seed', '0')
    assert status == 0 and f'wrote {out}' in stdout
    act, val = load_act(jhmdb_path), load_act(out)
    assert is_validation_act(val) and val['validation_of'] == 'JHMDB-GT.pkl'
    assert len(val['test_videos']) == len(act['train_videos']) == 3
    for train, test, kept, held in zip(act['train_videos'], act['test_videos'],
                                       val['train_videos'], val['test_videos']):
        # a partition of the training videos, none of the split's test videos among them
        # (JHMDB's splits share videos: a test video of one split trains another, so the
        # file keeps its annotation for that split)
        assert sorted(kept + held) == sorted(train) and not set(kept) & set(held)
        assert not set(test) & set(held)
        per_class = collections.Counter(video_class(act, v) for v in train)
        held_per_class = collections.Counter(video_class(act, v) for v in held)
        # JHMDB-21: 21 classes, 26-30 training videos each -> round(0.1 n) = 3
        assert len(per_class) == 21
        assert held_per_class == {c: round(0.1 * n) for c, n in per_class.items()}
    # seeded: the same videos again, other ones with another seed
    assert hold_out_videos(act, 0.1, 0) == val['test_videos']
    assert hold_out_videos(act, 0.1, 1) != val['test_videos']
    with pytest.raises(SystemExit) as refused:
        run_tool('make_validation_split', jhmdb_path, out, '--fraction', '1.5')
    assert str(refused.value.code) == ('make_validation_split.py: ValueError: the validation '
                                       'fraction must be in (0, 1), got 1.5')
