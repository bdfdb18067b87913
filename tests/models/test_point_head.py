import math

import pytest
import torch
from mmaction.registry import MODELS
from mmdet.models.losses import GaussianFocalLoss
from mmdet.models.utils import gaussian_radius, gen_gaussian_target
from mmdet.structures.bbox import bbox_overlaps
from mmengine.structures import InstanceData

from point3d_mm.structures.geometry import box_knots

INPUT_HW = (128, 128)
FEAT_HW = (32, 32)  # stride 4

# Several actors per frame; boxes touching the left/top and right/bottom borders, overlapping
# boxes and fractional coordinates.
FRAME_BOXES = [
    [[0.0, 0.0, 30.5, 50.0], [90.2, 60.0, 128.0, 128.0], [40.0, 10.7, 81.3, 100.0]],
    [[0.0, 20.0, 128.0, 128.0], [60.6, 3.0, 75.0, 33.3]],
    [],
    [[5.0, 5.0, 12.0, 14.0]],
]


def make_gt(frame_boxes=FRAME_BOXES, frames_per_clip=2):
    """Per-clip gt_instances (docs/interfaces.md) for the frames of FRAME_BOXES."""
    clips = []
    for start in range(0, len(frame_boxes), frames_per_clip):
        boxes, frames = [], []
        for t, frame in enumerate(frame_boxes[start:start + frames_per_clip]):
            boxes += frame
            frames += [t] * len(frame)
        bboxes = torch.tensor(boxes, dtype=torch.float32).view(-1, 4)
        clips.append(InstanceData(bboxes=bboxes, frame_inds=torch.tensor(frames,
                                                                          dtype=torch.long),
                                  knots=box_knots(bboxes)))
    return clips


def build_head(**kwargs):
    head = MODELS.build(dict(type='PointHead', in_channels=8, feat_channels=8, **kwargs))
    head.init_weights()
    return head


def dense(values, inds, num_frames, channels):
    """Scatter sparse targets (M, C) at flat indices into (N, C, h, w) maps."""
    out = torch.zeros(num_frames * FEAT_HW[0] * FEAT_HW[1], channels)
    out[inds] = values
    return out.view(num_frames, *FEAT_HW, channels).permute(0, 3, 1, 2)


def perfect_outputs(head, targets, num_frames):
    """Head outputs equal to the targets, in the layout of PointHead.forward."""
    outs = [[targets['center_heatmap']],
            [dense(targets['wh'], targets['center_inds'], num_frames, 2)],
            [dense(targets['offset'], targets['center_inds'], num_frames, 2)]]
    if not head.with_kp:
        return outs + [[None], [None], [None]]
    return outs + [[targets['knot_heatmap']],
                   [dense(targets['knot_dist'], targets['center_inds'], num_frames,
                          2 * head.num_knots)],
                   [dense(targets['knot_offset'], targets['knot_inds'], num_frames, 2)]]


def test_forward_shapes_and_switch():
    x = (torch.randn(3, 8, *FEAT_HW), torch.randn(3, 8, *FEAT_HW))
    outs = build_head(num_knots=5)(x)
    assert len(outs) == 6 and all(len(out) == 2 for out in outs)
    shapes = [out[0].shape[1] for out in outs]
    assert shapes == [1, 2, 2, 5, 10, 2]
    assert 0 <= outs[0][0].min() and outs[0][0].max() <= 1  # sigmoid heatmaps

    cp_only = build_head(with_kp=False)
    outs = cp_only(x)
    assert outs[3] == [None, None] and not hasattr(cp_only, 'knot_heatmap_head')
    results = cp_only.predict(x, INPUT_HW)  # decodes the last stack
    assert len(results) == 3 and results[0].bboxes.shape == (100, 4)
    assert 'knots' not in results[0]


