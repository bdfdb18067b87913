"""tools/analysis/tune_linker.py: the declared search, a planted case whose best setting is
known by construction, the config snippet, and the refusal of test-split ground truth."""
import numpy as np
import pytest
from mmengine.config import Config
from tool_helpers import load_tool

from point3d_mm.analysis import linker_tuning
from point3d_mm.evaluation.functional.detection_io import save_frame_detections
from point3d_mm.structures.act_format import dump_act, validation_act

tune_linker = load_tool('analysis/tune_linker.py')


def planted(tmp_path, validation=True):
    """Two 60-frame videos, one actor each, annotated on frames 1-20 only. The detector
    finds the actor on every frame: score 0.9 on the annotated frames and 0.15 on the 40
    after them. Linking keeps the 0.15 frames unless the tube is trimmed at a score above
    0.15: untrimmed, a tube spans 60 frames, temporal IoU 1/3, so it misses at IoU 0.5;
    trimmed at trim_score=0.3 it is the ground truth exactly."""
    box = np.array([10., 10., 30., 50.])
    act = dict(labels=['walk'], gttubes={}, nframes={}, resolution={},
               train_videos=[['v0', 'v1']], test_videos=[[]])
    rows = []
    for index, video in enumerate(('v0', 'v1')):
        frames = np.arange(1, 21, dtype=np.float32)
        act['gttubes'][video] = {0: [np.column_stack([frames, np.tile(box, (20, 1))])]}
        act['nframes'][video], act['resolution'][video] = 60, (64, 64)
        for frame in range(1, 61):
            rows.append([index, frame, 0, 0.9 if frame <= 20 else 0.15, *box])
    act = validation_act(act, [['v0', 'v1']], 'planted.pkl') if validation else dict(
        act, train_videos=[[]], test_videos=[['v0', 'v1']])
    gt, dets = str(tmp_path / 'gt.pkl'), str(tmp_path / 'dets.pkl')
    dump_act(act, gt)
    save_frame_detections(dets, np.array(rows), ['v0', 'v1'])
    return gt, dets


def test_candidates_are_declared_seeded_and_start_with_defaults():
    space = {'TubeLinker': dict(link_iou_thr=(0.1, 0.5), max_gap=(1, 2, 3))}
    first = linker_tuning.candidates(space, trials=4, seed=0)
    assert first[0] == dict(type='TubeLinker') and len(first) == 5
    assert first == linker_tuning.candidates(space, trials=4, seed=0)
    assert first != linker_tuning.candidates(space, trials=4, seed=1)
    drawn = {(c['link_iou_thr'], c['max_gap']) for c in first[1:]}
    assert len(drawn) == 4 and drawn <= {(a, b) for a in (0.1, 0.5) for b in (1, 2, 3)}
    # a space smaller than the trials is searched whole
    assert len(linker_tuning.candidates(space, trials=50)) == 1 + 6
    # every declared value is accepted by its linker
    from point3d_mm.evaluation.functional import TubeLinker, ViterbiTubeLinker
    for name, linker in (('TubeLinker', TubeLinker), ('ViterbiTubeLinker', ViterbiTubeLinker)):
        for setting in linker_tuning.candidates({name: linker_tuning.SPACES[name]}, 200):
            linker(**{k: v for k, v in setting.items() if k != 'type'})


