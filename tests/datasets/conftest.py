import pytest
from dataset_helpers import TINY
from mmengine.registry import init_default_scope

import point3d_mm  # noqa: F401  (patches the stack, registers the transforms)
from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions


@pytest.fixture(autouse=True, scope='session')
def mmaction_scope() -> None:
    """Build pipelines from mmaction2's registries, as a Runner with default_scope does."""
    init_default_scope('mmaction')


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory) -> dict:
    """Paths of a tiny generated synthetic dataset (ACT + AVA layouts)."""
    out = str(tmp_path_factory.mktemp('synthetic'))
    paths = SyntheticActions(**TINY).generate(out)
    paths['root'] = out
    return paths
