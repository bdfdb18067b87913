"""The peers of benchmark.py's paper-speed section (point3d_mm.analysis.peer_pipeline): the
person detector is mmdet's shipped Faster R-CNN config with mmdet's test pipeline, and every
``vs_*`` ratio is a measured time over a measured peer time, named in ``ratio_keys``. The
models run on tiny inputs (the demo's scales shrunk); the paper-scale run is by hand
(docs/benchmarks.md)."""
import os.path as osp
import statistics

import mmdet
import numpy as np
import pytest
from performance_helpers import tiny_detector

from point3d_mm.analysis import inference_latency, peer_pipeline
from point3d_mm.analysis.benchmark_configs import config_path

TINY_DEMO = dict(detector_scale=(96, 64), clip_short_side=48)


def test_detector_is_mmdets_shipped_config_with_its_test_pipeline():
    model, pipeline = peer_pipeline.build_person_detector('cpu', 'demo')
    path = model.cfg.filename
    package = osp.dirname(osp.abspath(mmdet.__file__))
    assert osp.isfile(path) and osp.commonpath([package, osp.abspath(path)]) == package
    assert path.endswith(osp.join('faster_rcnn', 'faster-rcnn_r50_fpn_2x_coco.py'))
    assert type(model).__name__ == 'FasterRCNN' and model.backbone.depth == 50
    frame = np.zeros((240, 320, 3), np.uint8)
    # mmaction2's demo settings: Resize(1333, 800, keep_ratio) makes a UCF101-24 frame 1067x800
    assert pipeline(dict(img=frame, img_id=0))['inputs'].shape == (3, 800, 1067)
    _, pipeline = peer_pipeline.build_person_detector('cpu', 'input', input_size=256)
    assert pipeline(dict(img=frame, img_id=0))['inputs'].shape == (3, 256, 256)
    assert peer_pipeline.clip_shape('demo', (240, 320)) == (256, 341)  # short side 256
    with pytest.raises(ValueError, match="setting must be one of .*'demo'.*got 'video'"):
        peer_pipeline.build_person_detector('cpu', 'video')


def test_shipped_config_names_a_missing_file():
    with pytest.raises(FileNotFoundError, match=r'mmdet .* ships no config no/such\.py'):
        peer_pipeline.shipped_config('mmdet', 'no/such.py')


def test_whole_head_periods():
    assert [inference_latency.whole_periods(3, k) for k in (1, 2, 4)] == [3, 4, 4]
    # batches of 4 frames holding whole periods of 8 frames: 2 batches at a time
    assert inference_latency.whole_periods(3, 8, unit=4) == 4
    assert inference_latency.whole_periods(1, 2, unit=4) == 1
    assert inference_latency.per_frame_ms([0.1, 0.3, 0.2], 1) == pytest.approx(200)
    assert inference_latency.per_frame_ms([0.1, 0.1, 0.1, 0.5], 4) == pytest.approx(200)


@pytest.mark.parametrize('interval', [1, 3])
def test_part_profile_shares_twa_and_the_3d_head_over_the_interval(interval):
    model = tiny_detector(4, **{'model.test_cfg.head_interval': interval})
    parts = inference_latency.part_profile(model, repeats=1)
    head_frame = parts['per_head_frame']
    assert parts['head_interval'] == interval
    # TWA and the 3D Head's forward on one frame of k; every frame pools its boxes
    assert parts['twa'] == pytest.approx(head_frame['twa'] / interval)
    assert parts['head_3d'] == pytest.approx(parts['head_3d_forward'] / interval +
                                             parts['head_3d_pooling'])
    assert head_frame['head_3d'] == pytest.approx(parts['head_3d_forward'] +
                                                  parts['head_3d_pooling'])
    assert all(parts[name] > 0 for name in ('backbone', 'point_head', 'head_3d_forward',
                                            'head_3d_pooling', 'twa'))


def test_paper_speed_rows_and_every_ratio_against_its_peer(monkeypatch):
    config = config_path('tiny')
    k2 = {'model.test_cfg.head_interval': 2}
    monkeypatch.setattr(inference_latency, 'paper_speed_variants', lambda *_: [
        ('paper, fp32', config, None, {}), ('paper (head_interval=2), fp32', config, k2, {})])
    speed = inference_latency.paper_speed('cpu', frames=1, config=config, repeats=1,
                                          clip_len=4, frame_batch=2, demo=TINY_DEMO)
    rows = {row['model']: row for row in speed['rows']}
    assert [row['head_interval'] for row in speed['rows']] == [1, 2]
    # k = 1: the median frame; k = 2: the mean of a whole period (two frames)
    for row in speed['rows']:
        assert len(row['ms_all']) == row['head_interval']
        assert row['ms_per_frame'] == pytest.approx(
            statistics.median(row['ms_all']) if row['head_interval'] == 1
            else statistics.fmean(row['ms_all']))
    # the peers, at each option set of the rows (one here: the slow test of
    # test_benchmark_script.py has several)
    options = {(False, None)}
    assert {(p['channels_last'], p['dtype']) for p in speed['peer']} == options
    pipelines = {(p['setting'], p['channels_last'], p['dtype']): p
                 for p in speed['peer_pipeline']}
    assert set(pipelines) == {(s, *o) for s in ('demo', 'input') for o in options}
    for peer in speed['peer_pipeline']:
        # a key frame costs its two stages, detector then SlowOnly with its boxes
        assert peer['ms_all'] == pytest.approx(
            [d + s for d, s in zip(peer['detector_ms_all'], peer['slowonly_ms_all'])])
        assert peer['ms_per_key_frame'] == pytest.approx(statistics.median(peer['ms_all']))
        # the config mmdet ships, named without this machine's folders
        assert peer['detector_config'] == 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py'
        assert osp.isfile(peer_pipeline.shipped_config('mmdet', peer['detector_config'][7:]))
        assert peer['proposals'] == 5 and peer['detector_people'] == [0]  # random init
    demo = pipelines['demo', False, None]
    # 320x240 through Resize((96, 64), keep_ratio): x0.267; the clip at short side 48
    assert (demo['detector_input'], demo['clip']) == ('85x64', '4x64x48')
    assert pipelines['input', False, None]['detector_input'] == '128x128'  # tiny input size
    slowonly = {(p['channels_last'], p['dtype']): p['ms_per_clip'] for p in speed['peer']}
    for row in speed['rows']:
        option = (row['channels_last'], row['dtype'])
        ours = row['ms_per_frame']
        assert row['vs_peer'] == pytest.approx(ours / slowonly[False, None])
        assert row['vs_peer_same_options'] == pytest.approx(ours / slowonly[option])
        for setting in ('demo', 'input'):
            fp32 = pipelines[setting, False, None]['ms_per_key_frame']
            same = pipelines[(setting, *option)]['ms_per_key_frame']
            assert row[f'vs_pipeline_{setting}'] == pytest.approx(ours / fp32)
            assert row[f'vs_pipeline_{setting}_same_options'] == pytest.approx(ours / same)
        assert {key for key in row if key.startswith('vs_')} == set(speed['ratio_keys'])
    assert rows['paper, fp32']['ms_per_frame'] == rows['paper, fp32']['ms_median']
    keys = speed['ratio_keys']
    assert 'lower bound' in keys['vs_peer'] and 'fp32' in keys['vs_peer']
    assert "mmaction2's demo settings" in keys['vs_pipeline_demo']
    assert 'fed 128x128' in keys['vs_pipeline_input_same_options']
    assert "row's speed options" in keys['vs_pipeline_input_same_options']
