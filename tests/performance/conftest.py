import pytest
import torch
from mmengine.registry import init_default_scope


@pytest.fixture(scope='module', autouse=True)
def single_thread_mmaction_scope():
    """One intra-op thread (two OpenMP threads spin against each other on a loaded 2-core
    machine: 10x slower, measured) and mmaction2's registry scope, as the configs use.
    Module scope, so that it also holds for the module-scoped fixtures."""
    init_default_scope('mmaction')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
