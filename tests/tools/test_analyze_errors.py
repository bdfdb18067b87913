"""Error diagnosis of frame-mAP and video-mAP (point3d_mm/evaluation/functional/error_analysis.py)
and its tool, tools/analysis/analyze_errors.py.

The constructed cases put one detection of each kind beside a handful of ground truths; every
count and AP below is worked out by hand in the comments, not by the code under test.
"""
import json
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest

from point3d_mm.evaluation.functional.action_ap import frame_ap, video_ap
from point3d_mm.evaluation.functional.detection_io import save_frame_detections, save_tubes
from point3d_mm.evaluation.functional.error_analysis import frame_errors, summarise, video_errors

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis', 'analyze_errors.py')
LABELS = ['run', 'jump']


def box_tube(frames, box):
    """(L, 5) tube: the same box on every frame."""
    frames = np.asarray(frames, dtype=np.float64)
    return np.column_stack([frames, np.tile(np.asarray(box, dtype=np.float64),
                                            (len(frames), 1))])


# ----------------------------------------------------------------------- frames
# Ground truth of video 'v' (boxes under 'voc': no +1):
#   G0 run  frame 1 [0, 0, 10, 10]     G1 jump frame 1 [20, 0, 30, 10]
#   G2 run  frame 2 [0, 0, 10, 10]     G3 run  frame 3 [50, 50, 60, 60] (nothing near it)
FRAME_GT = dict(
    labels=LABELS, nframes=dict(v=3), resolution=dict(v=(240, 320)),
    train_videos=[[]], test_videos=[['v']],
    gttubes=dict(v={0: [box_tube([1, 2], [0, 0, 10, 10]), box_tube([3], [50, 50, 60, 60])],
                    1: [box_tube([1], [20, 0, 30, 10])]}))
# video_index, frame, label, score, box; kind and IoU (voc) worked out by hand.
FRAME_DETS = np.array([
    [0, 1, 0, 0.9, 0, 0, 10, 10],    # D1 true positive of G0 (IoU 1)
    [0, 1, 0, 0.8, 0, 0, 10, 9],     # D2 IoU 0.9 with G0, already taken: duplicate
    [0, 1, 0, 0.7, 20, 0, 30, 10],   # D3 IoU 1 with G1 (jump): wrong class, target G1
    [0, 2, 0, 0.6, 0, 0, 10, 3],     # D4 IoU 0.3 with G2: localisation, target G2
    [0, 2, 1, 0.5, 100, 100, 110, 110],  # D5 overlaps nothing: background
    [0, 1, 0, 0.2, 0, 0, 10, 3],     # D8 IoU 0.3 with G0 (taken): localisation, target G0
])
FRAME_KINDS = ['true_positive', 'duplicate', 'wrong_class', 'localisation', 'background',
               'localisation']


@pytest.mark.parametrize('protocol', ['voc', 'act'])
def test_frame_counts_by_hand(protocol):
    # Under 'act' (+1) the IoUs move (0.9 -> 110/121, 0.3 -> 44/121) but no kind changes.
    result = frame_errors(FRAME_GT, FRAME_DETS, ['v'], protocol=protocol)
    assert result['det_kind'].tolist() == FRAME_KINDS
    counts = {k: v.tolist() for k, v in result['counts'].items()}
    # run: D1 tp; D2 dup; D3 wrong class; D4, D8 localisation; G2, G3 missed, and only G3
    # unexplained (D4 points at G2). jump: D5 background; G1 missed, explained by D3.
    assert counts == dict(tp=[1, 0], duplicate=[1, 0], wrong_class=[1, 0],
                          localisation=[2, 0], background=[0, 1], missed=[2, 1],
                          missed_unexplained=[1, 0])
    assert result['num_gt'].tolist() == [3, 1] and result['num_det'].tolist() == [5, 1]


