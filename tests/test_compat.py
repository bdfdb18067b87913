"""Each patch of point3d_mm.utils.compat, shown to be needed and to work."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import point3d_mm  # noqa: F401  (applies the patches)
from point3d_mm.utils.fileio import atomic_write

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=REPO_ROOT, env={**os.environ, **env}, timeout=300)


@pytest.mark.slow
def test_mmaction_models_import_needs_drn_stand_in():
    # mmaction2 1.2.0's wheel lacks mmaction/models/localizers/drn.
    bare = run_python('import mmaction.models')
    assert bare.returncode != 0 and 'drn' in bare.stderr
    patched = run_python('import point3d_mm, mmaction.models; '
                         'from mmaction.models import ResNet3dSlowOnly; print("ok")')
    assert patched.returncode == 0, patched.stderr
    assert patched.stdout.strip().endswith('ok')


def test_numpy_inf_alias_for_mmaction():
    # mmaction2's PoseCompact (and misc.frame_extract) use np.Inf, which numpy 2 removed.
    from mmaction.datasets.transforms import PoseCompact
    keypoint = np.array([[[[10., 20.], [30., 60.]]]], dtype=np.float32)
    results = PoseCompact(hw_ratio=None, allow_imgpad=False, padding=0.)(
        dict(img_shape=(100, 100), keypoint=keypoint.copy()))
    assert results['img_shape'] == (40, 20)
    np.testing.assert_allclose(results['keypoint'][0, 0], [[0, 0], [20, 40]])


def test_numpy_nan_alias_for_mmaction_ava_evaluation():
    # AVA evaluation's compute_average_precision returns np.NAN when there is no ground truth.
    from mmaction.evaluation.functional.ava_evaluation.metrics import compute_average_precision
    assert np.isnan(compute_average_precision(None, None))


def test_history_buffer_pickles_without_getattr():
    from mmengine.logging import HistoryBuffer
    buffer = HistoryBuffer()
    buffer.update(1.0)
    data = io.BytesIO()
    torch.save(buffer, data)
    assert b'getattr' not in data.getvalue()
    data.seek(0)
    restored = torch.load(data, weights_only=True)
    assert restored.max() == 1.0


def test_local_writes_are_atomic(tmp_path, monkeypatch):
    import mmengine
    from mmengine.fileio import put
    target = tmp_path / 'result.pkl'
    put(b'old', str(target))

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(KeyboardInterrupt):
        mmengine.dump({'a': 1}, str(target))
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['result.pkl']


def test_atomic_write_creates_directories(tmp_path):
    target = tmp_path / 'a' / 'b.bin'
    atomic_write(b'xyz', str(target))
    assert target.read_bytes() == b'xyz'


INIT_DIST = ('from mmengine.dist import init_dist, get_world_size; '
             "init_dist('pytorch', backend='nccl'); print('world', get_world_size())")
DIST_ENV = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                MASTER_PORT='29517')


@pytest.mark.skipif(torch.cuda.is_available(), reason='the patch matters without CUDA')
def test_pytorch_launcher_initialises_without_cuda():
    bare = run_python(INIT_DIST, **DIST_ENV)
    assert bare.returncode != 0
    patched = run_python('import point3d_mm; ' + INIT_DIST, **DIST_ENV)
    assert patched.returncode == 0, patched.stderr
    assert 'world 1' in patched.stdout
