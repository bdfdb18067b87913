"""The YOWOv3-style frame-AP protocol (``protocol='yowov3'`` of frame_ap, FrameMAP and the
offline scorer): hand-computed cases and the numbers of YOWOv3's own evaluator."""
import numpy as np
import pytest
from mmaction.registry import METRICS
from tool_helpers import load_tool

from point3d_mm.evaluation.functional import average_precision, frame_ap, save_frame_detections
from point3d_mm.structures.act_format import dump_act


@pytest.mark.parametrize('is_tp,num_gt,yowov3,voc', [
    # recall 0.5 at precision 1: VOC stops there (0.5); YOWOv3 pads (recall 1, precision 0)
    # and the trapezoid adds the triangle 0.5 * 1 / 2.
    ([1], 2, 0.75, 0.5),
    # [F, T] of 1: envelope (1, 0.5, 0.5, 0) over recall (0, 0, 1, 1): 0.5, as VOC.
    ([0, 1], 1, 0.5, 0.5),
    # [T, F, T] of 4: points (0.25, 1), (0.25, 1/2), (0.5, 2/3); envelope 1, 1, 2/3, 2/3, 0:
    # 0.25 * 1 + 0.25 * 2/3 + 0.5 * (2/3) / 2 = 0.25 + 1/6 + 1/6.  VOC: 0.25 + 0.25 * 2/3.
    ([1, 0, 1], 4, 0.25 + 1 / 3, 0.25 + 1 / 6),
    ([0], 1, 0.0, 0.0),   # envelope (1, 0, 0) over recall (0, 0, 1): nothing
    ([], 3, 0.0, 0.0),    # YOWOv3 skips a class without detections: AP 0, not the 0.5 pad
])
def test_average_precision_by_hand(is_tp, num_gt, yowov3, voc):
    assert average_precision(np.array(is_tp, bool), num_gt, 'yowov3') == pytest.approx(yowov3)
    assert average_precision(np.array(is_tp, bool), num_gt, 'voc') == pytest.approx(voc)
    assert np.isnan(average_precision(np.array(is_tp, bool), 0, 'yowov3'))


def box_tube(frames, box):
    frames = np.asarray(frames, dtype=np.float32)
    return np.column_stack([frames, np.tile(np.asarray(box, np.float32), (len(frames), 1))])


def test_ground_truth_of_frames_without_detections_is_not_counted():
    # 'run' on frames 1 and 2; one true positive on frame 1, nothing on frame 2.
    gt = dict(labels=['run', 'jump'], gttubes=dict(v={0: [box_tube([1, 2], [0, 0, 10, 10])]}))
    dets = np.array([[0, 1, 0, 0.9, 0, 0, 10, 10]])
    # YOWOv3 counts only frame 1's ground truth: recall 1 at precision 1.
    assert frame_ap(gt, dets, ['v'], protocol='yowov3')['ap'][0] == pytest.approx(1.0)
    assert frame_ap(gt, dets, ['v'], protocol='voc')['ap'][0] == pytest.approx(0.5)
    # Any box on frame 2 (here a 'jump' far away) makes its ground truth count: 1 of 2 found,
    # 0.75 as in the first hand case; 'jump' has no ground truth and stays out of the mean.
    dets = np.vstack([dets, [0, 2, 1, 0.5, 50, 50, 60, 60]])
    result = frame_ap(gt, dets, ['v'], protocol='yowov3')
    assert result['ap'][0] == pytest.approx(0.75) and np.isnan(result['ap'][1])
    assert result['mAP'] == pytest.approx(0.75) and result['num_gt'].tolist() == [2, 0]


def test_matching_is_vocs_duplicates_are_false_positives():
    # Two 'run' actors on one frame; the best detection of the lower one overlaps the upper
    # one better, so under 'voc' and 'yowov3' the second detection there is a duplicate,
    # while 'act' gives it the other (still free) ground truth.
    gt = dict(labels=['run'], gttubes=dict(v={0: [box_tube([1], [0, 0, 10, 10]),
                                                  box_tube([1], [0, 4, 10, 14])]}))
    dets = np.array([[0, 1, 0, 0.9, 0, 0, 10, 10], [0, 1, 0, 0.8, 0, 1, 10, 11]])
    assert frame_ap(gt, dets, ['v'], iou_thr=0.5, protocol='yowov3')['mAP'] == \
        pytest.approx(0.625)  # [T, F] of 2: 0.5 + the triangle from (0.5, 0.5) to (1, 0)
    assert frame_ap(gt, dets, ['v'], iou_thr=0.5, protocol='act')['mAP'] == pytest.approx(1.0)


# --------------------------------------------------------------- YOWOv3's own numbers
LABELS = ['run', 'jump']


def _tube(frames, start, step):
    return np.array([[f, start[0] + step * i, start[1], start[0] + step * i + 40,
                      start[1] + 60] for i, f in enumerate(frames)], np.float32)


# Two videos of five frames; frames 1 and 2 of 'b' get no detection at all, frame 6 of 'a'
# has no ground truth (not in a YOWO test list); duplicates, wrong classes and background.
PEER_GT = dict(labels=LABELS, nframes=dict(a=6, b=5), resolution=dict(a=(240, 320),
                                                                      b=(240, 320)),
               train_videos=[[]], test_videos=[['a', 'b']],
               gttubes={'a': {0: [_tube(range(1, 6), (10, 20), 4)]},
                        'b': {1: [_tube(range(1, 5), (100, 30), -3)],
                              0: [_tube(range(3, 6), (30, 40), 5)]}})