def test_frame_ap_and_fixes_by_hand_voc():
    result = frame_errors(FRAME_GT, FRAME_DETS, ['v'], protocol='voc')
    # run: D1 tp (recall 1/3, precision 1), then four false positives: AP 1/3. jump: 0.
    np.testing.assert_allclose(result['ap'], [1 / 3, 0.0])
    assert result['mAP'] == pytest.approx(1 / 6)
    fixed = result['fixed_mAP']
    # Removing D2 (duplicate) or D5 (background) leaves every true positive's precision.
    assert fixed['duplicate'] == pytest.approx(1 / 6)
    assert fixed['background'] == pytest.approx(1 / 6)
    # D3 becomes jump's true positive of G1 (free), ranked before D5: jump AP 1, run 1/3.
    assert fixed['wrong_class'] == pytest.approx((1 / 3 + 1) / 2)
    # D4 takes G2 (free): run = D1 T, D2 F, D3 F, D4 T -> 1/3 * 1 + 1/3 * 2/4 = 1/2;
    # D8's target G0 is held by D1, so D8 is removed.
    np.testing.assert_allclose(result['fixed_ap']['localisation'], [0.5, 0.0])
    assert fixed['localisation'] == pytest.approx(1 / 4)
    # G3 no longer counts: run has 2 ground truths, D1 gives recall 1/2 at precision 1.
    assert fixed['missed'] == pytest.approx(1 / 4)
    assert result['dAP']['wrong_class'] == pytest.approx(2 / 3 - 1 / 6)


def test_frame_localisation_fix_by_hand_act():
    result = frame_errors(FRAME_GT, FRAME_DETS, ['v'], protocol='act')
    # ACT's trapezoid: (0, 1) -> (1/3, 1) -> ... -> (1/3, 1/3) -> (2/3, 1/2):
    # 1/3 + 1/3 * (1/3 + 1/2) / 2 = 17/36 for run; jump stays 0.
    np.testing.assert_allclose(result['fixed_ap']['localisation'], [17 / 36, 0.0])
    assert result['fixed_mAP']['localisation'] == pytest.approx(17 / 72)


@pytest.mark.parametrize('protocol', ['act', 'voc'])
def test_frame_ap_agrees_with_frame_ap(protocol):
    rng = np.random.default_rng(3)
    gt, dets = random_case(rng)
    videos = list(gt['gttubes'])
    result = frame_errors(gt, dets, videos, protocol=protocol)
    reference = frame_ap(gt, dets, videos, protocol=protocol)
    np.testing.assert_allclose(result['ap'], reference['ap'])
    counts = result['counts']
    # Every scored detection has one kind; every ground truth is found or missed.
    assert sum(counts[k].sum() for k in ('tp', 'duplicate', 'wrong_class', 'localisation',
                                         'background')) == len(dets)
    np.testing.assert_array_equal(counts['tp'] + counts['missed'], reference['num_gt'])
    assert all(result['fixed_mAP'][k] >= result['mAP'] - 1e-12
               for k in ('duplicate', 'background', 'missed'))


def test_annotated_frames_leave_other_frames_unscored():
    dets = np.vstack([FRAME_DETS, [0, 7, 0, 0.95, 0, 0, 10, 10]])
    result = frame_errors(FRAME_GT, dets, ['v'], protocol='voc', frames='annotated')
    assert result['det_kind'].tolist() == FRAME_KINDS + ['not_scored']
    assert result['mAP'] == pytest.approx(1 / 6)


# ----------------------------------------------------------------------- tubes
# Ground-truth tubes of video 'v':
#   T0 run  frames 1-10  [0, 0, 10, 10]     T1 jump frames 1-10 [20, 0, 30, 10]
#   T2 run  frames 21-30 [50, 50, 60, 60]   T3 run  frames 41-50 [0, 0, 10, 10]
TUBE_GT = dict(
    labels=LABELS, nframes=dict(v=50), resolution=dict(v=(240, 320)),
    train_videos=[[]], test_videos=[['v']],
    gttubes=dict(v={0: [box_tube(range(1, 11), [0, 0, 10, 10]),
                        box_tube(range(21, 31), [50, 50, 60, 60]),
                        box_tube(range(41, 51), [0, 0, 10, 10])],
                    1: [box_tube(range(1, 11), [20, 0, 30, 10])]}))
