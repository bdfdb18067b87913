"""tools/analysis/benchmark_eval.py on a small input: it times linking, frame-AP and
video-AP against mmaction2 in one run, writes its JSON report and finds the same numbers as
mmaction2 (the full-size run is by hand: docs/benchmarks.md)."""
import importlib.util
import json
import os.path as osp

import pytest

SCRIPT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools',
                  'analysis', 'benchmark_eval.py')


@pytest.fixture(scope='module')
def benchmark_eval():
    spec = importlib.util.spec_from_file_location('point3d_benchmark_eval', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def mmaction2_restored(monkeypatch):
    """Undo, after the test, the script's patches to mmaction2's ``multisports_utils``."""
    from mmaction.evaluation.functional import multisports_utils as ms
    for name in ('iou3dt_voc', 'track'):
        monkeypatch.setattr(ms, name, getattr(ms, name))
    monkeypatch.setattr(ms.Dataset, 'get_vid_dets', ms.Dataset.get_vid_dets)


def test_small_run_reports_all_three_and_agrees_with_mmaction2(benchmark_eval, tmp_path,
                                                               capsys, mmaction2_restored):
    out = tmp_path / 'eval.json'
    benchmark_eval.main(['--videos', '12', '--detections', '3000', '--link-videos', '3',
                         '--repeats', '2', '--threads', '1', '--out', str(out)])
    report = json.loads(out.read_text())
    assert {'machine', 'args', 'linking', 'frame_ap', 'video_ap', 'act'} <= set(report)
    for part in ('linking', 'frame_ap', 'video_ap'):
        row = report[part]
        assert len(row['ours_runs']) == len(row['peer_runs']) == 2
        assert row['ours_s'] > 0 and row['peer_s'] > 0
        assert row['ratio'] == pytest.approx(row['peer_s'] / row['ours_s'])
    link = report['linking']
    assert link['videos'] == 3 and link['frames'] > 0 and link['detections'] > 0
    assert link['ours_fps'] == pytest.approx(link['frames'] / link['ours_s'])
    assert link['peer_fps'] == pytest.approx(link['frames'] / link['peer_s'])
    assert report['frame_ap']['agree'] and report['video_ap']['agree']
    assert report['frame_ap']['ours_map'] == pytest.approx(report['frame_ap']['peer_map'],
                                                           abs=1e-6)
    assert set(report['video_ap']['peer_map']) == {'0.1', '0.2', '0.5', '0.75', '0.5:0.95'}
    for name, value in report['video_ap']['peer_map'].items():
        assert report['video_ap']['ours_map'][name] == pytest.approx(value, abs=1e-6)
    printed = capsys.readouterr().out
    assert 'tube linking' in printed and 'frame-AP' in printed and 'video-AP' in printed


def test_command_line_keeps_its_options(benchmark_eval):
    args = benchmark_eval.parse_args(['--videos', '300', '--detections', '60000', '--link',
                                      '--mm-videos', '50', '--skip-mmaction2'])
    assert (args.videos, args.detections, args.mm_videos) == (300, 60000, 50)
    assert args.skip_mmaction2 and not args.skip_link
    defaults = benchmark_eval.parse_args([])
    assert (defaults.videos, defaults.detections, defaults.link_videos) == (910, 650_000, 100)
