"""tools/analysis/run_ablation.py: the rows of Tables 3 and 4 and the table it writes."""
import pytest
from tool_helpers import load_tool

run_ablation = load_tool('analysis/run_ablation.py')


def test_rows_and_configs(tmp_path):
    rows = run_ablation.rows(['table3', 'table4'])
    assert [r['name'] for r in rows] == ['CP', 'CP+KP', 'CP+KP+TWA', 'CP+3D', 'CP+KP+3D',
                                         'CP+KP+3D+TWA', 'T=1', 'T=3', 'T=5', 'T=8', 'T=16']
    by_name = {r['name']: run_ablation.build_cfg(r, str(tmp_path / r['name']), 2, 'box', None)
               for r in rows}
    full = by_name['CP+KP+3D+TWA']
    assert full.model.neck.type == 'TimeWiseAttention' and full.model.point_head.with_kp
    assert full.model.cls_head.type != 'FrameClsHead' and full.train_cfg.max_iters == 2
    cp = by_name['CP']
    assert cp.model.neck is None and not cp.model.point_head.with_kp
    assert cp.model.cls_head.type == 'FrameClsHead'
    assert by_name['CP+KP+TWA'].model.neck is not None
    assert by_name['CP+KP+TWA'].model.cls_head.type == 'FrameClsHead'
    assert by_name['T=16'].test_dataloader.dataset.clip_len == 16
    assert by_name['T=1'].model.neck is None
    assert all(m >= 1 for s in full.param_scheduler for m in s.milestones)
    joints = run_ablation.build_cfg(rows[0], str(tmp_path / 'j'), 2, 'joints', 'data/x')
    assert joints.model.point_head.num_knots == 11
    assert joints.train_dataloader.dataset.joints_file == 'synthetic_joints.pkl'  # in data/x
    assert cp.model.point_head.num_knots == 4 and cp.train_dataloader.dataset.knots == 'box'
    assert {e.get('class_agnostic', False) for e in joints.test_evaluator} == {True, False}


def test_table_by_hand():
    results = [
        dict(table='3', name='CP', metrics={'frame_mAP@0.5': 0.5, 'video_mAP@0.2': 0.25,
                                            'agnostic_frame_mAP@0.5': 0.875}),
        dict(table='4', name='T=8', metrics={'frame_mAP@0.5': 0.9041, 'fps': 12.345}),
    ]
    table = run_ablation.build_table(results).splitlines()
    assert table[0].startswith('| table | row | frame-mAP@0.5 | video-mAP@0.2 |')
    assert table[2] == '| 3 | CP | 50.0 | 25.0 | – | – | – | 87.5 | – |'
    assert table[3] == '| 4 | T=8 | 90.4 | – | – | – | – | – | 12.3 |'
    assert run_ablation.collect({'act/frame_mAP@0.5': 0.5}) == {'frame_mAP@0.5': 0.5}


@pytest.mark.slow
def test_end_to_end_two_iterations(tmp_path):
    """Every row trained for 2 iterations and tested on tiny synthetic data (minutes)."""
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    data = tmp_path / 'data'
    SyntheticActions(seed=0, num_train=2, num_test=1, min_frames=20, max_frames=24).generate(
        str(data))
    out = tmp_path / 'out'
    assert run_ablation.main(['--out', str(out), '--iters', '2', '--data-root',
                              str(data) + '/']) == 0
    text = (out / 'ablation.md').read_text()
    assert text.count('\n| 3 |') == 6 and text.count('\n| 4 |') == 5