@pytest.mark.parametrize('with_kp,fuse_knots', [(True, True), (True, False), (False, False)])
def test_encode_decode_round_trip(with_kp, fuse_knots):
    head = build_head(with_kp=with_kp, test_cfg=dict(fuse_knots=fuse_knots))
    gts = make_gt()
    num_frames = len(FRAME_BOXES)
    targets = head.get_targets(gts, (num_frames, 8, *FEAT_HW), INPUT_HW)
    results = head.predict_by_feat(*perfect_outputs(head, targets, num_frames), INPUT_HW)

    assert len(results) == num_frames
    for frame_boxes, result in zip(FRAME_BOXES, results):
        detected = result[result.scores > 0.5]
        assert len(detected) == len(frame_boxes)
        if not frame_boxes:
            continue
        ious = bbox_overlaps(torch.tensor(frame_boxes), detected.bboxes)
        assert (ious.max(dim=1).values > 0.99).all(), ious
        if with_kp:
            # every knot comes back at its box's edge midpoint
            expected = box_knots(detected.bboxes)
            torch.testing.assert_close(detected.knots, expected, atol=0.05, rtol=0)


def test_heatmap_loss_equals_mmdet_focal_loss_on_mmdet_targets():
    """The whole CP heatmap pipeline (our vectorised targets + loss) against mmdet's per-box
    gen_gaussian_target loop and GaussianFocalLoss, and against the paper's Eq. (1)."""
    torch.manual_seed(0)
    head = build_head()
    gts = make_gt()
    num_frames = len(FRAME_BOXES)
    preds = head(torch.randn(num_frames, 8, *FEAT_HW)[None])
    losses = head.loss_by_feat(*preds, gts, INPUT_HW)

    target = torch.zeros(num_frames, 1, *FEAT_HW)
    for frame, boxes in enumerate(FRAME_BOXES):
        for x1, y1, x2, y2 in boxes:
            w, h = (x2 - x1) / 4, (y2 - y1) / 4
            cx, cy = min(int((x1 + x2) / 8), 31), min(int((y1 + y2) / 8), 31)
            radius = max(0, int(gaussian_radius((h, w), min_overlap=0.7)))
            gen_gaussian_target(target[frame, 0], [cx, cy], radius)
    num_actors = sum(len(boxes) for boxes in FRAME_BOXES)
    pred = preds[0][0]
    expected = GaussianFocalLoss(alpha=2.0, gamma=4.0)(pred, target, avg_factor=num_actors)
    torch.testing.assert_close(losses['loss_center_heatmap'][0], expected)

    # Eq. (1) of the paper, α = 2, β = 4
    pos = target == 1
    eq1 = -(((1 - pred)**2 * pred.log())[pos].sum() +
            ((1 - target)**4 * pred**2 * (1 - pred).log())[~pos].sum()) / num_actors
    torch.testing.assert_close(losses['loss_center_heatmap'][0], eq1, rtol=1e-4, atol=1e-5)


def test_regression_losses_are_paper_weighted_l1():
    torch.manual_seed(0)
    head = build_head()
    gts = make_gt()
    num_frames = len(FRAME_BOXES)
    preds = head(torch.randn(num_frames, 8, *FEAT_HW)[None])
    losses = head.loss_by_feat(*preds, gts, INPUT_HW)
    targets = head.get_targets(gts, preds[0][0].shape, INPUT_HW)
    num_actors = targets['num_actors']

    boxes = torch.tensor([box for frame in FRAME_BOXES for box in frame])
    wh = (boxes[:, 2:] - boxes[:, :2]) / 4
    centers = (boxes[:, :2] + boxes[:, 2:]) / 8
    torch.testing.assert_close(targets['wh'], wh)
    torch.testing.assert_close(targets['offset'], centers - centers.floor().clamp(max=31))

    def gathered(pred, inds):
        return pred.permute(0, 2, 3, 1).reshape(-1, pred.shape[1])[inds]

    center_inds = targets['center_inds']
    expected_wh = 0.1 * (gathered(preds[1][0], center_inds) - wh).abs().sum() / (2 * num_actors)
    torch.testing.assert_close(losses['loss_wh'][0], expected_wh)
    expected_dist = (gathered(preds[4][0], center_inds) -
                     targets['knot_dist']).abs().sum() / (2 * num_actors)
    torch.testing.assert_close(losses['loss_knot_dist'][0], expected_dist)
    assert set(losses) == {'loss_center_heatmap', 'loss_wh', 'loss_offset', 'loss_knot_heatmap',
                           'loss_knot_dist', 'loss_knot_offset'}


