"""test_cfg.head_interval = k: TWA and the classification head on one clip of every k frames.

References: ``predict_clip_feats_before_interval`` is Point3D's ``predict_clip_feats`` as it
was before the interval existed (k = 1 must equal it bit for bit), and with k > 1 each clip's
detections must be that function's on the clip with the head's output replaced by that of the
first clip of its period, the rule stated in point3d_mm/models/utils/head_interval.py:
periods of k frames 1..k, k+1..2k, ... per video. (Streaming, offline and clip mode of
detect_frames: tests/performance/test_streaming.py; the test loops:
tests/engine/test_cached_loops.py.)
"""
import copy
import os.path as osp
import types

import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

from point3d_mm.models.utils import HeadMemory, check_head_interval, head_period

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLIP_LEN, SIZE, FEAT = 4, 64, 16  # T, input side, feature side (stride 4)


def predict_clip_feats_before_interval(self, frame_feats, data_samples, batch_input_shape):
    """Point3D.predict_clip_feats before the head interval, verbatim."""
    sample_inds, frame_inds = self._frames_to_decode(data_samples, frame_feats.shape[1],
                                                     frame_feats.device)
    detections = self._part(self.point_head).predict_by_feat(
        *self.point_head((frame_feats[sample_inds, frame_inds], )), batch_input_shape)
    for det, sample_ind, frame_ind in zip(detections, sample_inds, frame_inds):
        det.sample_inds = sample_ind.expand(len(det))
        det.frame_inds = frame_ind.expand(len(det))
    detections = InstanceData.cat(detections)
    detections = detections[detections.scores > self.test_cfg['score_thr']]

    y = self.forward_temporal(frame_feats)
    rois = torch.cat([detections.sample_inds[:, None].to(detections.bboxes),
                      detections.bboxes], dim=1)
    detections.probs = self._part(self.cls_head).predict_by_feat(
        self.cls_head(y), rois, detections.frame_inds, batch_input_shape)
    for i, sample in enumerate(data_samples):
        sample.pred_instances = self._format_predictions(
            detections[detections.sample_inds == i], sample.metainfo)
    return data_samples


def build_model(tiny_model_cfg, variant='clip', **test_cfg):
    cfg = copy.deepcopy(tiny_model_cfg)
    if variant == 'roi':
        cfg['cls_head'].update(pool='roi')
    elif variant == 'ava':
        cfg['cls_head'].update(pool='roi', multilabel=True,
                               loss_cls=dict(type='BCELossWithLogits'))
        test_cfg['pred_format'] = 'ava'
    cfg['test_cfg'] = {**cfg['test_cfg'], 'score_thr': 0.0, 'max_per_frame': 6, **test_cfg}
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    for module in model.modules():  # eval-mode BN that is not the identity
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def video_clips(clips):
    """Random last-stack features (N, T, C, h, w) and samples of the clips ``clips``, a list
    of (video, key frame number); each key frame ends its clip."""
    generator = torch.Generator().manual_seed(1)
    feats = torch.randn(len(clips), CLIP_LEN, 32, FEAT, FEAT, generator=generator)
    samples = [ActionDataSample(metainfo=dict(
        video=video, frame_ids=[max(1, key - CLIP_LEN + 1 + i) for i in range(CLIP_LEN)],
        key_frame_index=CLIP_LEN - 1, img_shape=(SIZE, SIZE), ori_shape=(2 * SIZE, 2 * SIZE),
        scale_factor=(0.5, 0.5), flip=False)) for video, key in clips]
    return feats, samples


def predictions(samples):
    return [sample.pred_instances for sample in samples]


