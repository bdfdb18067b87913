# Point3D on UCF101-24 split 1 (paper Table 1): T = 16, 256x256, HG-104, 12 epochs.
_base_ = [
    './_base_/models/point3d_hg104.py', './_base_/datasets/ucf24.py',
    './_base_/schedules/point3d_adam_sgd.py', './_base_/default_runtime.py'
]

model = dict(cls_head=dict(num_classes=24))

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[8, 11],
         gamma=0.1)
]

# Split 1, as the paper reports; read by the datasets and both evaluators.
split = 1
train_dataloader = dict(dataset=dict(split=split))
val_dataloader = dict(dataset=dict(split=split))
test_dataloader = val_dataloader

gt_file = 'data/ucf24/UCF101v2-GT.pkl'
# Table 1's UCF101-24 columns: video-mAP at 0.1, 0.2, 0.5, 0.75 (and 0.5:0.95, always added).
val_evaluator = [
    dict(type='FrameMAP', ann_file=gt_file, split=split, iou_thr=0.5),
    dict(type='VideoMAP', ann_file=gt_file, split=split, iou_thrs=(0.1, 0.2, 0.5, 0.75)),
]
test_evaluator = val_evaluator
