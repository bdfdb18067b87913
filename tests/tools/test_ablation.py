"""The ablation grid: its rows and configs (point3d_mm.analysis.ablation), the tables of mean ± sd,
and tools/analysis/run_ablation.py end to end (train, test, result files, resume)."""
import json
import os
import os.path as osp

import pytest
from mmaction.registry import MODELS
from mmengine.config import Config
from tool_helpers import load_tool

from point3d_mm.analysis import ablation

run_ablation = load_tool('analysis/run_ablation.py')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def cfg_of(slug, tmp_path, **kwargs):
    return ablation.row_config(slug, str(tmp_path / slug), config=osp.join(REPO, ablation.CONFIG),
                               **kwargs)


def test_protocol_pins_what_the_rows_compare(tmp_path):
    full = cfg_of('full', tmp_path)
    assert full.train_dataloader.dataset.knots == 'joints'
    assert full.model.point_head.num_knots == 11 and full.model.point_head.with_kp
    assert full.model.point_head.test_cfg.fuse_knots
    assert full.model.neck == dict(type='TimeWiseAttention', scale=None)
    assert full.model.cls_head.type == 'Conv3DHead'
    assert full.train_dataloader.dataset.clip_len == full.test_dataloader.dataset.clip_len == 8
    video_map = [m for m in full.test_evaluator if m.type == 'VideoMAP']
    assert video_map[0].linker == dict(type='TubeLinker')
    assert full.train_cfg.max_iters == 2000 and full.train_cfg.val_interval > 2000
    assert ablation.DATA['size'] == full.input_size == 64


def test_rows_switch_one_part_each(tmp_path):
    parts = {}
    for slug in ablation.ORDER:
        cfg = cfg_of(slug, tmp_path)
        model = cfg.model
        parts[slug] = (model.point_head.with_kp, model.neck is not None,
                       model.cls_head.type == 'Conv3DHead',
                       model.neck.scale if model.neck else '-',
                       model.cls_head.get('backbone', {}).get('conv1_stride_s'),
                       {cfg[loader].dataset.clip_len for loader in
                        ('train_dataloader', 'val_dataloader', 'test_dataloader')})
    #             KP     TWA    3D     scale             stem  T
    full = (True, True, True, None, 1, {8})
    assert parts == {
        'full': full,
        'cp': (False, False, False, '-', None, {8}),
        'cp_kp': (True, False, False, '-', None, {8}),
        'cp_kp_twa': (True, True, False, None, None, {8}),
        'cp_3d': (False, False, True, '-', 1, {8}),
        'cp_kp_3d': (True, False, True, '-', 1, {8}),
        'twa_sqrt_d': (True, True, True, 'sqrt_d', 1, {8}),
        'twa_l2_temperature': (True, True, True, 'l2_temperature', 1, {8}),
        'fast': (True, True, True, None, 2, {8}),
        **{f't{t}': full[:5] + ({t},) for t in (1, 3, 5, 7, 9, 13, 16, 32)},
    }
    frame_cls = MODELS.build(cfg_of('cp', tmp_path).model.cls_head)
    assert type(frame_cls).__name__ == 'FrameClsHead'
    with pytest.raises(ValueError, match="unknown ablation row 'nope'"):
        cfg_of('nope', tmp_path)


def test_fast_row_is_the_fast_configs_change():
    """The grid's fast row and configs/point3d_*_fast.py change the same setting."""
    for base in ('point3d_demo_synthetic', 'point3d_ucf24'):
        fast = Config.fromfile(osp.join(REPO, 'configs', f'{base}_fast.py'))
        expected = Config.fromfile(osp.join(REPO, 'configs', f'{base}.py'))
        expected.merge_from_dict(ablation.ROWS['fast'])
        assert fast.model.to_dict() == expected.model.to_dict()
        assert fast.model != Config.fromfile(osp.join(REPO, 'configs', f'{base}.py')).model


def test_shorter_schedule_and_other_data(tmp_path):
    cfg = cfg_of('t1', tmp_path, iters=20, data_root='elsewhere/')
    assert cfg.train_cfg.max_iters == 20 and cfg.train_cfg.val_interval == 21
    assert cfg.param_scheduler[0].milestones == [15, 18] and cfg.param_scheduler[0].end == 20
    assert cfg.default_hooks.checkpoint.interval == 20
    assert {cfg[k].dataset.data_root for k in ('train_dataloader', 'test_dataloader')} == {
        'elsewhere/'}
    assert {m.ann_file for m in cfg.test_evaluator} == {'elsewhere/synthetic_gt.pkl'}


