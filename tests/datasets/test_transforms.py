from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from mmaction.registry import TRANSFORMS

from point3d_mm.datasets.transforms import ClipRandomCrop
from point3d_mm.structures.geometry import box_knots, boxes_to_original, flip_boxes

H, W = 60, 80
BOXES = np.array([[10, 8, 30, 40], [44, 20, 70, 52], [50, 5, 62, 18]], np.float32)


def make_results() -> dict:
    """A 3-frame clip with one bright box per frame drawn at its annotated place."""
    imgs = []
    for box in BOXES:
        img = np.full((H, W, 3), 40, np.uint8)
        x1, y1, x2, y2 = box.astype(int)
        img[y1:y2, x1:x2] = 250
        imgs.append(img)
    return dict(imgs=imgs, img_shape=(H, W), ori_shape=(H, W), gt_bboxes=BOXES.copy(),
                gt_knots=box_knots(BOXES), gt_labels=np.array([0, 1, 2]),
                gt_frame_inds=np.array([0, 1, 2]), gt_track_ids=np.array([5, 6, 7]),
                scale_factor=np.ones(2), pad=np.zeros(2), flip=False, key_frame_index=2,
                video='v', frame_ids=[1, 2, 3])


def to_original(results: dict) -> np.ndarray:
    return boxes_to_original(results['gt_bboxes'], results['scale_factor'], results['pad'],
                             results['flip'], results['img_shape'])