PEER_DETS = np.array([
    [0, 1, 0, 0.0502, 11.8, 18.4, 44.7, 77.3], [0, 1, 0, 0.3878, 10.4, 28, 47, 76.3],
    [0, 2, 0, 0.3134, 16.1, 20.6, 48.4, 79.8], [0, 3, 1, 0.0881, 15.3, 8.6, 50.3, 68.9],
    [0, 4, 0, 0.5753, 14.4, 21.6, 62.9, 78.9], [0, 4, 0, 0.6878, 18.8, 19.7, 62.7, 70.8],
    [0, 5, 1, 0.2385, 20.1, 15.1, 72.4, 75.2], [0, 5, 0, 0.1254, 31.3, 16.5, 65.3, 80.7],
    [1, 3, 1, 0.801, 94.5, 38.2, 124.7, 95.2], [1, 3, 1, 0.5005, 90.2, 42, 138.6, 82.8],
    [1, 4, 1, 0.4255, 94.5, 28.9, 135.1, 89.6], [1, 4, 0, 0.6509, 99.6, 25.9, 132.2, 87.2],
    [1, 3, 0, 0.2007, 26.5, 38.8, 75.4, 106.9], [1, 4, 1, 0.2756, 30.2, 43.9, 63, 97.2],
    [1, 5, 1, 0.4629, 44.1, 38, 77.8, 98.5], [1, 5, 0, 0.5384, 37.4, 38.2, 82.1, 99.3],
    [1, 4, 1, 0.8379, 75.3, 82.2, 115.3, 142.2], [0, 2, 1, 0.9134, 7.6, 175.2, 47.6, 235.2],
    [0, 5, 1, 0.3501, 64.4, 150.3, 104.4, 210.3], [0, 1, 1, 0.7254, 74.4, 6.1, 114.4, 66.1],
    [0, 3, 1, 0.613, 131.6, 85.6, 171.6, 145.6], [0, 4, 0, 0.876, 174.6, 68.8, 214.6, 128.8],
    [1, 3, 1, 0.7628, 71.1, 103.8, 111.1, 163.8], [1, 5, 0, 0.1633, 181.8, 30.2, 221.8, 90.2],
    [0, 6, 0, 0.9512, 12, 20, 52, 80]])
# Known answers: YOWOv3's own evaluation (Hope1337/YOWOv3 @ e828d43e: scripts/ucf_eval.py's
# per-image matching loop copied verbatim without .cuda(), evaluator/eval.py compute_ap,
# utils/box.py box_iou) run once outside this repository (/tmp, this project's .venv python,
# torch 2.13 CPU; numpy.trapz aliased to numpy.trapezoid, its new name) on PEER_DETS and
# PEER_GT, images = the annotated frames (a/1-5, b/1-5), outputs sorted by score as its NMS
# returns them; its iou_v set to each threshold. 'top8': the 8 highest-scored detections.
PEER_MAP50 = {('all', 0.3): 0.405792297979798, ('all', 0.5): 0.405792297979798,
              ('all', 0.7): 0.30429657148407147, ('top8', 0.3): 0.25833333333333336,
              ('top8', 0.5): 0.25833333333333336, ('top8', 0.7): 0.15000000000000002}


@pytest.mark.parametrize('subset,thr', sorted(PEER_MAP50))
def test_equals_yowov3s_own_evaluator(subset, thr):
    dets = PEER_DETS if subset == 'all' else PEER_DETS[np.argsort(-PEER_DETS[:, 3])[:8]]
    result = frame_ap(PEER_GT, dets, ['a', 'b'], thr, 'yowov3', frames='annotated')
    assert result['mAP'] == pytest.approx(PEER_MAP50[subset, thr], abs=1e-12)
    # ... and VOC (same matching, no triangle, every frame's ground truth) scores lower.
    assert frame_ap(PEER_GT, dets, ['a', 'b'], thr, 'voc', 'annotated')['mAP'] < result['mAP']


def test_selectable_in_frame_map_not_in_video_map(tmp_path):
    ann_file = str(tmp_path / 'gt.pkl')
    dump_act(PEER_GT, ann_file)
    metric = METRICS.build(dict(type='FrameMAP', ann_file=ann_file, protocol='yowov3',
                                frames='annotated'))
    order = np.lexsort((PEER_DETS[:, 1], PEER_DETS[:, 0]))
    for video in (0, 1):
        rows = PEER_DETS[order][PEER_DETS[order][:, 0] == video]
        metric.results.append(dict(video='ab'[video], rows=rows[:, 1:]))
    result = metric.compute_metrics(metric.results)
    assert result == {'annotated_frame_mAP@0.5': pytest.approx(PEER_MAP50['all', 0.5])}
    with pytest.raises(ValueError, match="VideoMAP: protocol must be one of .*'yowov3'"):
        METRICS.build(dict(type='VideoMAP', ann_file=ann_file, protocol='yowov3'))


def test_selectable_in_the_offline_scorer(tmp_path):
    ann_file, dets = str(tmp_path / 'gt.pkl'), str(tmp_path / 'dets.npz')
    dump_act(PEER_GT, ann_file)
    save_frame_detections(dets, PEER_DETS, ['a', 'b'])
    tool = load_tool('analysis/eval_detections.py')
    # Frame-mAP only: YOWOv3 has no video-mAP.
    assert tool.main([ann_file, dets, '--protocol', 'yowov3', '--frames', 'annotated']) == {
        'yowov3/annotated_frame_mAP@0.5': pytest.approx(PEER_MAP50['all', 0.5])}
