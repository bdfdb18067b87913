"""The ablation grid: its rows (configs/ablation/synthetic64/, listed by
point3d_mm.analysis.ablation), the tables of mean ± sd, and tools/analysis/run_ablation.py end
to end (train, test on validation and test videos, result files with provenance, resume)."""
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
CONFIG_DIR = osp.join(REPO, ablation.CONFIG_DIR)


def cfg_of(slug, tmp_path, **kwargs):
    return ablation.row_config(slug, str(tmp_path / slug), config_dir=CONFIG_DIR, **kwargs)


def test_protocol_pins_what_the_rows_compare(tmp_path):
    full = cfg_of('full', tmp_path)
    assert full.train_dataloader.dataset.knots == 'joints'
    assert full.model.point_head.num_knots == 11 and full.model.point_head.with_kp
    assert full.model.point_head.test_cfg.fuse_knots
    assert full.model.neck == dict(type='TimeWiseAttention', scale=None)
    assert full.model.cls_head.type == 'Conv3DHead'
    assert full.train_dataloader.dataset.clip_len == full.test_dataloader.dataset.clip_len == 8
    # validation videos choose, test videos report: same pipeline, other ground truth
    assert full.val_dataloader.dataset.ann_file == 'synthetic_val_gt.pkl'
    assert full.test_dataloader.dataset.ann_file == 'synthetic_gt.pkl'
    assert full.val_dataloader.dataset.pipeline == full.test_dataloader.dataset.pipeline
    assert [m.ann_file for m in full.val_evaluator] == [
        'data/synthetic_ablation/synthetic_val_gt.pkl'] * 3
    assert [m.ann_file for m in full.test_evaluator] == [
        'data/synthetic_ablation/synthetic_gt.pkl'] * 3
    assert ([{**m, 'ann_file': None} for m in full.val_evaluator]
            == [{**m, 'ann_file': None} for m in full.test_evaluator])
    val = ablation.split_config(full, 'val')
    assert val.test_dataloader == full.val_dataloader and val.test_evaluator == full.val_evaluator
    assert full.test_dataloader.dataset.ann_file == 'synthetic_gt.pkl'  # not changed in place
    video_map = [m for m in full.test_evaluator if m.type == 'VideoMAP']
    assert video_map[0].linker == dict(type='TubeLinker')
    assert full.train_cfg.max_iters == 2000 and full.train_cfg.val_interval > 2000
    assert ablation.DATA['size'] == full.input_size == 64


def test_rows_switch_one_part_each(tmp_path):
    assert ablation.rows(CONFIG_DIR) == list(ablation.ORDER)
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
    with pytest.raises(ValueError, match="unknown ablation row 'nope': no .*nope.py; known"):
        cfg_of('nope', tmp_path)
    with pytest.raises(ValueError, match='no row config'):
        ablation.rows(str(tmp_path))


def model_change(base: dict, changed: dict) -> dict:
    """The entries of ``changed`` that differ from ``base``, recursively."""
    out = {}
    for key, value in changed.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            inner = model_change(base[key], value)
            if inner:
                out[key] = inner
        elif base.get(key) != value:
            out[key] = value
    return out


def test_fast_row_is_the_fast_configs_change(tmp_path):
    """The grid's fast row and configs/point3d_*_fast.py change the same setting."""
    row = model_change(cfg_of('full', tmp_path).model.to_dict(),
                       cfg_of('fast', tmp_path).model.to_dict())
    assert row == {'cls_head': {'backbone': {'conv1_stride_s': 2}}}
    for base in ('point3d_demo_synthetic', 'point3d_ucf24'):
        fast = Config.fromfile(osp.join(REPO, 'configs', f'{base}_fast.py'))
        plain = Config.fromfile(osp.join(REPO, 'configs', f'{base}.py'))
        assert model_change(plain.model.to_dict(), fast.model.to_dict()) == row


def test_shorter_schedule_and_other_data(tmp_path):
    cfg = cfg_of('t1', tmp_path, iters=20, data_root='elsewhere/')
    assert cfg.train_cfg.max_iters == 20 and cfg.train_cfg.val_interval == 21
    assert cfg.param_scheduler[0].milestones == [15, 18] and cfg.param_scheduler[0].end == 20
    assert cfg.default_hooks.checkpoint.interval == 20
    assert {cfg[k].dataset.data_root for k in ('train_dataloader', 'val_dataloader',
                                               'test_dataloader')} == {'elsewhere/'}
    assert {m.ann_file for m in cfg.test_evaluator} == {'elsewhere/synthetic_gt.pkl'}
    assert {m.ann_file for m in cfg.val_evaluator} == {'elsewhere/synthetic_val_gt.pkl'}