# Under 'voc' the temporal IoU of equal spans is 1 and of frames 21-23 in 21-30 is 2/9.
TUBES = dict(v=[
    (0, 0.9, box_tube(range(1, 11), [0, 0, 10, 10])),   # A tp of T0
    (0, 0.8, box_tube(range(1, 11), [0, 0, 10, 9])),    # B 0.9 with T0 (taken): duplicate
    (0, 0.7, box_tube(range(1, 11), [20, 0, 30, 10])),  # C 1.0 with T1 (jump): wrong class
    (0, 0.6, box_tube(range(21, 24), [50, 50, 60, 60])),  # D 2/9 x 1 with T2: loc, temporal
    (0, 0.5, box_tube(range(1, 11), [0, 0, 10, 3])),    # E 1 x 0.3 with T0: loc, spatial
    (1, 0.4, box_tube(range(100, 111), [20, 0, 30, 10])),  # F shares no frame: background
])


def test_tube_counts_and_split_by_hand():
    result = video_errors(TUBE_GT, TUBES, ['v'], protocol='voc')
    assert result['det_kind'] == dict(v=['true_positive', 'duplicate', 'wrong_class',
                                         'localisation', 'localisation', 'background'])
    counts = {k: v.tolist() for k, v in result['counts'].items()}
    # Missed: T2 (D points at it; D is its best run tube sharing frames, temporal), T3 (no
    # run tube shares a frame: undetected, unexplained), T1 (explained by C; no jump tube
    # shares a frame with it: undetected).
    assert counts == dict(
        tp=[1, 0], duplicate=[1, 0], wrong_class=[1, 0], localisation=[2, 0],
        background=[0, 1], missed=[2, 1], missed_unexplained=[1, 0],
        localisation_temporal=[1, 0], localisation_spatial=[1, 0],
        missed_temporal=[1, 0], missed_spatial=[0, 0], missed_undetected=[1, 1])


def test_tube_ap_and_fixes_by_hand():
    result = video_errors(TUBE_GT, TUBES, ['v'], protocol='voc')
    # run: A tp (1/3, 1) then false positives: 1/3; jump: 0.
    assert result['mAP'] == pytest.approx(1 / 6)
    # D takes T2 (free), E's target T0 is held: run = A T, B F, C F, D T -> 1/2.
    assert result['fixed_mAP']['localisation'] == pytest.approx(1 / 4)
    # C becomes jump's tp of T1, ranked before F: jump 1; run: A T + 3 FPs -> 1/3.
    assert result['fixed_mAP']['wrong_class'] == pytest.approx(2 / 3)
    # T3 leaves the count: run has 2 ground truths -> 1/2.
    assert result['fixed_mAP']['missed'] == pytest.approx(1 / 4)
    reference = video_ap(TUBE_GT, TUBES, ['v'], iou_thrs=[0.5], protocol='voc',
                         average_thrs=None)
    np.testing.assert_allclose(result['ap'], reference['ap']['0.5'])


def test_act_tube_nms_marks_suppressed_tubes():
    # ACT's tube NMS at 0.3 drops B (tube IoU 110/121 with A) and E (44/121 with A).
    result = video_errors(TUBE_GT, TUBES, ['v'], protocol='act')
    assert result['det_kind']['v'] == ['true_positive', 'suppressed', 'wrong_class',
                                       'localisation', 'suppressed', 'background']
    assert result['counts']['duplicate'].tolist() == [0, 0]


def test_summary_is_json_with_overall_sums():
    summary = summarise(video_errors(TUBE_GT, TUBES, ['v'], protocol='voc'))
    text = json.dumps(summary)
    assert 'NaN' not in text
    assert summary['overall']['counts']['missed'] == 3
    assert summary['overall']['dAP']['wrong_class'] == pytest.approx(2 / 3 - 1 / 6)
    assert [row['label'] for row in summary['per_class']] == LABELS


