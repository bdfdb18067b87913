import pytest
from dataset_helpers import TINY

import point3d_mm  # noqa: F401  (patches the stack, registers the transforms)
from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory) -> dict:
    """Paths of a tiny generated synthetic dataset (ACT + AVA layouts)."""
    out = str(tmp_path_factory.mktemp('synthetic'))
    paths = SyntheticActions(**TINY).generate(out)
    paths['root'] = out
    return paths
