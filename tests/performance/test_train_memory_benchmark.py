"""tools/analysis/benchmark_train_memory.py and its machinery (point3d_mm.analysis):
the measuring function end to end on the tiny model (in this process: a fresh one per case
costs 20 s of imports), the report's JSON keys, the plan of cases and the clips-per-GPU
arithmetic on given numbers."""
import json

import pytest
from tool_helpers import load_tool

from point3d_mm.analysis import training_memory as bench
from point3d_mm.analysis import training_memory_summary as summary
from point3d_mm.analysis.benchmark_configs import config_path
from point3d_mm.utils.fileio import dump_json

CASE_KEYS = {'config', 'option', 'batch', 'clip_len', 'input_size', 'device', 'threads',
             'params', 'params_total', 'weights_mb', 'optimizer_state_mb', 'grads_mb',
             'rss_before_mb', 'vmhwm_mb', 'step_s', 'loss'}
SUMMARY_KEYS = {'config', 'option', 'fixed_mb', 'per_clip_mb', 'split',
                'weights_and_optimizer_mb', 'base_mb', 'growth_mb', 'step_s', 'clips_per_gpu'}


@pytest.fixture(scope='module')
def script():
    return load_tool('analysis/benchmark_train_memory.py')


def test_measuring_function_end_to_end(tmp_path):
    config = config_path('tiny')
    cases = []
    for option, batch in (('fp32', 1), ('fp32', 2), ('bf16+cp', 1)):
        case = bench.measure_step(config, option, batch, clip_len=2, input_size=32)
        assert CASE_KEYS <= set(case), CASE_KEYS - set(case)
        assert (case['config'], case['option'], case['batch']) == ('tiny', option, batch)
        assert case['params_total'] == sum(case['params'].values()) > 0
        # fp32 weights + gradients of every (trainable) parameter; Adam's two moments and
        # SGD's momentum exist before the step
        assert case['grads_mb'] == pytest.approx(4 * case['params_total'] / 2**20)
        assert case['optimizer_state_mb'] >= case['grads_mb']
        # in-process, the peak is this pytest process's: only the arithmetic is checked
        case = bench.finish_case(case, ru_maxrss_mb=case['vmhwm_mb'] + 100)
        assert case['peak_rss_mb'] == case['vmhwm_mb']  # the smaller of the two
        assert case['growth_mb'] == case['peak_rss_mb'] - case['rss_before_mb']
        cases.append(case)
    report = dict(command='benchmark_train_memory.py --configs tiny', device='cpu',
                  threads=1, headroom=summary.HEADROOM, gpu_sizes_gb=[16, 32], cases=cases,
                  summary=summary.summarise(cases, [16, 32]))
    fp32, bf16_cp = report['summary']
    assert SUMMARY_KEYS <= set(fp32) and fp32['split'] == 'fit'
    assert set(fp32['clips_per_gpu']) == {'16', '32'}
    assert bf16_cp['split'] == 'gradients'  # no bf16 fit to take the fixed part from
    text = summary.format_memory_report(report)
    assert text.splitlines()[0] == '$ benchmark_train_memory.py --configs tiny'
    path = tmp_path / 'report.json'
    dump_json(report, str(path))
    assert set(json.loads(path.read_text())) == {'command', 'device', 'threads', 'headroom',
                                                 'gpu_sizes_gb', 'cases', 'summary'}


def test_options_switch_the_model():
    cfg = bench.build_training_config(config_path('tiny'), 'bf16+cp')
    assert cfg.model.backbone.with_cp is True
    assert cfg.model.train_cfg.autocast_dtype == 'bfloat16'
    fp32 = bench.build_training_config(config_path('tiny'), 'fp32')
    assert fp32.model.backbone.with_cp is False and 'init_cfg' not in fp32.model.backbone
    assert fp32.model.train_cfg.get('autocast_dtype') is None