def test_run_order():
    runs = ablation.run_order()
    assert len(runs) == len(set(runs)) == 17 * 3
    assert runs[:4] == [('full', 0), ('full', 1), ('full', 2), ('cp', 0)]
    assert runs[3:19] == [(slug, 0) for slug in ablation.ORDER[1:]]
    assert runs[-1] == ('t32', 2)
    assert ablation.run_order(['t1', 'cp'], [1]) == [('cp', 1), ('t1', 1)]
    with pytest.raises(ValueError, match=r"unknown ablation rows \['x'\]"):
        ablation.run_order(['x'])


def result(slug, seed, frame_map, video_02=0.5, video_05=0.25):
    return dict(row=slug, seed=seed, protocol=ablation.PROTOCOL, cpu_s=600.0,
                metrics={'frame_mAP@0.5': frame_map, 'video_mAP@0.2': video_02,
                         'video_mAP@0.5': video_05})


def test_tables_by_hand():
    results = {'full': {s: result('full', s, v) for s, v in enumerate((0.80, 0.82, 0.84))},
               'cp': {0: result('cp', 0, 0.5)}}
    results['full'][1].update(cpu_s=60.0, resumed=True)  # timed in part: not in CPU min/run
    text = ablation.build_tables(results)
    lines = text.splitlines()
    # mean 82.0, sd sqrt((4 + 0 + 4) / 2) = 2.0; 600 CPU-s = 10 min
    assert ('| CP+KP+3D+TWA | 82.0 ± 2.0 | 50.0 ± 0.0 | 25.0 ± 0.0 | 3 | 10 | 79.2 | 89.1 | '
            '86.1 |') in lines
    assert '| CP | 50.0 | 50.0 | 25.0 | 1 | 10 | 70.1 | 76.5 | 77.2 |' in lines
    assert '| CP+KP | – | – | – | 0 | – | 70.5 | 77.8 | 78.3 |' in lines
    # T = 8 is the full row; the paper has no T = 8
    assert '| T=8 | 82.0 ± 2.0 | 50.0 ± 0.0 | 25.0 ± 0.0 | 3 | 10 | – | – | – |' in lines
    assert '| raw Gram (the paper) | 82.0 ± 2.0 |' in text
    assert '| full | 80.00 | 82.00 | 84.00 | 4.00 |' in lines
    assert '| cp | 50.00 | – | – | – |' in lines
    assert ablation.mean_sd([1.0]) == (1.0, None)


def test_results_are_read_back_and_checked(tmp_path):
    good = result('cp', 1, 0.5)
    (tmp_path / 'cp_seed1.json').write_text(json.dumps(good))
    (tmp_path / 'cp_seed2.json').write_text(json.dumps({**good, 'seed': 2,
                                                        'protocol': 'older'}))
    assert ablation.load_results(str(tmp_path)) == {'cp': {1: good}}
    bad = tmp_path / 'full_seed0.json'
    bad.write_text(json.dumps({**good, 'metrics': {'frame_mAP@0.5': 0.5}}))
    with pytest.raises(ValueError, match=r"full_seed0.json: missing \['video_mAP@0.2', "):
        ablation.load_results(str(tmp_path))
    bad.write_text('{')
    with pytest.raises(ValueError, match='full_seed0.json: not a readable JSON'):
        ablation.load_results(str(tmp_path))


@pytest.mark.slow
def test_end_to_end_two_iterations(tmp_path):
    """Two rows trained for 2 iterations through tools/train.py and tested through
    tools/test.py on tiny synthetic data; a second call skips both (minutes)."""
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    data = tmp_path / 'data'
    SyntheticActions(seed=0, num_train=2, num_test=1, size=64, min_frames=20,
                     max_frames=24).generate(str(data))
    results, work = tmp_path / 'results', tmp_path / 'work'
    argv = ['--results', str(results), '--work-dir', str(work), '--rows', 'cp', 't1',
            '--seeds', '3', '--iters', '2', '--data-root', str(data) + '/']
    assert run_ablation.main(argv) == 0
    for slug in ('cp', 't1'):
        saved = ablation.read_result(str(results / f'{slug}_seed3.json'))
        assert saved['iters'] == 2 and not saved['resumed'] and saved['options'] == json.loads(
            json.dumps(ablation.ROWS[slug]))
        assert 0 <= saved['metrics']['frame_mAP@0.5'] <= 1 and saved['cpu_s'] > 0
        assert (work / slug / 'seed3' / 'iter_2.pth').is_file()
    tables = (results / 'tables.md').read_text()
    assert '| CP | ' in tables and '| T=1 | ' in tables and ' | 1 | ' in tables
    before = os.stat(results / 'cp_seed3.json').st_mtime_ns
    assert run_ablation.main(argv) == 0  # nothing left: no training
    assert os.stat(results / 'cp_seed3.json').st_mtime_ns == before
