"""tools/analysis/plot_results.py and point3d_mm.visualization.training_plots: training curves
and per-class AP bars from a work dir."""
import json
import math
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image
from tool_helpers import load_tool

from point3d_mm.evaluation.metrics.action_map import ap_table
from point3d_mm.utils.fileio import dump_json
from point3d_mm.visualization import training_plots

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


plot_results = load_tool('analysis/plot_results.py')

CLASSES = ['walk_left', 'walk_right', 'jump', 'march', 'rewind', 'aerobic kick jump', 'unseen']
NAN = float('nan')


def _tables():
    """The tables of a real FrameMAP/VideoMAP run (work_dirs/demo after one epoch), as the
    metrics save them; a MultiSports-style class name with spaces and an unscored class
    added."""
    frame = ap_table('frame-AP@0.5', 'protocol=act, frames=all, split=1, 10 videos, 18754 '
                     'detections', CLASSES,
                     {'AP': np.array([0.0055, 0.0069, 0.1392, 0.0011, 0.0287, 0.7273, NAN])},
                     np.array([232, 247, 281, 125, 44, 105, 0]),
                     np.array([5905, 1730, 4159, 4321, 1132, 1507, 12]))
    video = ap_table('video-AP', 'protocol=act, tubes linked from all frames, split=1',
                     CLASSES, {'AP@0.2': np.array([0, 0, 0.2225, 0.0128, 0, 1.0, NAN]),
                               'AP@0.5': np.array([0, 0, 0.0167, 0, 0, 1.0, NAN]),
                               'AP@0.5:0.95': np.array([0, 0, 0.0017, 0, 0, 0.15, NAN])},
                     np.array([4, 5, 6, 5, 1, 2, 0]), np.array([54, 3, 44, 51, 1, 5, 0]))
    return frame, video


def _save_tables(folder):
    frame, video = _tables()
    dump_json(frame, osp.join(folder, 'act_frame_ap.json'))
    dump_json(video, osp.join(folder, 'act_video_ap.json'))


def _train_row(step, epoch, scale=1.0):
    return {'point.lr': 1e-3, 'cls.lr': 1e-2, 'data_time': 0.02, 'loss': 10.0 * scale / step,
            'loss_center_heatmap': 2.0 * scale / step, 'loss_cls': 1.5 * scale / step,
            'time': 1.0, 'epoch': epoch, 'iter': step, 'step': step}


def _val_row(epoch, value):
    return {'act/frame_mAP@0.5': value, 'act/video_mAP@0.5': value / 2, 'data_time': 0.02,
            'time': 0.7, 'step': epoch}


def _write_run(work_dir, stamp, rows, tables=False):
    run = osp.join(work_dir, stamp)
    os.makedirs(osp.join(run, 'vis_data'))
    with open(osp.join(run, 'vis_data', 'scalars.json'), 'w') as f:
        for row in rows:
            f.write(json.dumps(row) + '\n')
    if tables:
        _save_tables(run)
    return run


@pytest.fixture
def work_dir(tmp_path):
    """Two runs: epochs 1-2, then a resumed run for epoch 3 whose metrics saved the tables
    (and a torn last scalars line, as while a run is still writing)."""
    root = str(tmp_path / 'work')
    first = [_train_row(s, 1 + (s > 20)) for s in range(10, 41, 10)]
    first[2:2] = [_val_row(1, 0.3)]
    first.append(_val_row(2, 0.5))
    _write_run(root, '20261125_010000', first)
    second = [_train_row(s, 3) for s in (50, 60)] + [_val_row(3, 0.7)]
    run = _write_run(root, '20261125_020000', second, tables=True)
    with open(osp.join(run, 'vis_data', 'scalars.json'), 'a') as f:
        f.write('{"loss": 1.0, "st')
    return root


def test_saved_tables_read_back_with_known_numbers(tmp_path):
    _save_tables(str(tmp_path))
    tables, source = training_plots.load_tables(str(tmp_path))
    assert [t['name'] for t in tables] == ['frame-AP@0.5', 'video-AP']
    assert source.endswith('act_video_ap.json')
    frame, video = tables
    assert frame['setting'] == 'protocol=act, frames=all, split=1, 10 videos, 18754 detections'
    assert frame['columns'] == ['AP'] and frame['classes'] == CLASSES
    np.testing.assert_allclose(frame['ap']['AP'][:6],
                               [0.0055, 0.0069, 0.1392, 0.0011, 0.0287, 0.7273])
    assert math.isnan(frame['ap']['AP'][6])
    assert frame['num_gt'] == [232, 247, 281, 125, 44, 105, 0]
    assert frame['mean'] == pytest.approx({'AP': (0.0055 + 0.0069 + 0.1392 + 0.0011 + 0.0287
                                                  + 0.7273) / 6})
    assert video['columns'] == ['AP@0.2', 'AP@0.5', 'AP@0.5:0.95']
    assert video['ap']['AP@0.5:0.95'][5] == pytest.approx(0.15)
    assert all(math.isnan(video['ap'][c][6]) for c in video['columns'])
    assert video['mean']['AP@0.2'] == pytest.approx((0.2225 + 0.0128 + 1.0) / 6)