def test_finds_the_planted_best(tmp_path, capsys):
    gt, dets = planted(tmp_path)
    out, out_json = str(tmp_path / 'tuned.py'), str(tmp_path / 'all.json')
    # the default trim_score 0.05 and 0.0 keep the low-score frames; 0.3 trims them
    space = {'TubeLinker': dict(trim_score=(0.0, 0.3))}
    result = tune_linker.main([gt, dets, '--linkers', 'TubeLinker', '--out', out,
                               '--out-json', out_json])
    assert result['best']['type'] == 'TubeLinker'
    assert result['best']['trim_score'] in linker_tuning.SPACES['TubeLinker']['trim_score']
    assert result['best']['trim_score'] > 0.15
    assert result['best_metrics']['video_mAP@0.5'] == 1.0
    default = [r for r in result['ranked'] if r['linker'] == {'type': 'TubeLinker'}][0]
    assert default['metrics']['video_mAP@0.5'] == 0.0  # temporal IoU 1/3
    assert default['metrics']['video_mAP@0.2'] == 1.0
    assert Config.fromfile(out).linker == result['best']
    printed = capsys.readouterr().out
    assert 'best first' in printed and f'wrote {out}' in printed
    # the small planted space on its own: exactly trim_score=0.3 wins
    ranked = linker_tuning.tune(gt, 1, [tune_linker.rows_to_samples(
        *_rows(dets))], linker_tuning.candidates(space, 10))
    assert ranked[0][0] == dict(type='TubeLinker', trim_score=0.3)
    assert [m['video_mAP@0.5'] for _, m in ranked] == [1.0, 0.0, 0.0]


def test_several_detection_sets_choose_one_setting_by_their_mean(tmp_path):
    """Two models' detections of the same validation videos: every setting's scores are the
    mean of its scores on each set alone, and the best is the best of those means. In the
    second set the actor is found at 0.25 on its annotated frames (0.15 after them), so
    trim_score=0.3 trims the whole tube there and only trim_score=0.2 is right for both."""
    gt, dets = planted(tmp_path)
    detections, videos = _rows(dets)
    second = detections.copy()
    second[second[:, 3] > 0.5, 3] = 0.25
    other = str(tmp_path / 'other.pkl')
    save_frame_detections(other, second, videos)
    space = {'TubeLinker': dict(trim_score=(0.0, 0.2, 0.3))}
    settings = linker_tuning.candidates(space, 10)
    alone = [{tuple(sorted(linker.items())): metrics for linker, metrics in ranked}
             for ranked in (linker_tuning.tune(gt, 1, [tune_linker.rows_to_samples(
                 *_rows(path))], settings) for path in (dets, other))]
    pooled = tune_linker.main([gt, dets, other, '--linkers', 'TubeLinker', '--trials', '0'])
    assert pooled['detections'] == [dets, other]
    ranked = linker_tuning.tune(gt, 1, [tune_linker.rows_to_samples(*_rows(p))
                                        for p in (dets, other)], settings)
    for linker, metrics in ranked:
        key = tuple(sorted(linker.items()))
        for name in (*linker_tuning.RANK_KEYS, 'mean'):
            assert metrics[name] == pytest.approx((alone[0][key][name] + alone[1][key][name]) / 2)
        assert metrics['per_set_mean'] == [alone[0][key]['mean'], alone[1][key]['mean']]
    assert ranked[0][0] == dict(type='TubeLinker', trim_score=0.2)
    assert ranked[0][1]['video_mAP@0.5'] == 1.0  # right on both sets
    best_alone = [max(a.items(), key=lambda item: item[1]['mean'])[0] for a in alone]
    assert dict(best_alone[1]) == dict(type='TubeLinker', trim_score=0.2)


def _rows(dets):
    from point3d_mm.evaluation.functional.detection_io import load_frame_detections
    detections, videos = load_frame_detections(dets)
    return detections, videos


def test_refuses_test_ground_truth_unless_told(tmp_path):
    gt, dets = planted(tmp_path, validation=False)
    with pytest.raises(SystemExit) as refused:
        tune_linker.main([gt, dets, '--trials', '1'])
    message = str(refused.value.code)
    assert message.startswith(f'tune_linker.py: ValueError: {gt}: not a validation file')
    assert 'optimistic' in message and '--allow-test' in message
    result = tune_linker.main([gt, dets, '--trials', '1', '--allow-test',
                               '--linkers', 'ViterbiTubeLinker'])
    assert {r['linker']['type'] for r in result['ranked']} == {'ViterbiTubeLinker'}
