import os.path as osp
import sys

import pytest

import point3d_mm  # noqa: F401  (the compat patches, in this process too)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from reliability_helpers import TINY_DATA  # noqa: E402


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory) -> str:
    """Root of a tiny generated synthetic dataset (ACT layout: frames + synthetic_gt.pkl)."""
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    root = str(tmp_path_factory.mktemp('reliability_data'))
    SyntheticActions(**TINY_DATA).generate(root)
    return root