def test_invisible_knots_are_ignored():
    """Missing (NaN) knots and knots outside the input get no heatmap peak and no loss."""
    head = build_head()
    bboxes = torch.tensor([[10.0, 10.0, 50.0, 60.0]])
    knots = box_knots(bboxes)
    knots[0, 1] = float('nan')
    knots[0, 3] = torch.tensor([-20.0, 30.0])
    gt = InstanceData(bboxes=bboxes, frame_inds=torch.tensor([0]), knots=knots)
    targets = head.get_targets([gt], (1, 8, *FEAT_HW), INPUT_HW)
    assert targets['knot_inds'].shape == (2, )
    peaks = targets['knot_heatmap'].flatten(2).amax(-1)[0]
    assert peaks.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert targets['knot_dist_weight'].tolist() == [[1, 1, 0, 0, 1, 1, 0, 0]]
    assert targets['knot_dist'].isfinite().all()

    losses = head.loss(torch.randn(1, 8, *FEAT_HW)[None], [gt], INPUT_HW)
    assert all(math.isfinite(loss[0].item()) for loss in losses.values())


def test_no_actor_gives_zero_regression_losses():
    head = build_head()
    gt = InstanceData(bboxes=torch.zeros(0, 4), frame_inds=torch.zeros(0, dtype=torch.long),
                      knots=torch.zeros(0, 4, 2))
    preds = head(torch.randn(2, 8, *FEAT_HW)[None])
    losses = head.loss_by_feat(*preds, [gt], INPUT_HW)
    assert losses['loss_wh'][0].item() == 0 and losses['loss_knot_offset'][0].item() == 0
    assert losses['loss_center_heatmap'][0].item() > 0  # every pixel is a negative


# Joint-like knots: 3 knots per actor (heatmap units, stride 4) and boxes whose sides lie
# beyond the knots' extent by margins that follow one affine law in the extent's width w and
# height h: left 0.1w + 0.5, top 0.2h + 1, right 0.1w + 0.5, bottom 0.25 (heatmap pixels).
LAW = torch.tensor([[0.1, 0.0, 0.1, 0.0],   # a: per unit of w
                    [0.0, 0.2, 0.0, 0.0],   # b: per unit of h
                    [0.5, 1.0, 0.5, 0.25]], dtype=torch.float64)  # c


def joint_actor(x, y, w, h):
    """3 knots spanning (x, y)-(x + w, y + h) (heatmap units) and the box of LAW, both in
    input pixels (stride 4)."""
    knots = torch.tensor([[x + w / 2, y], [x, y + h], [x + w, y + h * 0.75]])
    box = torch.tensor([x - (0.1 * w + 0.5), y - (0.2 * h + 1), x + w + 0.1 * w + 0.5,
                        y + h + 0.25])
    return box * 4, knots * 4


def joint_gt(actors, extra=()):
    """One clip of one frame with the actors (x, y, w, h) and extra (box, knots) rows."""
    rows = [joint_actor(*actor) for actor in actors] + list(extra)
    return InstanceData(bboxes=torch.stack([box for box, _ in rows]),
                        frame_inds=torch.zeros(len(rows), dtype=torch.long),
                        knots=torch.stack([knots for _, knots in rows]))


