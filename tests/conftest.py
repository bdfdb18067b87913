import os
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.normpath(osp.join(REPO_ROOT, '..', 'shared', 'data'))

# Tests run against the source tree (also what an editable install points at).
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
os.environ.setdefault('OMP_NUM_THREADS', '2')

# Patches the pinned stack before any test module imports mmaction (and registers our parts).
import point3d_mm  # noqa: E402,F401,I001


@pytest.fixture(scope='session')
def shared_data() -> str:
    """The real public files of ../shared/data; the test skips when they are absent."""
    if not osp.isdir(SHARED_DATA):
        pytest.skip(f'real public data not found at {SHARED_DATA} (present in CI)')
    return SHARED_DATA


@pytest.fixture(autouse=True)
def mmaction_scope() -> None:
    """Build unscoped names (e.g. 'ActionDataPreprocessor') from mmaction2's registries, as
    a config with default_scope='mmaction' does."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
