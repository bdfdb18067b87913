# Point3D on JHMDB-21 (paper Table 1): T = 16, 256x256, HG-104, 20 epochs. The paper averages
# splits 1-3: `split` below is read by the datasets and both evaluators; run another split with
# the --cfg-options that `tools/analysis/average_splits.py --options-for N CONFIG` prints, and
# average the three metrics JSONs with that script (docs/training.md).
_base_ = [
    './_base_/models/point3d_hg104.py', './_base_/datasets/jhmdb.py',
    './_base_/schedules/point3d_adam_sgd.py', './_base_/default_runtime.py'
]

model = dict(cls_head=dict(num_classes=21))

max_epochs = 20
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[13, 18],
         gamma=0.1)
]

split = 1
train_dataloader = dict(dataset=dict(split=split))
val_dataloader = dict(dataset=dict(split=split))
test_dataloader = val_dataloader

gt_file = 'data/jhmdb/JHMDB-GT.pkl'
val_evaluator = [
    dict(type='FrameMAP', ann_file=gt_file, split=split, iou_thr=0.5),
    dict(type='VideoMAP', ann_file=gt_file, split=split, iou_thrs=(0.2, 0.5, 0.75)),
]
test_evaluator = val_evaluator
