import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.structures import InstanceData

TINY_3D = dict(type='ResNet3d', depth=18, base_channels=4, pretrained=None, pretrained2d=False,
               conv1_kernel=(3, 3, 3), conv1_stride_s=1, pool1_stride_s=1, with_pool2=False)
INPUT_HW = (64, 64)


def build(**kwargs):
    cfg = dict(type='Conv3DHead', num_classes=5, in_channels=8, backbone=TINY_3D,
               conv_channels=16, dropout_ratio=0.0)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def ava_like_sample(rows, key=3):
    """A clip whose rows are (frame, track, label, box); a box repeated per label."""
    frames, tracks, labels, boxes = zip(*rows)
    sample = ActionDataSample(metainfo=dict(key_frame_index=key))
    sample.gt_instances = InstanceData(
        frame_inds=torch.tensor(frames), track_ids=torch.tensor(tracks),
        labels=torch.tensor(labels), bboxes=torch.tensor(boxes, dtype=torch.float32))
    sample.set_gt_label(labels[0])
    return sample


SAMPLES = [
    ava_like_sample([(3, 0, 1, (0, 0, 20, 30)), (3, 0, 4, (0, 0, 20, 30)), (2, 0, 2, (1, 1, 9, 9)),
                     (3, 7, 2, (30, 10, 64, 64))]),
    ava_like_sample([(0, 1, 0, (5, 5, 40, 40))]),  # no actor in the key frame
    ava_like_sample([(3, 2, 3, (10, 10, 50, 60))]),
]


def test_clip_mode_is_softmax_cross_entropy():
    torch.manual_seed(0)
    head = build()
    y = torch.randn(3, 8, 4, 16, 16)
    loss = head.loss(y, SAMPLES, INPUT_HW)['loss_cls']
    rois, frame_inds, labels = head.get_targets(SAMPLES, 4)
    assert labels.tolist() == [1, 0, 3] and rois[:, 0].tolist() == [0, 1, 2]
    logits = head.classify(head(y), rois, frame_inds, INPUT_HW)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    head.eval()
    probs = head.predict(y, rois[[0, 0, 2]], frame_inds[[0, 0, 2]], INPUT_HW)
    torch.testing.assert_close(probs.sum(1), torch.ones(3))
    torch.testing.assert_close(probs[0], probs[1])


def test_roi_mode_groups_labels_per_key_frame_actor():
    torch.manual_seed(0)
    head = build(pool='roi', multilabel=True, loss_cls=dict(type='BCELossWithLogits'))
    rois, frame_inds, labels = head.get_targets(SAMPLES, 4)
    assert rois.tolist() == [[0, 0, 0, 20, 30], [0, 30, 10, 64, 64], [2, 10, 10, 50, 60]]
    assert frame_inds.tolist() == [3, 3, 3]
    assert labels.tolist() == [[0, 1, 0, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]]

    y = torch.randn(3, 8, 4, 16, 16)
    loss = head.loss(y, SAMPLES, INPUT_HW)['loss_cls']
    logits = head.classify(head(y), rois, frame_inds, INPUT_HW)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, labels))
    probs = head.predict(y, rois, frame_inds, INPUT_HW)
    assert probs.shape == (3, 5) and (probs > 0).all() and (probs < 1).all()
    # a box's probabilities depend on where it is
    assert not torch.allclose(probs[0], probs[1])


def test_roi_mode_pools_an_inverted_box_as_the_box_it_spans():
    """A decoded box with x2 < x1 and y2 < y1 (untrained shape regression) is pooled like
    its corrected box instead of failing mmcv's RoIAlign assertion."""
    torch.manual_seed(0)
    head = build(pool='roi').eval()
    y = torch.randn(1, 8, 4, 16, 16)
    frame_inds = torch.tensor([3, 3])
    rois = torch.tensor([[0, 40., 50., 10., 20.], [0, 10., 50., 40., 20.]])
    fixed = torch.tensor([[0, 10., 20., 40., 50.], [0, 10., 20., 40., 50.]])
    torch.testing.assert_close(head.predict(y, rois, frame_inds, INPUT_HW),
                               head.predict(y, fixed, frame_inds, INPUT_HW))


