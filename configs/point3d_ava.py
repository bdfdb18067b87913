# Point3D on AVA v2.1 (paper Table 2): T = 16, 256x256 letterbox, HG-104, 15 epochs.
# Only key frames are annotated, so the Point Head trains on them alone; the 3D Head
# classifies each actor by RoIAlign on the key-frame boxes (ground truth in training, the
# Point Head's detections in testing) with sigmoid multi-label scores over mmaction2's 81
# AVA columns (0 = background, never positive), scored by mmaction2's AVAMetric.
_base_ = [
    './_base_/models/point3d_hg104.py', './_base_/datasets/ava.py',
    './_base_/schedules/point3d_adam_sgd.py', './_base_/default_runtime.py'
]

model = dict(
    cls_head=dict(
        num_classes=81,
        # keep the last stage at stride 1 (mmaction2's AVA SlowOnly setting): 16x16 RoI maps
        backbone=dict(spatial_strides=(1, 2, 2, 1)),
        pool='roi',
        multilabel=True,
        dropout_ratio=0.5,
        loss_cls=dict(type='BCELossWithLogits')),
    train_cfg=dict(point_frames='key'),
    test_cfg=dict(frames='key', score_thr=0.01, pred_format='ava'))

max_epochs = 15
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[10, 14],
         gamma=0.1)
]