def test_knot_box_fit_recovers_the_margins_law():
    """The fit solves the least squares of the margins exactly when the ground truth follows
    an affine law; actors with an invisible knot or a box at the border are left out."""
    head = build_head(num_knots=3)
    assert (head.knot_box_coefficients() == 0).all()  # no training step yet
    actors = [(4, 5, 6, 12), (12, 7, 8, 20), (20, 8, 5, 9), (6, 14, 10, 14), (22, 6, 4, 16)]
    nan_knot = joint_actor(10, 10, 6, 6)[1].clone()
    nan_knot[1] = float('nan')
    at_border = (torch.tensor([0., 20., 40., 60.]), joint_actor(1, 6, 8, 8)[1])
    gt = joint_gt(actors, extra=[(torch.tensor([30., 30., 90., 90.]), nan_knot), at_border])
    preds = head(torch.randn(1, 8, *FEAT_HW)[None])
    head.eval()
    head.loss_by_feat(*preds, [gt], INPUT_HW)
    assert head.knot_box_gram[2, 2] == 0  # eval mode: no update
    head.train()
    head.loss_by_feat(*preds, [gt], INPUT_HW)
    assert head.knot_box_gram[2, 2] == len(actors)  # the two extra rows are left out
    torch.testing.assert_close(head.knot_box_coefficients(), LAW, atol=1e-4, rtol=0)
    # a second batch adds to the sums; the law still holds
    head.loss_by_feat(*preds, [joint_gt([(8, 8, 12, 7)])], INPUT_HW)
    assert head.knot_box_gram[2, 2] == len(actors) + 1
    torch.testing.assert_close(head.knot_box_coefficients(), LAW, atol=1e-4, rtol=0)

    # knot box of new knots: extent (2, 3)-(12, 23), w = 10, h = 20 -> margins 1.5, 5, 1.5,
    # 0.25
    knots = torch.tensor([[[2., 10.], [12., 3.], [7., 23.]]])
    torch.testing.assert_close(head.knot_boxes(knots), torch.tensor([[0.5, -2., 13.5, 23.25]]))
    # the fit travels with the checkpoint
    other = build_head(num_knots=3)
    other.load_state_dict(head.state_dict())
    torch.testing.assert_close(other.knot_boxes(knots), head.knot_boxes(knots))


def test_box_knots_fit_to_zero_margins():
    """With the boxes' edge midpoints as knots the extent is the box: the fitted margins are
    0 and the knot box is the knots' extent."""
    head = build_head()
    head.train()
    preds = head(torch.randn(len(FRAME_BOXES), 8, *FEAT_HW)[None])
    gts = make_gt(frames_per_clip=4)
    head.loss_by_feat(*preds, gts, INPUT_HW)
    assert head.knot_box_gram[2, 2] == 2  # the boxes clear of the border
    assert (head.knot_box_coefficients() == 0).all()
    boxes = torch.tensor([[3., 4., 10., 20.]])
    torch.testing.assert_close(head.knot_boxes(box_knots(boxes)), boxes)


@pytest.mark.parametrize('fitted', [True, False])
def test_joint_knots_round_trip_needs_the_fit(fitted):
    """Perfect outputs for joint-like knots decode to the ground-truth boxes with the fitted
    margins; the bare extent of the joints (no fit) pulls the fused box inside."""
    actors = [(4, 5, 6, 12), (20, 8, 5, 9)]
    head = build_head(num_knots=3)
    gt = joint_gt(actors)
    if fitted:
        head.train()
        fit_gt = joint_gt(actors + [(12, 7, 8, 20), (6, 14, 10, 14)])
        head.loss_by_feat(*head(torch.randn(1, 8, *FEAT_HW)[None]), [fit_gt], INPUT_HW)
    head.eval()
    targets = head.get_targets([gt], (1, 8, *FEAT_HW), INPUT_HW)
    result, = head.predict_by_feat(*perfect_outputs(head, targets, 1), INPUT_HW)
    detected = result[result.scores > 0.5]
    assert len(detected) == 2
    ious = bbox_overlaps(gt.bboxes, detected.bboxes).max(dim=1).values
    if fitted:
        assert (ious > 0.99).all(), ious
    else:
        assert (ious < 0.9).all(), ious
    order = bbox_overlaps(gt.bboxes, detected.bboxes).argmax(dim=1)
    torch.testing.assert_close(detected.knots[order], gt.knots, atol=0.05, rtol=0)


def test_knot_count_mismatch_is_one_clear_error():
    head = build_head(num_knots=3)
    gt = InstanceData(bboxes=torch.tensor([[10., 10., 50., 60.]]),
                      frame_inds=torch.tensor([0]), knots=torch.zeros(1, 11, 2))
    with pytest.raises(ValueError, match='11 knots per actor but num_knots=3'):
        head.get_targets([gt], (1, 8, *FEAT_HW), INPUT_HW)