def bright_box(img: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(img[..., 0] > 150)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def build(cfg: dict):
    return TRANSFORMS.build(cfg)


def test_flip_twice_is_identity_and_knots_swap_sides():
    flip = build(dict(type='ClipRandomFlip', prob=1.0))
    once = flip(make_results())
    np.testing.assert_array_equal(once['gt_bboxes'], flip_boxes(BOXES, W))
    # a flipped box's right-edge midpoint is the old left one: the order is swapped back
    np.testing.assert_allclose(once['gt_knots'], box_knots(once['gt_bboxes']))
    np.testing.assert_allclose(to_original(once), BOXES)
    np.testing.assert_array_equal(once['imgs'][0], make_results()['imgs'][0][:, ::-1])
    twice = flip(once)
    original = make_results()
    assert twice['flip'] is False
    for key in ('gt_bboxes', 'gt_knots'):
        np.testing.assert_allclose(twice[key], original[key])
    for a, b in zip(twice['imgs'], original['imgs']):
        np.testing.assert_array_equal(a, b)


def test_flip_needs_flip_indices_for_other_knots():
    results = make_results()
    results['gt_knots'] = np.zeros((3, 15, 2), np.float32)
    with pytest.raises(ValueError, match="15 knots per box but no 'knot_flip_indices'"):
        build(dict(type='ClipRandomFlip', prob=1.0))(results)
    results['knot_flip_indices'] = [0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13]
    results['gt_knots'][:, 3] = [1, 2]  # a "right shoulder" becomes the left one
    out = build(dict(type='ClipRandomFlip', prob=1.0))(results)
    np.testing.assert_allclose(out['gt_knots'][:, 4], [[W - 1, 2]] * 3)


@pytest.mark.parametrize('cfg', [
    dict(scale=(128, 96)),
    dict(scale=50),
    dict(scale=(100, 100), keep_ratio=True),
    dict(scale=(100, 100), keep_ratio=True, letterbox=True),
    dict(scale=(37, 91), keep_ratio=True, letterbox=True),
])
def test_resize_maps_back_by_scale_factor(cfg):
    out = build(dict(type='ClipResize', **cfg))(make_results())
    h, w = out['imgs'][0].shape[:2]
    assert out['img_shape'] == (h, w)
    if cfg.get('letterbox'):
        assert (w, h) == tuple(cfg['scale'])
    np.testing.assert_allclose(to_original(out), BOXES, atol=1e-4)
    np.testing.assert_allclose(out['gt_knots'], box_knots(out['gt_bboxes']), atol=1e-4)
    for img, box in zip(out['imgs'], out['gt_bboxes']):
        np.testing.assert_allclose(bright_box(img), box, atol=1.5)


@pytest.mark.parametrize('seed', range(6))
def test_random_chains_keep_boxes_knots_and_pixels_together(seed):
    """Any order of crop / resize / letterbox / flip: boxes follow the pixels and the
    metainfo maps them back to the original frame."""
    np.random.seed(seed)
    chain = [dict(type='ClipResize', scale=(96, 72)),
             dict(type='ClipRandomFlip', prob=1.0),
             dict(type='ClipResize', scale=(90, 90), keep_ratio=True, letterbox=True),
             dict(type='ClipRandomCrop', size=(88, 88)),
             dict(type='ClipRandomFlip', prob=1.0 if seed % 2 else 0.0)]
    order = np.random.permutation(len(chain))
    results = make_results()
    for i in order:
        results = build(chain[i])(results)
    assert len(results['gt_bboxes']) == 3  # the crops are too small to cut a box
    np.testing.assert_allclose(to_original(results), BOXES, atol=1e-3)
    np.testing.assert_allclose(results['gt_knots'], box_knots(results['gt_bboxes']),
                               atol=1e-3)
    for img, box in zip(results['imgs'], results['gt_bboxes']):
        np.testing.assert_allclose(bright_box(img), box, atol=2.0)


def test_crop_clips_and_drops_vanished_boxes():
    crop = ClipRandomCrop(size=(40, 50))
    with mock.patch.object(ClipRandomCrop, '_sample_origin', return_value=(35, 4)):
        out = crop(make_results())
    assert out['img_shape'] == (50, 40) and out['imgs'][0].shape == (50, 40, 3)
    # box 0 (x 10..30) lies left of the window (x 35..75): dropped with all its rows
    np.testing.assert_array_equal(out['gt_track_ids'], [6, 7])
    np.testing.assert_array_equal(out['gt_labels'], [1, 2])
    np.testing.assert_array_equal(out['gt_frame_inds'], [1, 2])
    np.testing.assert_allclose(out['gt_bboxes'], [[9, 16, 35, 48], [15, 1, 27, 14]])
    assert out['gt_knots'].shape == (2, 4, 2)
    np.testing.assert_allclose(out['pad'], [-35, -4])


def test_color_jitter_is_one_draw_per_clip():
    results = make_results()
    results['imgs'] = [results['imgs'][0]] * 3  # three identical frames
    out = build(dict(type='ClipColorJitter', brightness=0.5, contrast=0.5, saturation=0.5,
                     hue=0.1))(results)
    assert out['imgs'][0].dtype == np.uint8 and out['imgs'][0].shape == (H, W, 3)
    assert not np.array_equal(out['imgs'][0], make_results()['imgs'][0])
    np.testing.assert_array_equal(out['imgs'][0], out['imgs'][2])
    same = build(dict(type='ClipColorJitter', brightness=0, contrast=0, saturation=0,
                      hue=0))(make_results())
    np.testing.assert_array_equal(same['imgs'][1], make_results()['imgs'][1])


def test_pack_ava_style_results():
    """mmaction2's AVADataset results: key-frame boxes, multi-hot labels, proposals."""
    results = make_results()
    for key in ('gt_knots', 'gt_frame_inds', 'gt_track_ids', 'key_frame_index', 'video'):
        results.pop(key)
    results['gt_labels'] = np.eye(3, 5, 1, dtype=np.float32)
    results['entity_ids'] = np.array([3, 4, 5])
    results['proposals'] = BOXES[:2]
    results.update(video_id='vid', timestamp=902, img_key='vid,0902')
    packed = build(dict(type='PackPoint3DInputs'))(results)
    sample = packed['data_samples']
    assert packed['inputs'].shape == (3, 3, H, W) and packed['inputs'].dtype == torch.uint8
    assert sample.gt_instances.labels.dtype == torch.float32
    assert sample.gt_instances.labels.shape == (3, 5)
    assert sample.gt_instances.frame_inds.tolist() == [1, 1, 1]  # the centre frame
    assert sample.gt_instances.track_ids.tolist() == [3, 4, 5]
    np.testing.assert_allclose(sample.gt_instances.knots, box_knots(BOXES))
    assert sample.proposals.bboxes.shape == (2, 4)
    assert 'gt_label' not in sample
    assert sample.metainfo['video'] == 'vid' and sample.metainfo['timestamp'] == 902


def test_pack_clip_without_actors():
    results = make_results()
    for key in ('gt_bboxes', 'gt_labels', 'gt_frame_inds', 'gt_track_ids'):
        results[key] = results[key][:0]
    results.pop('gt_knots')
    results['gt_label'] = 3
    sample = build(dict(type='PackPoint3DInputs'))(results)['data_samples']
    assert len(sample.gt_instances) == 0
    assert sample.gt_instances.bboxes.shape == (0, 4)
    assert sample.gt_instances.knots.shape == (0, 4, 2)
    assert sample.gt_label.tolist() == [3]


def test_repeated_frames_are_distinct_arrays(tmp_path):
    """A clamped clip repeats frames; an in-place transform must not see one array twice."""
    (tmp_path / 'v').mkdir()
    cv2.imwrite(str(tmp_path / 'v' / '00001.jpg'), np.zeros((8, 8, 3), np.uint8))
    results = build(dict(type='LoadClipFrames'))(dict(
        frame_ids=[1, 1, 1], frame_dir=str(tmp_path / 'v'), filename_tmpl='{:05d}.jpg'))
    assert len({id(img) for img in results['imgs']}) == 3
    np.testing.assert_array_equal(results['imgs'][0], results['imgs'][2])