def test_a_metric_saves_its_table_beside_the_log(tmp_path):
    """FrameMAP writes the table it logs as JSON (results_file), and the tool reads it."""
    from point3d_mm.evaluation.metrics import FrameMAP
    from point3d_mm.structures.act_format import dump_act
    tube = np.array([[f, 10, 10, 50, 50] for f in range(1, 4)], np.float32)
    dump_act(dict(labels=['run', 'jump'], gttubes={'v': {0: [tube]}}, nframes={'v': 3},
                  resolution={'v': (64, 64)}, train_videos=[[]], test_videos=[['v']]),
             tmp_path / 'gt.pkl')
    metric = FrameMAP(str(tmp_path / 'gt.pkl'), results_file=str(tmp_path / 'act_frame_ap.json'))
    metric.results = [dict(video='v', rows=np.array([[f, 0, 0.9, 10, 10, 50, 50]
                                                     for f in range(1, 4)], np.float64))]
    assert metric.compute_metrics(metric.results) == {'frame_mAP@0.5': 1.0}
    (table, ), _ = training_plots.load_tables(str(tmp_path))
    assert table['classes'] == ['run', 'jump'] and table['num_gt'] == [3, 0]
    assert table['ap']['AP'][0] == 1.0 and math.isnan(table['ap']['AP'][1])
    assert table['protocol'] == 'act' and table['split'] == 1


def test_load_scalars_chains_runs(work_dir):
    train, val = training_plots.load_scalars(work_dir)
    assert [r['step'] for r in train] == [10, 20, 30, 40, 50, 60]
    assert [r['step'] for r in val] == [1, 2, 3]
    assert training_plots.loss_keys(train) == ['loss', 'loss_center_heatmap', 'loss_cls']
    assert training_plots.lr_keys(train) == ['point.lr', 'cls.lr']
    assert training_plots.metric_keys(val) == ['act/frame_mAP@0.5', 'act/video_mAP@0.5']
    steps, values = training_plots.series(val, 'act/frame_mAP@0.5')
    assert steps == [1, 2, 3] and values == pytest.approx([0.3, 0.5, 0.7])


def test_restarted_run_replaces_earlier_rows():
    first = [_train_row(s, 1) for s in (10, 20, 30)]
    restarted = [_train_row(s, 1, scale=2.0) for s in (10, 20)]
    rows = training_plots.chain_runs([first, restarted])
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
    assert osp.join('20261125_020000', 'act_frame_ap.json') in saved['source']
    assert saved['tables'][0]['ap']['AP'][6] is None  # nan -> null

    # the saved tables and a tools/test.py --out-metrics JSON read back
    metrics_file = tmp_path / 'test_metrics.json'
    metrics_file.write_text(json.dumps({'act/frame_mAP@0.5': 0.93, 'act/video_mAP@0.5': 0.88,
                                        'protocol': 'act', 'frames': 'all', 'split': 1}))
    assert training_plots.load_metrics_json(str(metrics_file)) == (
        {'act/frame_mAP@0.5': 0.93, 'act/video_mAP@0.5': 0.88}, [])
    metrics, tables = training_plots.load_metrics_json(written['per_class_json'])
    assert metrics['frame-AP@0.5 AP'] == pytest.approx(0.9087 / 6) and len(tables) == 2
    assert math.isnan(tables[0]['ap']['AP'][6])
    empty = tmp_path / 'empty'
    empty.mkdir()
    again = plot_results.main([str(empty), '--metrics', str(metrics_file), '--dpi', '40'])
    assert set(again) == {'metrics_summary'}  # mean metrics only: no per-class chart
    again = plot_results.main([str(empty), '--metrics', written['per_class_json'], '--dpi', '40'])
    assert {'metrics_summary', 'per_class_frame_ap_0.5', 'per_class_video_ap'} <= set(again)
    with Image.open(again['metrics_summary']) as image:
        assert image.size[0] == 320


def test_tables_option_and_nothing_to_plot(tmp_path, capsys):
    _save_tables(str(tmp_path / 'eval'))
    out_dir = tmp_path / 'out'
    written = plot_results.main([str(tmp_path), '--tables',
                                 str(tmp_path / 'eval' / 'act_frame_ap.json'),
                                 str(tmp_path / 'eval' / 'act_video_ap.json'),
                                 '--out-dir', str(out_dir)])
    assert set(written) == {'per_class_frame_ap_0.5', 'per_class_video_ap', 'per_class_json'}
    nothing = tmp_path / 'nothing'
    nothing.mkdir()
    assert plot_results.main([str(nothing)]) == {}
    assert 'nothing to plot' in capsys.readouterr().err
    bad = tmp_path / 'bad.json'
    bad.write_text('{"loss": 1}')
    with pytest.raises(SystemExit, match='bad.json: not a per-class AP table'):
        plot_results.main([str(nothing), '--tables', str(bad)])
