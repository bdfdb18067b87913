"""The measuring machinery behind tools/analysis/benchmark*.py: point3d_mm.utils.benchmark
(timing, memory readers, the machine) checked against independent readings, and the model
runners of point3d_mm.analysis on the tiny model (the benchmarks themselves are run by
hand: docs/benchmarks.md)."""
import os
import sys

import psutil
import pytest
from performance_helpers import tiny_detector

from point3d_mm.analysis import evaluation_speed, inference_latency, training_speed
from point3d_mm.analysis.benchmark_configs import config_path
from point3d_mm.utils import benchmark as measuring


def test_clip_and_streaming_rows():
    row = inference_latency.time_modes(tiny_detector(), clip_len=4, frames=2, warmup=1)
    assert row['clip']['frames'] == row['stream']['frames'] == 2
    # The ratio is the two medians' (not a constant), and fps is the median latency's inverse.
    assert row['speedup'] == pytest.approx(row['clip']['ms_median'] / row['stream']['ms_median'])
    assert row['stream']['fps'] == pytest.approx(1000 / row['stream']['ms_median'], rel=1e-3)
    assert 'x' in inference_latency.format_inference_row(dict(config='tiny', **row))


def test_machine_is_reported():
    info = measuring.machine_info('cpu', threads=3)
    assert info['cpu'] and info['logical_cores'] == os.cpu_count() and info['torch']
    assert info['threads'] == 3 and info['device'] == 'cpu' and 'gpu' not in info
    with open('/proc/cpuinfo') as f:
        flags = next(line for line in f if line.startswith('flags')).split()
    assert info['cpu_flags'] == [flag for flag in measuring.CPU_FLAGS if flag in flags]


def test_latency_stats_and_median_time_by_hand():
    stats = measuring.latency_stats([0.010, 0.030, 0.020, 0.040])
    assert stats['ms_median'] == pytest.approx(25.0) and stats['ms_min'] == pytest.approx(10.0)
    assert stats['ms_mean'] == pytest.approx(25.0) and stats['fps'] == pytest.approx(40.0)
    calls = []
    result, median, times = measuring.median_time(lambda: calls.append(1) or len(calls), 3,
                                                  warmup=2)
    assert (result, len(calls), len(times)) == (5, 5, 3) and median == sorted(times)[1]


def test_memory_readers_agree_with_psutil():
    rss = psutil.Process().memory_info().rss / 2**20
    assert measuring.proc_status_mb('VmRSS') == pytest.approx(rss, rel=0.05)
    assert measuring.peak_rss_mb() >= measuring.proc_status_mb('VmRSS')
    assert measuring.proc_status_mb('NoSuchKey') is None
    assert measuring.reset_peak_cuda('cpu') is None and measuring.peak_cuda_mb('cpu') is None


def test_run_measured_sees_a_child_allocation():
    # The child touches 300 MB: its kernel peak RSS must show them, and its output returns.
    code = 'b = bytearray(300 * 2**20); print("done", len(b))'
    run = measuring.run_measured([sys.executable, '-c', code], poll=0.01)
    assert run['returncode'] == 0 and run['output'].strip() == f'done {300 * 2**20}'
    assert run['ru_maxrss_mb'] >= 300 and run['wall_s'] > 0
    failed = measuring.run_measured([sys.executable, '-c', 'raise SystemExit(3)'])
    assert failed['returncode'] == 3


def test_test_loop_and_part_profile():
    model = tiny_detector(4)
    row = inference_latency.test_loop_row(model, clip_frames=2, batches=2, frame_batch=2)
    assert row['clip']['frames'] == 2 and row['cached']['batches'] == 2
    assert row['ratio'] == pytest.approx(row['clip']['ms_median'] / row['cached']['ms_median'])
    parts = inference_latency.part_profile(model, repeats=1)
    assert {'backbone', 'point_head', 'twa', 'head_3d'} <= set(parts)
    assert all(parts[name] > 0 for name in ('backbone', 'point_head', 'twa', 'head_3d'))