def assert_equal_predictions(actual, expected, exact=False):
    assert len(actual) == len(expected)
    for act, exp in zip(actual, expected):
        assert set(act.keys()) == set(exp.keys())
        assert len(exp) > 0, 'nothing to compare'
        for key in exp.keys():
            if exact or exp[key].dtype == torch.int64:
                assert torch.equal(act[key], exp[key]), key
            else:
                torch.testing.assert_close(act[key], exp[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('value', [0, -1, -4, 1.5, 2.0, '2', True, False, None])
def test_bad_intervals_are_refused(tiny_model_cfg, value):
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['test_cfg']['head_interval'] = value
    with pytest.raises(ValueError, match=r'test_cfg\.head_interval must be an int >= 1.*got '
                       + repr(value).replace('.', r'\.')):
        MODELS.build(cfg)


def test_good_intervals_and_a_changed_test_cfg(tiny_model_cfg):
    assert build_model(tiny_model_cfg).head_interval == 1  # the default
    model = build_model(tiny_model_cfg, head_interval=np.int64(4))
    assert model.head_interval == 4 and type(model.head_interval) is int
    assert check_head_interval(3) == 3
    model.test_cfg['head_interval'] = 0  # changed after building: refused where read
    with pytest.raises(ValueError, match=r'test_cfg\.head_interval .*got 0'):
        model.head_interval


def test_periods_start_at_frame_one():
    # k = 3: frames 1 2 3 | 4 5 6 | 7; the first frame of a video is a head frame
    assert [head_period(frame, 3) for frame in range(1, 8)] == [0, 0, 0, 1, 1, 1, 2]
    assert [head_period(frame, 1) for frame in range(1, 5)] == [0, 1, 2, 3]


@pytest.mark.parametrize('variant', ['clip', 'roi', 'ava'])
def test_interval_one_is_bit_identical_to_before(tiny_model_cfg, variant):
    """k = 1 (the default), with or without a HeadMemory, in batches of several clips."""
    model = build_model(tiny_model_cfg, variant)
    feats, samples = video_clips([('a', key) for key in range(1, 6)] + [('b', 1)])
    with torch.no_grad():
        before = predictions(predict_clip_feats_before_interval(
            model, feats, copy.deepcopy(samples), (SIZE, SIZE)))
        plain = predictions(model.predict_clip_feats(feats, copy.deepcopy(samples),
                                                     (SIZE, SIZE)))
        with_memory = predictions(model.predict_clip_feats(
            feats, copy.deepcopy(samples), (SIZE, SIZE), HeadMemory()))
    assert_equal_predictions(plain, before, exact=True)
    assert_equal_predictions(with_memory, before, exact=True)


def expected_with_interval(model, feats, samples, keys, monkeypatch):
    """Each clip through the function of before, the head's output replaced by that of the
    first clip with the same (video, period) key."""
    expected = []
    with torch.no_grad():
        for i in range(len(samples)):
            first = keys.index(keys[i])
            head_out = model.cls_head(model.forward_temporal(feats[first:first + 1]))
            with monkeypatch.context() as patch:
                patch.setattr(model.cls_head, 'forward', lambda y, out=head_out: out)
                expected += predictions(predict_clip_feats_before_interval(
                    model, feats[i:i + 1], copy.deepcopy(samples[i:i + 1]), (SIZE, SIZE)))
    return expected


# (video, key frame) of the clips, in frame order; k; the clips that run the head
SEQUENCES = {
    'every frame, k=2': ([('a', f) for f in range(1, 8)], 2, [0, 2, 4, 6]),
    'every frame, k=4': ([('a', f) for f in range(1, 8)], 4, [0, 4]),
    # frames 1 and 4 have no clip (skipped): the next clip of the period runs the head
    'frames missing, k=3': ([('a', f) for f in (2, 3, 5, 6, 7)], 3, [0, 2, 4]),
    # a new video starts a period, also where the frame's period number goes on
    'two videos, k=4': ([('a', f) for f in range(1, 4)] + [('b', f) for f in range(1, 6)], 4,
                        [0, 3, 7]),
}


@pytest.mark.parametrize('variant', ['clip', 'roi'])
@pytest.mark.parametrize('sequence', list(SEQUENCES))
@pytest.mark.parametrize('batch', [1, 3, 20])
def test_interval_reuses_the_first_clip_of_each_period(tiny_model_cfg, variant, sequence,
                                                       batch, monkeypatch):
    """With k > 1 the clips between take the head output of their period's first clip, in
    any batching; the head sees only those first clips."""
    clips, interval, head_clips = SEQUENCES[sequence]
    model = build_model(tiny_model_cfg, variant, head_interval=interval)
    feats, samples = video_clips(clips)
    keys = [(video, (frame - 1) // interval) for video, frame in clips]
    expected = expected_with_interval(model, feats, samples, keys, monkeypatch)

    head_runs = []  # clips per call of the head
    handle = model.cls_head.register_forward_hook(
        lambda module, args, out: head_runs.append(len(args[0])))
    memory, actual = HeadMemory(), []
    with torch.no_grad():
        for start in range(0, len(clips), batch):
            actual += predictions(model.predict_clip_feats(
                feats[start:start + batch], copy.deepcopy(samples[start:start + batch]),
                (SIZE, SIZE), memory))
    handle.remove()
    assert sum(head_runs) == len(head_clips)
    assert memory.key == keys[-1]
    assert_equal_predictions(actual, expected)
    # and the head clips themselves are what k = 1 gives them
    with torch.no_grad():
        every = predictions(build_model(tiny_model_cfg, variant).predict_clip_feats(
            feats, copy.deepcopy(samples), (SIZE, SIZE)))
    assert_equal_predictions([actual[i] for i in head_clips], [every[i] for i in head_clips])


def test_without_memory_every_clip_runs_the_head(tiny_model_cfg):
    """predict on a batch of unrelated clips cannot apply the interval: k = 2 then gives
    k = 1's detections."""
    feats, samples = video_clips([('a', key) for key in range(1, 5)])
    with torch.no_grad():
        every = predictions(build_model(tiny_model_cfg).predict_clip_feats(
            feats, copy.deepcopy(samples), (SIZE, SIZE)))
        unshared = predictions(build_model(tiny_model_cfg, head_interval=2).predict_clip_feats(
            feats, copy.deepcopy(samples), (SIZE, SIZE)))
    assert_equal_predictions(unshared, every, exact=True)


def test_streaming_with_interval_one_is_bit_identical_to_before():
    """detect_frames streaming at k = 1 gives the rows of the function of before."""
    from point3d_mm.apis import detect_frames, init_detector
    torch.manual_seed(0)
    model = init_detector(osp.join(REPO, 'configs', 'point3d_tiny_synthetic.py'),
                          device='cpu', cfg_options={'model.test_cfg.score_thr': 0.05})
    rng = np.random.default_rng(0)
    video = list(rng.integers(0, 255, (10, 96, 120, 3), dtype=np.uint8))
    now = detect_frames(model, video, streaming=True)
    model.predict_clip_feats = types.MethodType(predict_clip_feats_before_interval, model)
    before = detect_frames(model, video, streaming=True)
    assert len(before) > 0 and np.array_equal(now, before)
