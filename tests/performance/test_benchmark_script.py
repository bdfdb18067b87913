"""Smoke test of tools/analysis/benchmark.py's timing helpers (the benchmark itself is a
script, run by hand: see docs/benchmarks.md)."""
import importlib.util
import os.path as osp

import pytest
from performance_helpers import tiny_detector

SCRIPT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools',
                  'analysis', 'benchmark.py')


@pytest.fixture(scope='module')
def benchmark():
    spec = importlib.util.spec_from_file_location('point3d_benchmark', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_clip_and_streaming_rows(benchmark):
    row = benchmark.time_modes(tiny_detector(), clip_len=4, frames=2, warmup=1)
    assert row['clip']['frames'] == row['stream']['frames'] == 2
    assert row['speedup'] > 0 and row['stream']['fps'] > 0
    assert 'x' in benchmark.format_inference_row(dict(config='tiny', **row))


def test_machine_is_reported(benchmark):
    info = benchmark.machine_info('cpu')
    assert info['cpu'] and info['logical_cores'] >= 1 and info['torch']
