"""FrameMAP / VideoMAP called as mmengine calls them, with fake ActionDataSamples."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmaction.registry import METRICS
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData
from tool_helpers import load_tool

from point3d_mm.evaluation.functional import class_agnostic, frame_ap, load_frame_detections
from point3d_mm.evaluation.metrics import action_map

BOX = [10.0, 20.0, 60.0, 120.0]
LABELS = ['walk', 'wave', 'jump']
ROOT = osp.normpath(osp.join(osp.dirname(__file__), '..', '..'))


def _gt_file(tmp_path):
    """Three test videos of 10 frames; v0 and v1 have one actor each, v2 two classes."""
    tube = np.column_stack([np.arange(1, 11), np.tile(BOX, (10, 1))]).astype(np.float32)
    shifted = tube + np.array([0, 100, 0, 100, 0], np.float32)
    gt = dict(labels=LABELS, nframes={'v0': 10, 'v1': 10, 'v2': 10, 'train0': 10},
              resolution={v: (240, 320) for v in ('v0', 'v1', 'v2', 'train0')},
              gttubes={'v0': {0: [tube]}, 'v1': {1: [tube]}, 'v2': {0: [tube], 2: [shifted]},
                       'train0': {0: [tube]}},
              train_videos=[['train0']], test_videos=[['v0', 'v1', 'v2']])
    path = tmp_path / 'gt.pkl'
    with open(path, 'wb') as f:
        pickle.dump(gt, f)
    return str(path), gt


def _clip(video, key_frame, boxes, labels, scores, clip_len=4):
    """A test clip whose key frame (its last) carries the given detections."""
    frame_ids = [max(1, key_frame - clip_len + 1 + i) for i in range(clip_len)]
    sample = ActionDataSample()
    sample.set_metainfo(dict(video=video, frame_ids=frame_ids, key_frame_index=clip_len - 1,
                             img_shape=(128, 128), ori_shape=(240, 320)))
    sample.pred_instances = InstanceData(
        bboxes=torch.from_numpy(np.asarray(boxes, np.float32).reshape(-1, 4)),
        scores=torch.from_numpy(np.asarray(scores, np.float32)),
        labels=torch.from_numpy(np.asarray(labels, np.int64)),
        frame_inds=torch.full((len(labels),), clip_len - 1, dtype=torch.int64))
    return sample


def _perfect_clips():
    clips = []
    for frame in range(1, 11):
        clips.append(_clip('v0', frame, [BOX, BOX], [0, 1], [0.9, 0.1]))
        clips.append(_clip('v1', frame, [BOX], [1], [0.8]))
        clips.append(_clip('v2', frame, [BOX, np.add(BOX, [100, 0, 100, 0])], [0, 2],
                           [0.7, 0.6]))
    return clips


def test_frame_map_perfect_and_keys(tmp_path):
    ann_file, _ = _gt_file(tmp_path)
    metric = METRICS.build(dict(type='FrameMAP', ann_file=ann_file))
    metric.process({}, [clip.to_dict() for clip in _perfect_clips()])
    assert metric.evaluate(30) == {'act/frame_mAP@0.5': pytest.approx(1.0)}

    voc = METRICS.build(dict(type='FrameMAP', ann_file=ann_file, protocol='voc',
                             frames='annotated', iou_thr=0.75))
    voc.process({}, _perfect_clips())  # data elements are accepted too
    assert voc.evaluate(30) == {'voc/annotated_frame_mAP@0.75': pytest.approx(1.0)}


def test_frame_map_equals_functional_and_dumps(tmp_path, monkeypatch):
    ann_file, gt = _gt_file(tmp_path)
    logged = []
    monkeypatch.setattr(action_map, 'print_log', lambda msg, **kwargs: logged.append(msg))
    dump = str(tmp_path / 'dump' / 'dets.npz')
    metric = METRICS.build(dict(type='FrameMAP', ann_file=ann_file, dump_detections=dump))
    rng = np.random.default_rng(0)
    clips = []
    for frame in range(1, 11):
        for video in ('v0', 'v1', 'v2'):
            boxes = np.add(BOX, rng.normal(0, 12, (3, 4)))
            clips.append(_clip(video, frame, boxes, rng.integers(0, 3, 3), rng.random(3)))
    # The same frame reported again by a later clip (e.g. distributed padding) is ignored,
    # and so is a video outside the test split.
    clips.append(_clip('v0', 5, [BOX], [0], [0.99]))
    clips.append(_clip('train0', 5, [BOX], [0], [0.99]))
    metric.process({}, [c.to_dict() for c in clips])
    result = metric.compute_metrics(metric.results)

    dets, videos = load_frame_detections(dump)
    assert videos == ['v0', 'v1', 'v2'] and dets.shape == (90, 8)
    expected = frame_ap(gt, dets, videos)
    assert result == {'frame_mAP@0.5': pytest.approx(expected['mAP'])}
    assert 0 < expected['mAP'] < 1
    log = '\n'.join(logged)
    assert 'protocol=act, frames=all' in log and 'walk' in log

    # The dump re-scores to the same number without a model.
    tool = load_tool('analysis/eval_detections.py')
    out = tmp_path / 'metrics.json'
    rescored = tool.main([ann_file, dump, '--out', str(out)])
    assert rescored['act/frame_mAP@0.5'] == pytest.approx(expected['mAP'])
    assert set(rescored) >= {'act/video_mAP@0.5', 'act/video_mAP@0.5:0.95'}
    assert '"frames": "all"' in out.read_text()
    agnostic = tool.main([ann_file, dump, '--class-agnostic'])
    assert agnostic == {'act/agnostic_frame_mAP@0.5': pytest.approx(
        frame_ap(*class_agnostic(gt, dets), videos)['mAP'])}


def test_video_map(tmp_path):
    ann_file, _ = _gt_file(tmp_path)
    tubes_file = str(tmp_path / 'tubes.pkl')
    metric = METRICS.build(dict(type='VideoMAP', ann_file=ann_file, dump_tubes=tubes_file,
                                linker=dict(type='TubeLinker', min_length=2)))
    metric.process({}, [clip.to_dict() for clip in _perfect_clips()])
    result = metric.evaluate(30)
    assert set(result) == {f'act/video_mAP@{t}' for t in ('0.1', '0.2', '0.5', '0.75',
                                                          '0.5:0.95')}
    # Each true tube is found once, first; the low-scored 'wave' tube of v0 comes after the
    # true 'wave' tube of v1, so every AP is 1.
    assert all(value == pytest.approx(1.0) for value in result.values())
    assert osp.isfile(tubes_file)


def test_bad_arguments(tmp_path):
    ann_file, _ = _gt_file(tmp_path)
    with pytest.raises(ValueError, match='protocol'):
        METRICS.build(dict(type='FrameMAP', ann_file=ann_file, protocol='coco'))
    with pytest.raises(ValueError, match='frames'):
        METRICS.build(dict(type='FrameMAP', ann_file=ann_file, frames='key'))
    with pytest.raises(ValueError, match='split'):
        METRICS.build(dict(type='FrameMAP', ann_file=ann_file, split=2))