def test_paper_speed_variants_cover_the_gpu_precisions():
    config = config_path('paper')
    names = [name for name, *_ in inference_latency.paper_speed_variants('cuda', config)]
    assert names[:3] == ['paper, fp32', 'paper, channels_last',
                         'paper, channels_last + float16']
    options = {name: opts for name, _, _, opts in
               inference_latency.paper_speed_variants('cuda', config)}
    assert options['paper, channels_last + float16'] == dict(channels_last=True,
                                                             dtype='float16')
    assert 'fp16 autocast' in inference_latency.speed_variants('cuda')
    assert 'fp16 autocast' not in inference_latency.speed_variants('cpu')


@pytest.mark.slow
def test_paper_speed_section_on_the_tiny_config():
    speed = inference_latency.paper_speed('cpu', frames=1, config=config_path('tiny'),
                                          repeats=1, clip_len=4, frame_batch=2,
                                          paper_only=True,
                                          demo=dict(detector_scale=(96, 64), clip_short_side=48))
    assert speed['clip_len'] == 4 and speed['rows'][0]['model'] == 'paper, fp32'
    options = {(row['channels_last'], row['dtype']) for row in speed['rows']}
    assert {(p['channels_last'], p['dtype']) for p in speed['peer']} == options
    assert {(p['setting'], p['channels_last'], p['dtype']) for p in speed['peer_pipeline']} == {
        (setting, *option) for setting in ('demo', 'input') for option in options}
    for row in speed['rows']:
        assert row['cached_fps'] == pytest.approx(1000 / row['cached_ms_per_frame'])
        assert row['vs_peer'] == pytest.approx(row['ms_median'] / speed['peer'][0]['ms_per_clip'])
        same = next(p for p in speed['peer_pipeline'] if p['setting'] == 'demo' and
                    (p['channels_last'], p['dtype']) == (row['channels_last'], row['dtype']))
        assert row['vs_pipeline_demo_same_options'] == pytest.approx(
            row['ms_per_frame'] / same['ms_per_key_frame'])


def test_every_registered_linker_is_timed():
    from mmaction.registry import TASK_UTILS
    names = list(evaluation_speed.linkers())
    assert names[0] == 'TubeLinker' and 'ViterbiTubeLinker' in names
    gt, dets, _ = evaluation_speed.synthetic_eval_set(num_videos=4, num_detections=600)
    videos = gt['test_videos'][0][:2]
    for name in names:
        row = evaluation_speed.time_linking(gt, dets, num_videos=2, repeats=1, ms=None,
                                            linker=name)
        direct = TASK_UTILS.build(dict(type=name)).link_videos(dets[dets[:, 0] < 2], videos)
        assert row['linker'] == name and 'peer_s' not in row
        assert row['tubes'] == sum(map(len, direct.values()))
        assert row['frames'] == sum(gt['nframes'][v] for v in videos)
        assert row['ours_fps'] == pytest.approx(row['frames'] / row['ours_s'])


def test_backbone_training_step_row():
    row = training_speed.backbone_step_run(config_path('tiny'), num_frames=1,
                                      with_cp=True, device='cpu')
    assert set(row) == {'step_s', 'rss_before_mb', 'peak_rss_mb'} and row['step_s'] > 0
    assert row['peak_rss_mb'] >= row['rss_before_mb']


@pytest.mark.slow
def test_training_rows_time_each_config_against_the_first():
    """--train-configs: each config trained as it is after the tiny rows, its row's vs_first
    its ms per iteration over the first config's."""
    configs = os.path.dirname(config_path('tiny'))
    demo = os.path.join(configs, 'point3d_demo_synthetic.py')
    bf16 = os.path.join(configs, 'ablation', 'point3d_demo_synthetic_bf16.py')
    rows = training_speed.training_rows(iters=2, device='cpu', threads=1, backbone_frames=0,
                                        warmup=1, configs=[demo, bf16])
    assert [row['config'] for row in rows] == ['tiny', 'tiny', 'point3d_demo_synthetic',
                                               'point3d_demo_synthetic_bf16']
    assert [row['with_cp'] for row in rows] == [False, True, False, False]
    assert 'vs_first' not in rows[1] and rows[2]['vs_first'] == 1
    assert rows[3]['vs_first'] == pytest.approx(rows[3]['ms_per_iter'] / rows[2]['ms_per_iter'])