def test_clips_per_gpu_by_hand():
    # 16 GiB with 15 % free: 16 * 1024 * 0.85 = 13926.4 MB; (13926.4 - 700) / 600 = 22.04
    assert summary.clips_per_gpu(16, base_mb=700, per_clip_mb=600) == 22
    # 32 GiB: 27852.8 MB; (27852.8 - 700) / 600 = 45.25
    assert summary.clips_per_gpu(32, base_mb=700, per_clip_mb=600) == 45
    assert summary.clips_per_gpu(32, base_mb=700, per_clip_mb=600, headroom=0) == 53
    assert summary.clips_per_gpu(16, base_mb=20000, per_clip_mb=600) == 0  # never negative


def test_fixed_and_per_clip_split_by_hand():
    def case(config, option, batch, growth, size=256):
        return dict(config=config, option=option, batch=batch, growth_mb=growth, step_s=1.0,
                    clip_len=16, input_size=size, grads_mb=150.0, weights_mb=100.0,
                    optimizer_state_mb=200.0)

    cases = [case('a', 'fp32', 1, 1000.0), case('a', 'fp32', 2, 1600.0),
             case('a', 'cp', 1, 800.0), case('b', 'cp', 3, 2200.0), case('a', 'bf16', 1, 500.0),
             case('b', 'fp32', 1, 900.0)]
    rows = {(r['config'], r['option'], r['input_size']): r
            for r in summary.summarise(cases, [16, 32])}
    fit = rows[('a', 'fp32', 256)]
    # growth 1000 at 1 clip and 1600 at 2: 600 per clip over a fixed 400
    assert (fit['fixed_mb'], fit['per_clip_mb'], fit['split']) == (400, 600, 'fit')
    assert fit['base_mb'] == 100 + 200 + 400
    assert fit['clips_per_gpu'] == {'16': 22, '32': 45}
    # checkpointing: the fixed part of fp32 (same precision), per clip 800 - 400
    assert rows[('a', 'cp', 256)]['per_clip_mb'] == 400
    assert rows[('a', 'cp', 256)]['split'] == 'fixed of a fp32 256'
    # another config, 3 clips: (2200 - 400) / 3
    assert rows[('b', 'cp', 256)]['per_clip_mb'] == 600
    # bf16 has no fit of its precision: the gradients are the fixed part
    assert rows[('a', 'bf16', 256)]['fixed_mb'] == 150
    assert rows[('a', 'bf16', 256)]['per_clip_mb'] == 350
    assert rows[('a', 'bf16', 256)]['split'] == 'gradients'
    assert summary.fit_line({1: 10.0, 2: 14.0, 3: 18.0}) == pytest.approx((6.0, 4.0))


def test_scaling_from_a_smaller_geometry_by_hand():
    def case(config, option, batch, growth, size):
        return dict(config=config, option=option, batch=batch, growth_mb=growth, step_s=1.0,
                    clip_len=16, input_size=size, grads_mb=150.0, weights_mb=100.0,
                    optimizer_state_mb=200.0)

    cases = [case('a', 'fp32', 1, 1000.0, 256), case('a', 'fp32', 2, 1600.0, 256),
             case('b', 'fp32', 1, 900.0, 256),
             case('a', 'fp32', 1, 300.0, 128), case('a', 'fp32', 2, 450.0, 128),
             case('a', 'bf16', 1, 250.0, 128), case('a', 'bf16', 2, 330.0, 128)]
    rows = {(r['config'], r['option'], r['input_size']): r
            for r in summary.summarise(cases, [16, 32])}
    # at 128: fp32 150 per clip, bf16 80 per clip over a fixed 170: ratio 80 / 150
    assert rows[('a', 'bf16', 128)]['per_clip_mb'] == pytest.approx(80)
    scaled = rows[('a', 'bf16', 256)]
    assert scaled['estimated'] and scaled['split'] == 'scaled from 128'
    assert scaled['per_clip_mb'] == pytest.approx(600 * 80 / 150)  # 320
    # fp32's fixed part at 256 (400) plus bf16's excess over fp32 at 128 (170 - 150)
    assert scaled['fixed_mb'] == pytest.approx(420)
    assert scaled['base_mb'] == pytest.approx(100 + 200 + 420)
    # 32 GiB: (27852.8 - 720) / 320 = 84.8
    assert scaled['clips_per_gpu']['32'] == 84
    # config b (fp32 at 256 only, 900 - 400 = 500 per clip) takes a's ratio
    other = rows[('b', 'bf16', 256)]
    assert other['split'] == 'ratio of a' and other['estimated']
    assert other['per_clip_mb'] == pytest.approx(500 * 80 / 150)


