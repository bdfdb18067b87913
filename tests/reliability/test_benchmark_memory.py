"""tools/analysis/benchmark_memory.py runs end to end (short videos; the real measurement,
1k/5k/10k frames, takes minutes and is a script, not a test)."""
import json

import pytest
from reliability_helpers import PYTHON, run_tool


@pytest.mark.slow
def test_benchmark_memory_script(tmp_path):
    out = tmp_path / 'memory.json'
    proc = run_tool([PYTHON, 'tools/analysis/benchmark_memory.py', '--lengths', '24', '72',
                     '--max-ratio', '1.5', '--json', str(out)])
    assert 'peak RSS vs video length' in proc.stdout
    report = json.loads(out.read_text())
    assert [row['frames'] for row in report['rows']] == [24, 72]
    for row in report['rows']:
        assert 100 < row['peak_rss_mb'] < 4000 and row['detections'] == 10 * row['frames']
    assert report['flat'] and report['peak_ratio'] < 1.5