def test_run_order(tmp_path):
    runs = ablation.run_order(config_dir=CONFIG_DIR)
    assert len(runs) == len(set(runs)) == 17 * 3
    # every seed of a row before the next row; decisions (TWA, the 3D Head's rows) first
    assert runs[:6] == [('full', 0), ('full', 1), ('full', 2), ('twa_sqrt_d', 0),
                        ('twa_sqrt_d', 1), ('twa_sqrt_d', 2)]
    assert [slug for slug, _ in runs[::3]] == list(ablation.ORDER)
    assert runs[-1] == ('t32', 2)
    # the clips shorter than T = 8 (the demo's cheaper T), longest first, before Table 3's
    # rows without the 3D Head, and those before the longer clips
    assert ablation.run_order(['t9', 'cp', 't1', 't7'], [1], CONFIG_DIR) == [
        ('t7', 1), ('t1', 1), ('cp', 1), ('t9', 1)]
    with pytest.raises(ValueError, match=r"unknown ablation rows \['x'\]"):
        ablation.run_order(['x'], config_dir=CONFIG_DIR)
    # a new row config is a new row, after the known ones
    for name in ('zz_new', 'full'):
        (tmp_path / f'{name}.py').write_text('')
    assert ablation.rows(str(tmp_path)) == ['full', 'zz_new']


def result(slug, seed, frame_map, video_02=0.5, video_05=0.25, val_frame_map=0.6):
    provenance = {key: 'x' for key in ablation.PROVENANCE}
    test = {'frame_mAP@0.5': frame_map, 'video_mAP@0.2': video_02, 'video_mAP@0.5': video_05}
    return dict(row=slug, seed=seed, protocol=ablation.PROTOCOL, cpu_s=600.0, **provenance,
                metrics={'test': test, 'val': {**test, 'frame_mAP@0.5': val_frame_map}})


def test_tables_by_hand():
    results = {'full': {s: result('full', s, v) for s, v in enumerate((0.80, 0.82, 0.84))},
               'cp': {0: result('cp', 0, 0.5)}}
    results['full'][1].update(cpu_s=60.0, resumed=True)  # timed in part: not in CPU min/run
    text = ablation.build_tables(results)
    lines = text.splitlines()
    # test: mean 82.0, sd sqrt((4 + 0 + 4) / 2) = 2.0; val 60 on every seed;
    # 600 CPU-s = 10 min
    val_then_test = ('60.0 ± 0.0 | 50.0 ± 0.0 | 25.0 ± 0.0 | 82.0 ± 2.0 | 50.0 ± 0.0 | '
                     '25.0 ± 0.0')
    assert f'| CP+KP+3D+TWA | {val_then_test} | 3 | 10 | 79.2 | 89.1 | 86.1 |' in lines
    cp = '| CP | 60.0 | 50.0 | 25.0 | 50.0 | 50.0 | 25.0 | 1 | 10 |'
    assert f'{cp} 70.1 | 76.5 | 77.2 |' in lines
    assert '| CP+KP | – | – | – | – | – | – | 0 | – | 70.5 | 77.8 | 78.3 |' in lines
    # T = 8 is the full row; the paper has no T = 8
    assert f'| T=8 | {val_then_test} | 3 | 10 | – | – | – |' in lines
    assert f'| raw Gram (the paper) | {val_then_test} | 3 | 10 |' in lines
    assert '| full | 60.00 / 80.00 | 60.00 / 82.00 | 60.00 / 84.00 | 4.00 |' in lines
    assert '| cp | 60.00 / 50.00 | – | – | – |' in lines
    assert ablation.mean_sd([1.0]) == (1.0, None)


def test_cpu_minutes_are_kept_apart_by_host_kind():
    avx512 = {'model': 'AMD EPYC', 'flags': ['avx2', 'avx512f'], 'cores': 2}
    avx2 = {'model': 'AMD EPYC', 'flags': ['avx2', 'fma'], 'cores': 2}
    runs = {s: result('full', s, 0.8) for s in range(3)}
    runs[0].update(cpu=avx512, cpu_s=840.0)   # 14 min
    runs[1].update(cpu=avx512, cpu_s=900.0)   # 15 min: mean 14.5, printed 14 (round half even)
    runs[2].update(cpu=avx2, cpu_s=1680.0)    # 28 min, not averaged with the AVX-512 runs
    lines = ablation.build_tables({'full': runs}).splitlines()
    row = next(line for line in lines if line.startswith('| CP+KP+3D+TWA |'))
    assert row.endswith('| 3 | 14 (AVX-512) · 28 (AVX2) | 79.2 | 89.1 | 86.1 |'), row
    runs[2]['cpu'] = avx512
    row = next(line for line in ablation.build_tables({'full': runs}).splitlines()
               if line.startswith('| CP+KP+3D+TWA |'))
    # (14 + 15 + 28) / 3 = 19
    assert '| 3 | 19 (AVX-512) |' in row, row