def test_command_line_plans_the_cases(script):
    args = script.parse_args(['--configs', 'ucf24', 'jhmdb', '--batches', '1', '2',
                              '--options', 'fp32', 'cp', '--scaled-options', 'bf16'])
    assert args.split_configs == ['ucf24'] and args.scaled_configs == ['ucf24']
    assert bench.plan_memory_cases(
        args.configs, args.options, args.batches, args.split_configs, args.split_options,
        args.scaled_options, args.scaled_input_size, args.scaled_configs) == [
        ('ucf24', 'fp32', 1, None), ('ucf24', 'fp32', 2, None), ('ucf24', 'cp', 1, None),
        ('ucf24', 'cp', 2, None), ('ucf24', 'fp32', 1, 128), ('ucf24', 'fp32', 2, 128),
        ('ucf24', 'bf16', 1, 128), ('ucf24', 'bf16', 2, 128), ('jhmdb', 'fp32', 1, None),
        ('jhmdb', 'cp', 1, None)]
    # --config-batch: each config's own per-GPU batch (UCF101-24 6, AVA 8), beside the fit's
    own = script.parse_args(['--configs', 'ucf24', 'ava', '--options', 'fp32', '--config-batch'])
    assert bench.plan_memory_cases(own.configs, own.options, own.batches, own.split_configs,
                                   own.split_options, config_batch=True) == [
        ('ucf24', 'fp32', 1, None), ('ucf24', 'fp32', 2, None), ('ucf24', 'fp32', 6, None),
        ('ava', 'fp32', 8, None)]
    cuda = script.parse_args(['--device', 'cuda'])
    assert cuda.options == ['fp32', 'fp16', 'cp', 'fp16+cp']
    with pytest.raises(SystemExit):
        script.parse_args(['--options', 'fp16'])  # fp16 AMP needs CUDA


def test_fp16_option_is_mmengines_amp_wrapper(monkeypatch):
    monkeypatch.setattr('torch.cuda.is_available', lambda: True)
    cfg = bench.build_training_config(config_path('tiny'), 'fp16+cp')
    wrappers = [value for value in cfg.optim_wrapper.values()
                if isinstance(value, dict) and 'optimizer' in value] or [cfg.optim_wrapper]
    assert wrappers and all(w['type'] == 'AmpOptimWrapper' for w in wrappers)
    assert cfg.model.backbone.with_cp is True
    assert cfg.model.train_cfg.get('autocast_dtype') is None


def test_synthetic_batch_has_the_configs_knot_count():
    """Box-knot configs get the edges' midpoints, joint-knot ones (JHMDB: 15) as many knots
    along each box's diagonal, inside the box."""
    four = bench.synthetic_batch(1, 2, 64, 5)['data_samples'][0].gt_instances
    boxes = four.bboxes
    assert four.knots.shape == (4, 4, 2)
    assert float(four.knots[0, 0, 0]) == float(boxes[0, 0] + boxes[0, 2]) / 2  # top midpoint
    joints = bench.synthetic_batch(1, 2, 64, 5, num_knots=15)['data_samples'][0].gt_instances
    assert joints.knots.shape == (4, 15, 2)
    inside = ((joints.knots >= boxes[:, None, :2]) & (joints.knots <= boxes[:, None, 2:]))
    assert bool(inside.all())
    # 5 % and 95 % of the way from (x1, y1) to (x2, y2)
    first, last = joints.knots[0, 0], joints.knots[0, -1]
    assert abs(float(first[0]) - float(boxes[0, 0] + 0.05 * (boxes[0, 2] - boxes[0, 0]))) < 1e-4
    assert abs(float(last[1]) - float(boxes[0, 1] + 0.95 * (boxes[0, 3] - boxes[0, 1]))) < 1e-4
