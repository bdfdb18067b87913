# A CPU-sized Point3D on the synthetic actions (the base of the demo's config,
# point3d_demo_synthetic.py): 128x128 input, T = 8,
# a narrow 1-stack hourglass and a very small ResNet3d-18 3D Head (see
# _base_/models/point3d_tiny.py). Same structure and losses as the paper; the two
# optimizers keep the paper's split with larger learning rates for the short run.
_base_ = [
    './_base_/models/point3d_tiny.py', './_base_/datasets/synthetic_act.py',
    './_base_/schedules/point3d_adam_sgd.py', './_base_/default_runtime.py'
]

model = dict(cls_head=dict(num_classes=6))

optim_wrapper = dict(
    point=dict(optimizer=dict(type='Adam', lr=1e-3)),
    cls=dict(optimizer=dict(type='SGD', lr=1e-2, momentum=0.9, weight_decay=1e-4)))

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[5],
         gamma=0.1)
]
default_hooks = dict(logger=dict(interval=10))

gt_file = 'data/synthetic/synthetic_gt.pkl'
val_evaluator = [
    dict(type='FrameMAP', ann_file=gt_file, split=1, iou_thr=0.5),
    dict(type='VideoMAP', ann_file=gt_file, split=1, iou_thrs=(0.2, 0.5)),
]
test_evaluator = val_evaluator