def test_results_are_read_back_and_checked(tmp_path):
    good = result('cp', 1, 0.5)
    (tmp_path / 'cp_seed1.json').write_text(json.dumps(good))
    (tmp_path / 'cp_seed2.json').write_text(json.dumps({**good, 'seed': 2,
                                                        'protocol': 'older'}))
    assert ablation.load_results(str(tmp_path)) == {'cp': {1: good}}
    bad = tmp_path / 'full_seed0.json'
    bad.write_text(json.dumps({**good, 'metrics': {'val': good['metrics']['val'],
                                                   'test': {'frame_mAP@0.5': 0.5}}}))
    with pytest.raises(ValueError, match=r"full_seed0.json: missing \['test/video_mAP@0.2', "):
        ablation.load_results(str(tmp_path))
    bad.write_text(json.dumps({k: v for k, v in good.items() if k != 'commit'}))
    with pytest.raises(ValueError, match=r"full_seed0.json: missing \['commit'\]"):
        ablation.load_results(str(tmp_path))
    # the runner runs such a file again, and a file of an older protocol too
    assert not run_ablation.is_done(str(bad), ablation.PROTOCOL)
    assert not run_ablation.is_done(str(tmp_path / 'cp_seed2.json'), ablation.PROTOCOL)
    assert run_ablation.is_done(str(tmp_path / 'cp_seed1.json'), ablation.PROTOCOL)
    bad.write_text('{')
    with pytest.raises(ValueError, match='full_seed0.json: not a readable JSON'):
        ablation.load_results(str(tmp_path))


def test_tables_go_between_their_markers(tmp_path):
    doc = tmp_path / 'zoo.md'
    doc.write_text(f'# Zoo\n\nbefore\n\n{run_ablation.BEGIN}\nold\n{run_ablation.END}\n\nafter\n')
    results = tmp_path / 'results'
    results.mkdir()
    (results / 'cp_seed0.json').write_text(json.dumps(result('cp', 0, 0.5)))
    argv = ['--results', str(results), '--tables', str(doc), '--tables-only']
    assert run_ablation.main(argv) == 0
    text = doc.read_text()
    assert text.startswith('# Zoo\n\nbefore\n\n') and text.endswith('\n\nafter\n')
    assert 'old' not in text and '1 of 51 runs' in text
    assert '| CP | 60.0 | 50.0 | 25.0 | 50.0 | 50.0 | 25.0 | 1 | 10 |' in text
    assert run_ablation.main(argv) == 0 and doc.read_text() == text  # idempotent
    doc.write_text('no markers\n')
    with pytest.raises(ValueError, match='zoo.md: needs one line'):
        run_ablation.main(argv)


def test_a_work_dir_of_another_commit_starts_over(tmp_path):
    work = tmp_path / 'run'
    stamp = dict(commit='a', dirty=[], config_sha256='c', seed=0)
    assert not run_ablation.prepare_work_dir(str(work), stamp)
    (work / 'last_checkpoint').write_text('iter_500.pth')
    assert run_ablation.prepare_work_dir(str(work), stamp)  # same code and config: resume
    assert run_ablation.prepare_work_dir(str(work), {**stamp, 'commit': 'b'}) is False
    assert not (work / 'last_checkpoint').exists()


@pytest.mark.slow
def test_end_to_end_two_iterations(tmp_path):
    """Two rows trained for 2 iterations through tools/train.py and tested through
    tools/test.py on the validation and the test videos of tiny synthetic data, with the
    provenance recorded; a second call skips both (minutes)."""
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    data = tmp_path / 'data'
    SyntheticActions(seed=0, num_train=2, num_test=1, num_val=1, size=64, min_frames=20,
                     max_frames=24).generate(str(data))
    results, work, doc = tmp_path / 'results', tmp_path / 'work', tmp_path / 'zoo.md'
    doc.write_text(f'{run_ablation.BEGIN}\n{run_ablation.END}\n')
    argv = ['--results', str(results), '--work-dir', str(work), '--rows', 'cp', 't1',
            '--seeds', '3', '--iters', '2', '--data-root', str(data) + '/', '--tables',
            str(doc), '--allow-dirty']
    assert run_ablation.main(argv) == 0
    for slug in ('cp', 't1'):
        saved = ablation.read_result(str(results / f'{slug}_seed3.json'))
        assert saved['iters'] == 2 and not saved['resumed']
        assert saved['config'] == f'configs/ablation/synthetic64/{slug}.py'
        assert saved['overrides'] == {'iters': 2, 'data_root': str(data) + '/'}
        assert saved['threads'] == 1 and saved['versions']['torch']
        assert len(saved['commit']) == 40 and len(saved['config_sha256']) == 64
        for split in ablation.SPLITS:
            assert 0 <= saved['metrics'][split]['frame_mAP@0.5'] <= 1
        assert saved['cpu_s'] > 0
        assert (work / slug / 'seed3' / 'iter_2.pth').is_file()
    tables = doc.read_text()
    assert '| CP | ' in tables and '| T=1 | ' in tables and ' | 1 | ' in tables
    before = os.stat(results / 'cp_seed3.json').st_mtime_ns
    assert run_ablation.main(argv) == 0  # nothing left: no training
    assert os.stat(results / 'cp_seed3.json').st_mtime_ns == before