# ----------------------------------------------------------------------- the tool
def run_tool(*args, cwd):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_tool_writes_json_and_charts(tmp_path):
    gt_path = tmp_path / 'gt.pkl'
    with open(gt_path, 'wb') as f:
        pickle.dump(TUBE_GT, f)
    dets = tmp_path / 'dets.npz'
    save_frame_detections(dets, FRAME_DETS, ['v'])
    tubes = tmp_path / 'tubes.pkl'
    save_tubes(tubes, TUBES)
    done = run_tool(gt_path, dets, tubes, '--protocol', 'voc', '--out-dir', tmp_path / 'out',
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / 'out' / 'errors.json') as f:
        report = json.load(f)
    assert report['video']['overall']['fixed_mAP']['localisation'] == pytest.approx(1 / 4)
    assert report['frame']['protocol'] == 'voc' and report['inputs']['split'] == 1
    for name in ('frame_errors.png', 'video_errors.png'):
        with open(tmp_path / 'out' / name, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert 'mAP gained by fixing' in done.stdout

    # Bad input: a ground truth without test splits. One line naming the file, no traceback.
    bad = tmp_path / 'bad_gt.pkl'
    with open(bad, 'wb') as f:
        pickle.dump(dict(labels=LABELS, gttubes={}), f)
    done = run_tool(bad, dets, cwd=tmp_path)
    assert done.returncode != 0
    assert 'Traceback' not in done.stderr
    assert str(bad) in done.stderr and "'test_videos'" in done.stderr


def test_tool_reports_malformed_detections(tmp_path):
    sys.path.insert(0, osp.dirname(TOOL))
    try:
        import analyze_errors
    finally:
        sys.path.pop(0)
    gt_path = tmp_path / 'gt.pkl'
    with open(gt_path, 'wb') as f:
        pickle.dump(FRAME_GT, f)
    dets = tmp_path / 'dets.npz'
    save_frame_detections(dets, np.vstack([FRAME_DETS[:1], [0, 1, 5, 0.9, 0, 0, 1, 1]]),
                          ['v'])
    with pytest.raises(SystemExit) as exit_info:
        analyze_errors.main([str(gt_path), str(dets)])
    message = str(exit_info.value.code)
    assert message.startswith('analyze_errors: bad detections: ') and str(dets) in message
    assert 'labels must lie in [0, 2)' in message
    with pytest.raises(SystemExit) as exit_info:
        analyze_errors.main([str(gt_path), str(tmp_path / 'missing.npz')])
    assert 'missing.npz' in str(exit_info.value.code)


def random_case(rng):
    """A few videos of two-class tubes with noisy, mislabelled and spurious detections."""
    videos = [f'v{i}' for i in range(4)]
    gttubes, rows = {}, []
    for iv, video in enumerate(videos):
        gttubes[video] = {}
        for _ in range(2):
            label, start = int(rng.integers(3)), int(rng.integers(1, 8))
            x, y = rng.uniform(0, 100, 2)
            frames = np.arange(start, start + 12)
            tube = np.column_stack([frames, x + frames, np.full(12, y), x + frames + 40,
                                    np.full(12, y + 50)])
            gttubes[video].setdefault(label, []).append(tube)
            for row in np.repeat(tube, 2, axis=0):
                noisy = row[1:] + rng.normal(0, 8, 4)
                wrong = rng.random() < 0.3
                rows.append([iv, row[0], int(rng.integers(3)) if wrong else label,
                             rng.random(), *noisy])
        for _ in range(10):
            rows.append([iv, int(rng.integers(1, 20)), int(rng.integers(3)), rng.random(),
                         *rng.uniform(0, 150, 2), *rng.uniform(150, 200, 2)])
    return dict(labels=['a', 'b', 'c'], gttubes=gttubes), np.asarray(rows)
