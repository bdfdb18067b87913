import os
import pickle

import numpy as np
import pytest

from point3d_mm.utils.safe_pickle import UnsafePickleError, safe_pickle_load, safe_pickle_loads


class Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_refuses_a_callable(tmp_path):
    path = tmp_path / 'gt.pkl'
    path.write_bytes(pickle.dumps({'labels': ['a'], 'x': Evil()}))
    with pytest.raises(UnsafePickleError, match=r'gt\.pkl.*(posix|os)\.system'):
        safe_pickle_load(path)


def test_reads_python2_protocol0_pickles_with_numpy():
    data = {'labels': ['brush_hair'], 'nframes': {'v': 40},
            'gttubes': {'v': {np.int64(0): [np.zeros((2, 5), np.float32)]}},
            'resolution': {'v': (240, 320)}, 'names': [np.str_('v')]}
    loaded = safe_pickle_loads(pickle.dumps(data, protocol=0))
    assert loaded['nframes'] == {'v': 40}
    tube = loaded['gttubes']['v'][0][0]
    assert tube.dtype == np.float32 and tube.shape == (2, 5)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert safe_pickle_loads(pickle.dumps(data, protocol=protocol))['labels'] == ['brush_hair']


def test_truncated_pickle_names_the_file(tmp_path):
    path = tmp_path / 'cut.pkl'
    path.write_bytes(pickle.dumps({'labels': list(range(100))})[:20])
    with pytest.raises(ValueError, match=r'cut\.pkl: not a readable pickle'):
        safe_pickle_load(path)


def test_real_jhmdb_ground_truth(shared_data):
    gt = safe_pickle_load(os.path.join(shared_data, 'act', 'JHMDB-GT.pkl'))
    assert len(gt['labels']) == 21
    assert [len(split) for split in gt['test_videos']] == [268, 270, 265]
