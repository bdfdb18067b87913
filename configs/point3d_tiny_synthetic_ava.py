# The AVA path on CPU: the tiny Point3D with the RoI 3D head (sigmoid multi-label) on the
# synthetic actions in mmaction2's AVA layout (mmaction2's AVADataset and AVAMetric).
# Make the data with `python tools/data/make_synthetic.py --out data/synthetic`.
_base_ = [
    './_base_/models/point3d_tiny.py', './_base_/datasets/synthetic_ava.py',
    './_base_/schedules/point3d_adam_sgd.py', './_base_/default_runtime.py'
]

model = dict(
    cls_head=dict(
        num_classes=8,  # AVA column 0 (background) + 6 actions + 'occluded'
        pool='roi',
        multilabel=True,
        loss_cls=dict(type='BCELossWithLogits')),
    train_cfg=dict(point_frames='key'),
    test_cfg=dict(frames='key', score_thr=0.01, pred_format='ava'))

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[5],
         gamma=0.1)
]
