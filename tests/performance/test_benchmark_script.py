"""Smoke test of tools/analysis/benchmark.py's timing helpers (the benchmark itself is a
script, run by hand: see docs/benchmarks.md)."""
import pytest
from performance_helpers import tiny_detector
from tool_helpers import load_tool


@pytest.fixture(scope='module')
def benchmark():
    return load_tool('analysis/benchmark.py')


def test_clip_and_streaming_rows(benchmark):
    row = benchmark.time_modes(tiny_detector(), clip_len=4, frames=2, warmup=1)
    assert row['clip']['frames'] == row['stream']['frames'] == 2
    # The ratio is the two medians' (not a constant), and fps is the median latency's inverse.
    assert row['speedup'] == pytest.approx(row['clip']['ms_median'] / row['stream']['ms_median'])
    assert row['stream']['fps'] == pytest.approx(1000 / row['stream']['ms_median'], rel=1e-3)
    assert 'x' in benchmark.format_inference_row(dict(config='tiny', **row))


def test_machine_is_reported(benchmark):
    info = benchmark.machine_info('cpu')
    assert info['cpu'] and info['logical_cores'] >= 1 and info['torch']


def test_test_loop_and_part_profile(benchmark):
    model = tiny_detector(4)
    row = benchmark.test_loop_section(model, clip_frames=2, batches=2, frame_batch=2)
    assert row['clip']['frames'] == 2 and row['cached']['batches'] == 2
    assert row['ratio'] == pytest.approx(row['clip']['ms_median'] / row['cached']['ms_median'])
    parts = benchmark.part_profile(model, repeats=1)
    assert {'backbone', 'point_head', 'twa', 'head_3d'} <= set(parts)
    assert all(parts[name] > 0 for name in ('backbone', 'point_head', 'twa', 'head_3d'))