def test_roi_mode_without_actors_keeps_the_graph():
    head = build(pool='roi', multilabel=True, loss_cls=dict(type='BCELossWithLogits'))
    y = torch.randn(1, 8, 4, 16, 16, requires_grad=True)
    loss = head.loss(y, [SAMPLES[1]], INPUT_HW)['loss_cls']
    loss.backward()
    assert loss.item() == 0 and y.grad is not None
    assert head.predict(y, torch.zeros(0, 5), torch.zeros(0), INPUT_HW).shape == (0, 5)


@pytest.mark.parametrize('pool', ['clip', 'roi'])
def test_frame_head_classifies_each_frame_from_its_own_features(pool):
    torch.manual_seed(0)
    head = MODELS.build(dict(type='FrameClsHead', num_classes=5, in_channels=8, conv_channels=16,
                             pool=pool))
    head.eval()
    rois, frame_inds, labels = head.get_targets(SAMPLES, 4)
    if pool == 'clip':  # every frame is trained on its clip's label
        assert labels.tolist() == [1] * 4 + [0] * 4 + [3] * 4
        assert frame_inds.tolist() == [0, 1, 2, 3] * 3
    y = torch.randn(3, 8, 4, 16, 16)
    probs = head.predict(y, rois, frame_inds, INPUT_HW)
    y[:, :, :3] = torch.randn(3, 8, 3, 16, 16)  # change every frame but the last
    changed = head.predict(y, rois, frame_inds, INPUT_HW)
    last = frame_inds == 3
    torch.testing.assert_close(probs[last], changed[last])
    assert not torch.allclose(probs[~last], changed[~last]) if (~last).any() else True


def test_recognizer_checkpoint_loads_into_the_3d_backbone(tmp_path):
    """An mmaction2 recognizer checkpoint (RGB stem, 'backbone.*' and 'cls_head.*' keys)
    initialises the 3D backbone; the stem, whose input channels differ, is skipped."""
    rgb = MODELS.build(dict(TINY_3D, in_channels=3))
    state = {f'backbone.{k}': v for k, v in rgb.state_dict().items()}
    state['cls_head.fc_cls.weight'] = torch.zeros(400, 32)
    checkpoint = tmp_path / 'recognizer.pth'
    torch.save({'state_dict': state}, checkpoint)
    head = build(init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    head.init_weights()
    loaded = head.backbone.state_dict()
    for name, value in rgb.state_dict().items():
        if name == 'conv1.conv.weight':
            assert loaded[name].shape[1] == 8
        else:
            torch.testing.assert_close(loaded[name], value, msg=name)


def test_backbone_channels_must_match_y():
    with pytest.raises(ValueError, match='in_channels'):
        build(backbone=dict(TINY_3D, in_channels=3))


def test_roi_mode_accepts_multi_hot_rows():
    """mmaction2's AVA packing: float (N, K) multi-hot labels, one row per key-frame box."""
    head = build(pool='roi', multilabel=True, loss_cls=dict(type='BCELossWithLogits'))
    sample = ActionDataSample(metainfo=dict(key_frame_index=1))
    sample.gt_instances = InstanceData(
        frame_inds=torch.tensor([1, 1, 1]), track_ids=torch.tensor([4, 4, 9]),
        labels=torch.tensor([[0, 1, 0, 0, 1], [0, 0, 1, 0, 0], [1, 0, 0, 0, 0]]).float(),
        bboxes=torch.tensor([[0, 0, 9, 9], [0, 0, 9, 9], [5, 5, 20, 20]]).float())
    rois, _, labels = head.get_targets([sample], 4)
    assert rois.tolist() == [[0, 0, 0, 9, 9], [0, 5, 5, 20, 20]]
    assert labels.tolist() == [[0, 1, 1, 0, 1], [1, 0, 0, 0, 0]]
