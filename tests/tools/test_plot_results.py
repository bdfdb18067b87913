"""tools/analysis/plot_results.py: training curves and per-class AP bars from a work dir."""
import importlib.util
import json
import math
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'plot_results', osp.join(REPO, 'tools', 'analysis', 'plot_results.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plot_results = _load_tool()

# A real FrameMAP/VideoMAP log excerpt (work_dirs/demo after one epoch), mmengine prefix on
# the title lines; a MultiSports-style class name with spaces and an unscored class added.
LOG_TABLES = """\
2026/11/25 03:50:14 - mmengine - INFO - Epoch(val) [1][70/76]    eta: 0:00:04  time: 1.1569
2026/11/25 03:50:15 - mmengine - INFO - frame-AP@0.5 (protocol=act, frames=all, split=1, 10 videos, 18754 detections)
class                AP     #gt     #det
walk_left          0.55     232     5905
walk_right         0.69     247     1730
jump              13.92     281     4159
march              0.11     125     4321
rewind             2.87      44     1132
aerobic kick jump 72.73     105     1507
unseen                -       0       12
mean              15.15
2026/11/25 03:50:15 - mmengine - INFO - video-AP (protocol=act, tubes linked from all frames, split=1, 10 videos, 158 tubes)
class                AP@0.2    AP@0.5 AP@0.5:0.95     #gt     #det
walk_left              0.00      0.00      0.00       4       54
walk_right             0.00      0.00      0.00       5        3
jump                  22.25      1.67      0.17       6       44
march                  1.28      0.00      0.00       5       51
rewind                 0.00      0.00      0.00       1        1
aerobic kick jump    100.00    100.00     15.00       2        5
unseen                    -         -         -       0        0
mean                  20.59     16.94      2.53
2026/11/25 03:50:15 - mmengine - INFO - Epoch(val) [1][76/76]    act/frame_mAP@0.5: 0.1515
"""


def _train_row(step, epoch, scale=1.0):
    return {'point.lr': 1e-3, 'cls.lr': 1e-2, 'data_time': 0.02, 'loss': 10.0 * scale / step,
            'loss_center_heatmap': 2.0 * scale / step, 'loss_cls': 1.5 * scale / step,
            'time': 1.0, 'epoch': epoch, 'iter': step, 'step': step}


def _val_row(epoch, value):
    return {'act/frame_mAP@0.5': value, 'act/video_mAP@0.5': value / 2, 'data_time': 0.02,
            'time': 0.7, 'step': epoch}


def _write_run(work_dir, stamp, rows, log_text=None):
    run = osp.join(work_dir, stamp)
    os.makedirs(osp.join(run, 'vis_data'))
    with open(osp.join(run, 'vis_data', 'scalars.json'), 'w') as f:
        for row in rows:
            f.write(json.dumps(row) + '\n')
    if log_text is not None:
        with open(osp.join(run, f'{stamp}.log'), 'w') as f:
            f.write(log_text)
    return run


@pytest.fixture
def work_dir(tmp_path):
    """Two runs: epochs 1-2, then a resumed run for epoch 3 whose log has the tables (and a
    torn last scalars line, as while a run is still writing)."""
    root = str(tmp_path / 'work')
    first = [_train_row(s, 1 + (s > 20)) for s in range(10, 41, 10)]
    first[2:2] = [_val_row(1, 0.3)]
    first.append(_val_row(2, 0.5))
    _write_run(root, '20261125_010000', first, log_text='no tables here\n')
    second = [_train_row(s, 3) for s in (50, 60)] + [_val_row(3, 0.7)]
    run = _write_run(root, '20261125_020000', second, log_text=LOG_TABLES)
    with open(osp.join(run, 'vis_data', 'scalars.json'), 'a') as f:
        f.write('{"loss": 1.0, "st')
    return root


def test_parse_ap_tables_known_numbers():
    tables = plot_results.parse_ap_tables(LOG_TABLES)
    assert [t['name'] for t in tables] == ['frame-AP@0.5', 'video-AP']
    frame, video = tables
    assert frame['setting'] == 'protocol=act, frames=all, split=1, 10 videos, 18754 detections'
    assert frame['columns'] == ['AP']
    assert frame['classes'] == ['walk_left', 'walk_right', 'jump', 'march', 'rewind',
                                'aerobic kick jump', 'unseen']
    np.testing.assert_allclose(frame['ap']['AP'][:6],
                               [0.0055, 0.0069, 0.1392, 0.0011, 0.0287, 0.7273])
    assert math.isnan(frame['ap']['AP'][6])
    assert frame['num_gt'] == [232, 247, 281, 125, 44, 105, 0]
    assert frame['num_det'] == [5905, 1730, 4159, 4321, 1132, 1507, 12]
    assert frame['mean'] == pytest.approx({'AP': 0.1515})

    assert video['columns'] == ['AP@0.2', 'AP@0.5', 'AP@0.5:0.95']
    assert video['ap']['AP@0.2'][2] == pytest.approx(0.2225)
    assert video['ap']['AP@0.5:0.95'][5] == pytest.approx(0.15)
    assert all(math.isnan(video['ap'][c][6]) for c in video['columns'])
    assert video['num_gt'] == [4, 5, 6, 5, 1, 2, 0]
    assert video['mean'] == pytest.approx({'AP@0.2': 0.2059, 'AP@0.5': 0.1694,
                                           'AP@0.5:0.95': 0.0253})


def test_parse_tables_written_by_format_ap_table():
    """The parser reads what the metrics' own formatter writes, stdout style (no prefix)."""
    from point3d_mm.evaluation.metrics.action_map import format_ap_table
    labels = ['Basketball', 'long jump', 'Skijet']
    ap = {'AP@0.1': np.array([0.5, np.nan, 0.123456]), 'AP@0.5': np.array([0.25, np.nan, 0.0])}
    text = format_ap_table('video-AP (protocol=voc, split=1, 3 videos, tubes.pkl)', labels, ap,
                           np.array([3, 0, 7]), np.array([10, 2, 0]))
    (table, ) = plot_results.parse_ap_tables('some output\n' + text + '\nvoc/video_mAP@0.1: 31')
    assert table['classes'] == labels and table['num_det'] == [10, 2, 0]
    assert table['ap']['AP@0.1'][0] == pytest.approx(0.5)
    assert table['ap']['AP@0.1'][2] == pytest.approx(0.1235)  # printed with 2 decimals (%)
    assert math.isnan(table['ap']['AP@0.5'][1])
    assert table['mean'] == pytest.approx({'AP@0.1': 0.3117, 'AP@0.5': 0.125})


def test_last_table_of_each_kind():
    text = LOG_TABLES + LOG_TABLES.replace('13.92', '50.00')
    tables = plot_results.last_tables(plot_results.parse_ap_tables(text))
    assert [t['name'] for t in tables] == ['frame-AP@0.5', 'video-AP']
    assert tables[0]['ap']['AP'][2] == pytest.approx(0.5)


def test_load_scalars_chains_runs(work_dir):
    train, val = plot_results.load_scalars(work_dir)
    assert [r['step'] for r in train] == [10, 20, 30, 40, 50, 60]
    assert [r['step'] for r in val] == [1, 2, 3]
    assert plot_results.loss_keys(train) == ['loss', 'loss_center_heatmap', 'loss_cls']
    assert plot_results.lr_keys(train) == ['point.lr', 'cls.lr']
    assert plot_results.metric_keys(val) == ['act/frame_mAP@0.5', 'act/video_mAP@0.5']
    steps, values = plot_results.series(val, 'act/frame_mAP@0.5')
    assert steps == [1, 2, 3] and values == pytest.approx([0.3, 0.5, 0.7])


def test_restarted_run_replaces_earlier_rows():
    first = [_train_row(s, 1) for s in (10, 20, 30)]
    restarted = [_train_row(s, 1, scale=2.0) for s in (10, 20)]
    rows = plot_results.chain_runs([first, restarted])
    assert [r['step'] for r in rows] == [10, 20]
    assert rows[0]['loss'] == pytest.approx(2.0)


def test_plot_tool_writes_pngs(work_dir, tmp_path):
    out_dir = str(tmp_path / 'plots')
    written = plot_results.main([work_dir, '--out-dir', out_dir, '--fig-size', '6', '4',
                                 '--dpi', '50'])
    assert set(written) == {'train_loss', 'train_lr', 'val_metrics', 'per_class_frame_ap_0.5',
                            'per_class_video_ap', 'per_class_json'}
    # 7 classes: a single-column chart keeps the height (0.22 * 7 + 1.5 < 4 inches); the
    # 3-column video chart grows to 0.22 * 7 * 3 + 1.5 inches.
    expected = {'train_loss': (300, 200), 'train_lr': (300, 200), 'val_metrics': (300, 200),
                'per_class_frame_ap_0.5': (300, 200),
                'per_class_video_ap': (300, round(50 * (0.22 * 7 * 3 + 1.5)))}
    for name, size in expected.items():
        path = written[name]
        assert path == osp.join(out_dir, name + '.png')
        with Image.open(path) as image:
            assert image.format == 'PNG'
            image.verify()
        with Image.open(path) as image:
            assert image.size == size, name
            pixels = np.asarray(image.convert('RGB'))
            assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10, name  # not blank
    assert not [n for n in os.listdir(out_dir) if n.endswith('.tmp')]

    with open(written['per_class_json']) as f:
        saved = json.load(f)
    assert saved['source'].endswith(osp.join('20261125_020000', '20261125_020000.log'))
    assert saved['tables'][0]['ap']['AP'][6] is None  # nan -> null

    # the saved tables and a tools/test.py --out-metrics JSON read back
    metrics_file = tmp_path / 'test_metrics.json'
    metrics_file.write_text(json.dumps({'act/frame_mAP@0.5': 0.93, 'act/video_mAP@0.5': 0.88,
                                        'protocol': 'act', 'frames': 'all', 'split': 1}))
    assert plot_results.load_metrics_json(str(metrics_file)) == (
        {'act/frame_mAP@0.5': 0.93, 'act/video_mAP@0.5': 0.88}, [])
    metrics, tables = plot_results.load_metrics_json(written['per_class_json'])
    assert metrics['frame-AP@0.5 AP'] == pytest.approx(0.1515) and len(tables) == 2
    assert math.isnan(tables[0]['ap']['AP'][6])
    empty = tmp_path / 'empty'
    empty.mkdir()
    again = plot_results.main([str(empty), '--metrics', str(metrics_file), '--dpi', '40'])
    assert set(again) == {'metrics_summary'}  # mean metrics only: no per-class chart
    again = plot_results.main([str(empty), '--metrics', written['per_class_json'], '--dpi', '40'])
    assert {'metrics_summary', 'per_class_frame_ap_0.5', 'per_class_video_ap'} <= set(again)
    with Image.open(again['metrics_summary']) as image:
        assert image.size[0] == 320


def test_log_option_and_nothing_to_plot(tmp_path, capsys):
    log = tmp_path / 'eval_stdout.txt'
    log.write_text(LOG_TABLES)
    out_dir = tmp_path / 'out'
    written = plot_results.main([str(tmp_path), '--log', str(log), '--out-dir', str(out_dir)])
    assert set(written) == {'per_class_frame_ap_0.5', 'per_class_video_ap', 'per_class_json'}
    nothing = tmp_path / 'nothing'
    nothing.mkdir()
    assert plot_results.main([str(nothing)]) == {}
    assert 'nothing to plot' in capsys.readouterr().err
