import copy

import pytest
import torch
from mmaction.registry import MODELS


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def preprocess(model, batch, training):
    return model.data_preprocessor(copy.deepcopy(batch), training)


def variants(tiny_model_cfg):
    """Tiny versions of the switchable structures (Table 3 and the AVA/RoI setting)."""
    cp_only = copy.deepcopy(tiny_model_cfg)
    cp_only['point_head']['with_kp'] = False
    cp_only['neck'] = None
    cp_only['cls_head'] = dict(type='FrameClsHead', num_classes=6, in_channels=32,
                               conv_channels=16)
    roi = copy.deepcopy(tiny_model_cfg)
    roi['backbone'].update(num_stacks=2, with_intermediate=True)
    roi['cls_head'].update(pool='roi', multilabel=True, loss_cls=dict(type='BCELossWithLogits'))
    roi['train_cfg'] = dict(point_frames='key')
    roi['test_cfg'] = dict(pred_format='ava')
    return dict(full=tiny_model_cfg, cp_only=cp_only, roi=roi)


@pytest.mark.parametrize('variant', ['full', 'cp_only', 'roi'])
def test_gradients_reach_every_parameter(variant, tiny_model_cfg, clip_factory):
    cfg = variants(tiny_model_cfg)[variant]
    if cfg['cls_head']['type'] == 'Conv3DHead':  # zero-init residual BN would zero some grads
        cfg['cls_head']['backbone']['zero_init_residual'] = False
    model = build(cfg)
    data = preprocess(model, clip_factory(num_clips=2), True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    missing = [name for name, param in model.named_parameters()
               if param.requires_grad and (param.grad is None or param.grad.abs().sum() == 0)]
    assert not missing
    if variant == 'roi':  # both stacks are supervised
        assert len(losses['loss_center_heatmap']) == 2


def test_loss_weights(tiny_model_cfg, clip_factory):
    batch = clip_factory()
    weighted_cfg = copy.deepcopy(tiny_model_cfg)
    weighted_cfg['loss_weights'] = dict(loc=2.0, cls=0.5)
    plain, weighted = build(tiny_model_cfg), build(weighted_cfg)
    plain_losses = plain(**preprocess(plain, batch, True), mode='loss')
    weighted_losses = weighted(**preprocess(weighted, batch, True), mode='loss')
    for name, value in plain_losses.items():
        factor = 0.5 if name == 'loss_cls' else 2.0
        if isinstance(value, list):
            value, weighted_value = value[0], weighted_losses[name][0]
        else:
            weighted_value = weighted_losses[name]
        torch.testing.assert_close(weighted_value, factor * value)


def test_key_frame_point_training_ignores_other_frames(tiny_model_cfg, clip_factory):
    """train_cfg.point_frames='key' (AVA): annotations of other frames change nothing."""
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['train_cfg'] = dict(point_frames='key')
    model = build(cfg)
    batch = clip_factory()
    altered = copy.deepcopy(batch)
    for sample in altered['data_samples']:
        gt = sample.gt_instances
        sample.gt_instances = gt[gt.frame_inds == sample.key_frame_index]
    losses = model(**preprocess(model, batch, True), mode='loss')
    altered_losses = model(**preprocess(model, altered, True), mode='loss')
    for name in ('loss_center_heatmap', 'loss_wh', 'loss_knot_dist'):
        torch.testing.assert_close(losses[name][0], altered_losses[name][0])


def test_repeated_actor_rows_count_once(tiny_model_cfg, clip_factory):
    """An AVA-style box repeated once per label is one actor for the Point Head."""
    model = build(tiny_model_cfg)
    batch = clip_factory()
    repeated = copy.deepcopy(batch)
    for sample in repeated['data_samples']:
        gt = sample.gt_instances
        extra = gt[gt.track_ids == 0]
        extra.labels = (extra.labels + 1) % 6
        sample.gt_instances = gt.cat([gt, extra])
    losses = model(**preprocess(model, batch, True), mode='loss')
    repeated_losses = model(**preprocess(model, repeated, True), mode='loss')
    for name in ('loss_center_heatmap', 'loss_wh', 'loss_knot_offset'):
        torch.testing.assert_close(losses[name][0], repeated_losses[name][0])


def test_predict_act_format(tiny_model_cfg, clip_factory):
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['test_cfg'] = dict(classes_per_box=2, max_per_frame=7, score_thr=0.0)
    model = build(cfg).eval()
    batch = clip_factory(num_clips=2, clip_len=4, size=64, scale_factor=0.5)
    with torch.no_grad():
        results = model(**preprocess(model, batch, False), mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert set(pred.keys()) == {'bboxes', 'scores', 'labels', 'frame_inds'}
        assert len(pred) == 7  # max_per_frame, one (key) frame
        assert pred.bboxes.dtype == torch.float32 and pred.labels.dtype == torch.int64
        assert (pred.frame_inds == result.key_frame_index).all()
        assert (pred.bboxes >= 0).all() and (pred.bboxes <= 128).all()  # original 128 px
        assert (pred.scores[:-1] >= pred.scores[1:]).all()
        assert ((pred.labels >= 0) & (pred.labels < 6)).all()
        # a box appears at most classes_per_box times, with distinct labels
        boxes = [tuple(box) for box in pred.bboxes.tolist()]
        for box in set(boxes):
            labels = [label for b, label in zip(boxes, pred.labels.tolist()) if b == box]
            assert len(labels) <= 2 and len(set(labels)) == len(labels)


def test_predict_all_frames_and_ava_format(tiny_model_cfg, clip_factory):
    cfg = copy.deepcopy(tiny_model_cfg)
    cfg['test_cfg'] = dict(frames='all', max_per_frame=3, score_thr=0.0)
    model = build(cfg).eval()
    batch = clip_factory(num_clips=1, clip_len=4)
    with torch.no_grad():
        pred = model(**preprocess(model, batch, False), mode='predict')[0].pred_instances
    assert pred.frame_inds.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3

    model.test_cfg.update(frames='key', pred_format='ava')
    with torch.no_grad():
        pred = model(**preprocess(model, batch, False), mode='predict')[0].pred_instances
    assert pred.scores.shape[1] == 6 and 'labels' not in pred
    assert (pred.bboxes >= 0).all() and (pred.bboxes <= 1).all()


def test_to_original_undoes_flip_pad_and_scale(tiny_model_cfg):
    model = build(tiny_model_cfg)
    meta = dict(img_shape=(64, 80), ori_shape=(100, 120), scale_factor=(0.5, 0.4),
                pad=(10, 4), flip=True)
    input_box = torch.tensor([[20.0, 14.0, 40.0, 34.0]])
    # unflip in the 80 px wide input: x1 = 80 - 40, x2 = 80 - 20; unpad; unscale; clip
    expected = torch.tensor([[(40 - 10) / 0.5, (14 - 4) / 0.4, (60 - 10) / 0.5, (34 - 4) / 0.4]])
    expected[:, 0::2] = expected[:, 0::2].clamp(max=120)
    torch.testing.assert_close(model._to_original(input_box, meta), expected)


def test_streaming_split_gives_clip_predictions(tiny_model_cfg, clip_factory):
    """Frame features computed one frame at a time, then predict_clip_feats, equal
    predict on the clip (the contract streaming inference relies on)."""
    model = build(tiny_model_cfg).eval()
    batch = clip_factory(num_clips=1, clip_len=4)
    data = preprocess(model, batch, False)
    with torch.no_grad():
        clip_pred = model(**copy.deepcopy(data), mode='predict')[0].pred_instances
        frames = data['inputs'][0].transpose(0, 1)  # (T, 3, H, W)
        feats = torch.cat([model.extract_frame_feats(frame[None])[-1] for frame in frames])
        streamed = model.predict_clip_feats(feats[None], data['data_samples'],
                                            tuple(frames.shape[-2:]))[0].pred_instances
    torch.testing.assert_close(streamed.bboxes, clip_pred.bboxes, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(streamed.scores, clip_pred.scores, rtol=1e-4, atol=1e-5)


def test_tensor_mode(tiny_model_cfg, clip_factory):
    model = build(tiny_model_cfg)
    data = preprocess(model, clip_factory(num_clips=2, clip_len=4, size=64), True)
    point_outs, cls_feats = model(data['inputs'], mode='tensor')
    assert [out.shape[1] for out in point_outs] == [1, 2, 2, 4, 8, 2]
    assert point_outs[0].shape == (8, 1, 16, 16)
    assert cls_feats.shape[:3] == (2, 32, 4)
